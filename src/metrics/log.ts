/**
 * The structured log (`--log-file PATH|-`, `--log-level`): one JSON line
 * per notable event, next to the cx-format trace (-T), written by pino:
 *
 *   {"level":"info","time":"2026-12-07T06:00:00.000Z","domid":5,"mfn":"0","port":3,"conn":1,"event":"domain-introduced"}
 *
 * `level` and `event` name the line, `time` is ISO 8601 (UTC), the rest
 * are the event's fields. Lines are written synchronously (an event is
 * rare; a line is on disk before the daemon goes on, even if it is killed
 * next), and the file is reopened on SIGHUP for rotation. A quota hit is
 * logged at most once per domain and quota every 10 seconds; the next line
 * says how many were left out (`suppressed`). Nothing is logged on the
 * request path.
 */
import { pino, type Logger } from "pino";
import type { NoticeLevel, Notice, Notices } from "../util/notices.js";

/** Quota hits per domain and quota: one line per interval at most. */
const QUOTA_LOG_INTERVAL_MS = 10_000;

export class JsonLog {
  private readonly dest: ReturnType<typeof pino.destination>;
  private readonly logger: Logger;
  private readonly quotaLogged = new Map<string, { at: number; suppressed: number }>();

  /** `file`: a path, or "-" for stderr. */
  constructor(
    readonly file: string,
    readonly level: NoticeLevel,
    private readonly now: () => number = Date.now,
  ) {
    this.dest = file === "-" ? pino.destination({ dest: 2, sync: true }) : pino.destination({ dest: file, sync: true, append: true, mode: 0o640 });
    this.logger = pino(
      {
        level,
        base: null,
        messageKey: "event",
        timestamp: () => `,"time":"${new Date(this.now()).toISOString()}"`,
        formatters: { level: (label) => ({ level: label }) },
      },
      this.dest,
    );
  }

  /** Log the notices of our level and above. */
  attach(notices: Notices): void {
    notices.on((n) => this.write(n), this.level);
  }

  write(n: Notice): void {
    let fields = n.fields;
    if (n.event === "quota-hit") {
      const key = `${String(fields.domid)}/${String(fields.quota)}/${String(fields.kind)}`;
      const t = this.now();
      const seen = this.quotaLogged.get(key);
      if (seen && t - seen.at < QUOTA_LOG_INTERVAL_MS) {
        seen.suppressed++;
        return;
      }
      this.quotaLogged.set(key, { at: t, suppressed: 0 });
      if (seen?.suppressed) fields = { ...fields, suppressed: seen.suppressed };
    } else if (n.event === "domain-released") {
      for (const k of this.quotaLogged.keys()) if (k.startsWith(`${String(n.fields.domid)}/`)) this.quotaLogged.delete(k);
    }
    this.logger[n.level](fields, n.event);
  }

  /** SIGHUP: reopen the file (log rotation). */
  reopen(): void {
    if (this.file !== "-") this.dest.reopen();
  }

  close(): void {
    if (this.file !== "-") this.dest.end();
  }
}
