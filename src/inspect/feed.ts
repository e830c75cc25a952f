/**
 * The live feed: commits and delivered watch events as Server-Sent Events.
 *
 *   event: hello   data: {"revision": N}                      (on connecting)
 *   event: commit  data: {"revision", "time", "domid", "conn", "op", "txId",
 *                         "paths": [...], "pathCount", "effects": [...]}
 *   event: watch   data: {"conn", "domid", "kind", "path", "token"}
 *   event: lost    data: {"events": N}                         (a burst was cut short)
 *
 * Nothing is done for a commit or an event while no client listens.
 * Messages are gathered and written once per turn of the event loop, at
 * most MAX_BATCH of them (the rest are counted as lost). Bounded: at most
 * MAX_CLIENTS clients; a client whose unsent output passes MAX_BUFFERED
 * bytes is dropped, not buffered for (its EventSource reconnects).
 */
import type { ServerResponse } from "node:http";
import type { CommitRecord } from "../store/store.js";
import { bytes, effectText } from "./encode.js";
import type { DeliveredEvent } from "./source.js";
import type { FeedCommit, FeedWatch } from "./wire.js";

export const FEED_LIMITS = {
  clients: 16,
  /** Unsent bytes a client may fall behind by before it is dropped. */
  buffered: 1024 * 1024,
  /** Messages written per turn of the event loop. */
  batch: 2000,
  /** Changed paths named per commit. */
  paths: 32,
  /** A comment line this often keeps proxies and the browser from timing out. */
  keepAliveMs: 15_000,
} as const;

export interface FeedOptions {
  clients?: number;
  buffered?: number;
  log?: (line: string) => void;
}

export class Feed {
  private readonly clients = new Set<ServerResponse>();
  private pending: string[] = [];
  private lost = 0;
  private scheduled = false;
  private keepAlive: NodeJS.Timeout | null = null;
  readonly maxClients: number;
  private readonly maxBuffered: number;
  private readonly log: (line: string) => void;
  /** Clients dropped for falling behind (tests, diagnostics). */
  dropped = 0;

  constructor(opts: FeedOptions = {}) {
    this.maxClients = opts.clients ?? FEED_LIMITS.clients;
    this.maxBuffered = opts.buffered ?? FEED_LIMITS.buffered;
    this.log = opts.log ?? (() => {});
  }

  get size(): number {
    return this.clients.size;
  }

  /** Take a client (false: too many already). */
  add(res: ServerResponse, revision: number): boolean {
    if (this.clients.size >= this.maxClients) return false;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-content-type-options": "nosniff",
    });
    res.write(`retry: 2000\n\nevent: hello\ndata: ${JSON.stringify({ revision })}\n\n`);
    this.clients.add(res);
    // A client gone mid-write is noticed by "close"; its write errors are no one's concern.
    res.on("error", () => undefined);
    res.once("close", () => this.remove(res));
    this.keepAlive ??= setInterval(() => this.send(": keep-alive\n\n"), FEED_LIMITS.keepAliveMs).unref();
    return true;
  }

  private remove(res: ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size === 0 && this.keepAlive) {
      clearInterval(this.keepAlive);
      this.keepAlive = null;
    }
  }

  commit(r: CommitRecord): void {
    if (this.clients.size === 0) return;
    const paths: string[] = [];
    let count = 0;
    const seen = r.changes.length > 1 ? new Set<string>() : null;
    for (const c of r.changes) {
      if (seen) {
        if (seen.has(c.path)) continue;
        seen.add(c.path);
      }
      if (count++ < FEED_LIMITS.paths) paths.push(c.path);
    }
    const message: FeedCommit = {
      revision: r.revision,
      time: r.time,
      domid: r.domid,
      conn: r.conn,
      op: r.op,
      txId: r.txId,
      paths,
      pathCount: count,
      effects: r.effects.map(effectText),
    };
    this.queue("commit", message);
  }

  watch(e: DeliveredEvent): void {
    if (this.clients.size === 0) return;
    const message: FeedWatch = { conn: e.conn, domid: e.domid, kind: e.kind, path: bytes(e.path), token: bytes(e.token) };
    this.queue("watch", message);
  }

  private queue(event: string, data: object): void {
    if (this.pending.length >= FEED_LIMITS.batch) {
      this.lost++;
      return;
    }
    this.pending.push(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    let text = this.pending.join("");
    this.pending = [];
    if (this.lost) {
      text += `event: lost\ndata: ${JSON.stringify({ events: this.lost })}\n\n`;
      this.lost = 0;
    }
    this.send(text);
  }

  private send(text: string): void {
    const size = Buffer.byteLength(text);
    for (const res of this.clients) {
      if (res.destroyed) {
        this.remove(res);
        continue;
      }
      // A client that does not read falls behind: drop it rather than buffer for it.
      if (res.writableLength + size > this.maxBuffered) {
        this.dropped++;
        this.log(`inspector: live feed client dropped: ${res.writableLength} bytes unsent`);
        this.clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(text);
    }
    if (this.clients.size === 0 && this.keepAlive) {
      clearInterval(this.keepAlive);
      this.keepAlive = null;
    }
  }

  /** End every client's stream (shutdown). */
  close(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
  }
}
