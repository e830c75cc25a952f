/**
 * Command-line options, compatible with C xenstored's (so `XENSTORED=` in
 * xencommons can point at us with the same XENSTORED_ARGS), plus our own
 * long options. Parsing uses Node's `util.parseArgs`.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { REL_PATH_MAX } from "../protocol/messages.js";
import { parseInspectAddress, type InspectAddress } from "../inspect/address.js";
import { MetricsAddressError, parseMetricsAddress, type MetricsAddress } from "../metrics/address.js";
import { parseQuotaName, Quotas, type QuotaKind } from "../quota/quotas.js";
import { isLogLevel, type NoticeLevel } from "../util/notices.js";
import { parseCount } from "../util/cparse.js";
import { IDLE_POLL_MAX_US, IDLE_POLL_US } from "../system/idle-poll.js";
import type { SocketIo } from "../transport/listeners.js";

/** Guests the warm-up creates by default (src/daemon/warmup.ts): enough for the JIT, a few hundred ms. */
export const WARM_UP_GUESTS = 300;

export interface DaemonOptions {
  foreground: boolean;
  pidFile: string | null;
  traceFile: string | null;
  verbose: boolean;
  outputPid: boolean;
  keepOrphans: boolean;
  privDomid: number;
  masterDomid: number;
  quotas: Quotas;
  /** Seconds an unsent watch event to an unprivileged domain is kept before it is dropped (cx -w watch-event). */
  watchEventTimeout: number;
  /** -D: do not use the hypervisor (socket clients only, domains emulated), as cx without domain_init. */
  noDomainInit: boolean;
  /** Serve the emulated Xen host in this directory (created if missing) instead of real Xen. */
  emulate: string | null;
  domains: string | null;
  domainsFile: string | null;
  socketPath: string;
  roSocketPath: string | null;
  rundir: string;
  /** How commits are made durable: `log` (written before the reply), `sync` (fsync'd, group commit), `off` (memory only). */
  durability: "log" | "sync" | "off";
  /** Where the journal and snapshots live (default <rundir>/state, or <emulate dir>/state). */
  stateDir: string;
  /** Serve the read-only inspector page here (--inspect); null: off. */
  inspect: InspectAddress | null;
  /** Serve Prometheus metrics here (off: null). */
  metrics: MetricsAddress | null;
  /** The structured (JSON lines) log: a path, "-" for stderr, or null (off). */
  logFile: string | null;
  logLevel: NoticeLevel;
  /** Guests a scratch daemon creates and destroys before the sockets accept, to warm the JIT (0: none). */
  warmUp: number;
  /** Microseconds the event loop polls before waiting, during bursts of requests (0: off). */
  idlePoll: number;
  /** How the dom0 sockets are served: native/unix-stream.c, or node:net. */
  socketIo: SocketIo;
}

export interface UnitRequest {
  /** Write the units into this directory instead of printing them. */
  prefix: string | null;
  rundir: string;
}

export class UsageError extends Error {}

export const USAGE = `Usage:

  tsxenstored <options>

where options may include:

  -D, --no-domain-init    to state that xenstored should not initialise the
                          hypervisor interface (no rings: socket clients only,
                          domains emulated as without Xen),
  -F, --pid-file <file>   giving a file for the daemon's pid to be written,
  -H, --help              to output this message,
  -N, --no-fork           to request that the daemon does not fork,
  -P, --output-pid        to request that the pid of the daemon is output,
  -T, --trace-file <file> giving the file for logging, and
  -E, --entry-nb <nb>     limit the number of entries per domain,
  -S, --entry-size <size> limit the size of entry per domain, and
  -W, --watch-nb <nb>     limit the number of watches per domain,
  -t, --transaction <nb>  limit the number of transaction allowed per domain,
  -A, --perm-nb <nb>      limit the number of permissions per node,
  -M, --path-max <chars>  limit the allowed Xenstore node path length,
  -Q, --quota <what>=<nb> set the quota <what> to the value <nb>, allowed
                          quotas are: nodes, watches, outstanding, memory,
                          transactions, transaction-nodes, node-permissions,
                          path-max, node-size
  -q, --quota-soft <what>=<nb> set a soft quota <what> to the value <nb>,
                          causing a warning if the limit is violated; allowed
                          quotas are: memory
  -w, --timeout <what>=<seconds>   set the timeout in seconds for <what>,
                          allowed timeout candidates are:
                          watch-event: time a watch-event is kept pending
  -R, --no-recovery       accepted for compatibility,
  -I, --internal-db [on|off] accepted for compatibility,
  -K, --keep-orphans      don't delete nodes owned by a domain when the
                          domain is deleted (this is a security risk!)
  -p, --priv-domid <id>   an additional privileged (control) domain,
  -m, --master-domid <id> the domain xenstored belongs to (default 0),
  -e, --event <port>      accepted for compatibility,
  -V, --verbose           to request verbose execution.

tsxenstored options:
      --print-units       print systemd units (service, socket, read-only
                          socket) for this installation and exit
      --prefix <dir>      with --print-units: write them into <dir> instead
      --emulate <dir>     serve the emulated Xen host in <dir> (created if
                          missing): guests made with tsxs-guest, real rings and
                          event channels, no hypervisor; the socket defaults
                          to <dir>/socket
      --domains <list>    without Xen: domids the emulated domain table reports
                          as existing, e.g. "0-1023" (default: every domid
                          below 32752); implies -D on a Xen host
      --domains-file <f>  the same list read from a file at every query
      --durability <mode> how a change is kept before it is acknowledged:
                          log (default: written to the journal, so a daemon
                          crash loses nothing), sync (also on the disk, one
                          fsync shared by the changes made meanwhile), off
                          (memory only, as cx)
      --state-dir <dir>   the journal and snapshots (default
                          $XENSTORED_RUNDIR/state: a tmpfs on Xen hosts, so a
                          restarted daemon carries on where it stopped while a
                          rebooted host starts empty)
      --inspect <addr>    serve the read-only inspector web page (tree,
                          domains, live feed, history) on <addr>: a Unix
                          socket path (with a "/") or HOST:PORT with HOST
                          127.0.0.1, ::1 or localhost only (off by default)
      --metrics <addr>    serve Prometheus metrics (HTTP GET /metrics) on a
                          Unix socket (a path containing /) or on loopback
                          (127.0.0.1:PORT, [::1]:PORT, localhost:PORT); off by
                          default
      --log-file <file>   a structured log, one JSON line per notable event
                          (domains introduced and released, quota hits,
                          connections cut off, start, stop, recovery); - for
                          stderr; reopened on SIGHUP
      --log-level <level> error, warn, info (default) or debug
      --warm-up <n>       before accepting clients, create and destroy <n>
                          guests (default ${WARM_UP_GUESTS}) on a scratch store
                          of its own, so that the first guests of a host's
                          boot meet compiled code (a few hundred ms at start);
                          0 to start at once
      --idle-poll <us>    during a burst of requests, poll for up to <us>
                          microseconds (default ${IDLE_POLL_US}, at most ${IDLE_POLL_MAX_US})
                          for the next request before the CPU is let go
                          idle, so that it is not woken for each request;
                          never while the daemon may run on one CPU only;
                          0 turns it off
      --socket-io <io>    how the Unix sockets are served: native (default:
                          accepted, read and written by the daemon's own C
                          addon, one callback per event-loop turn for all
                          clients) or node (Node.js's net module); native
                          falls back to node where the addon is not built

On a Xen host (/proc/xen/capabilities and /dev/xen/evtchn present) the
daemon serves dom0's kernel ring and every introduced guest's ring; without
Xen it serves socket clients only, and says so at start.

Without -N the daemon detaches and the command returns once it is ready
(sockets accepting, pid file written). Under systemd, sockets passed by
socket activation are used instead of creating them, and readiness is
reported with sd_notify.

Environment: XENSTORED_RUNDIR (default /var/run/xenstored) holds "socket"
and "socket_ro"; XENSTORED_PATH overrides the read-write socket's path.
`;

function int(name: string, v: string): number {
  const n = parseCount(v);
  if (n === null) throw new UsageError(`invalid parameter value "${v}" for ${name}`);
  return n;
}

/** `-Q name=value` / `-q name=value` (also `soft-name`, and cx's label `permissions`). */
function quotaOption(quotas: Quotas, arg: string, kind: QuotaKind): void {
  const eq = arg.indexOf("=");
  if (eq < 0) throw new UsageError("quotas must be specified via <what>=<nb>");
  const q = parseQuotaName(arg.slice(0, eq), kind, true);
  if (!q) throw new UsageError(`unknown quota "${arg.slice(0, eq)}"`);
  const text = arg.slice(eq + 1);
  const value = parseCount(text);
  if (value === null) throw new UsageError(`invalid parameter value "${text}"`);
  quotas.set(q.name, value, null, q.kind);
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): DaemonOptions | "help" | UnitRequest {
  // -I/--internal-db takes an optional argument, which parseArgs cannot express.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === "-I" || a === "--internal-db") && (argv[i + 1] === "on" || argv[i + 1] === "off")) i++;
    if (a.startsWith("--internal-db=")) continue;
    args.push(a === "--internal-db" ? "-I" : a);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        "no-domain-init": { type: "boolean", short: "D" },
        "entry-nb": { type: "string", short: "E" },
        "pid-file": { type: "string", short: "F" },
        event: { type: "string", short: "e" },
        "master-domid": { type: "string", short: "m" },
        help: { type: "boolean", short: "H" },
        "no-fork": { type: "boolean", short: "N" },
        "priv-domid": { type: "string", short: "p" },
        "output-pid": { type: "boolean", short: "P" },
        "entry-size": { type: "string", short: "S" },
        "trace-file": { type: "string", short: "T" },
        transaction: { type: "string", short: "t" },
        "perm-nb": { type: "string", short: "A" },
        "path-max": { type: "string", short: "M" },
        quota: { type: "string", short: "Q", multiple: true },
        "quota-soft": { type: "string", short: "q", multiple: true },
        timeout: { type: "string", short: "w", multiple: true },
        "no-recovery": { type: "boolean", short: "R" },
        "internal-db": { type: "boolean", short: "I" },
        "keep-orphans": { type: "boolean", short: "K" },
        verbose: { type: "boolean", short: "V" },
        "watch-nb": { type: "string", short: "W" },
        "live-update": { type: "boolean", short: "U" },
        domains: { type: "string" },
        emulate: { type: "string" },
        "domains-file": { type: "string" },
        durability: { type: "string" },
        "state-dir": { type: "string" },
        inspect: { type: "string" },
        "print-units": { type: "boolean" },
        metrics: { type: "string" },
        "log-file": { type: "string" },
        "log-level": { type: "string" },
        "warm-up": { type: "string" },
        "idle-poll": { type: "string" },
        "socket-io": { type: "string" },
        prefix: { type: "string" },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) return "help";
  if (parsed.positionals.length) throw new UsageError("No arguments desired");
  if (v["live-update"]) throw new UsageError("live update (-U) is not supported yet");

  const quotas = new Quotas();
  if (v["entry-nb"] !== undefined) quotas.set("nodes", int("-E", v["entry-nb"]));
  if (v["entry-size"] !== undefined) quotas.set("node-size", int("-S", v["entry-size"]));
  if (v["watch-nb"] !== undefined) quotas.set("watches", int("-W", v["watch-nb"]));
  if (v.transaction !== undefined) quotas.set("transactions", int("-t", v.transaction));
  if (v["perm-nb"] !== undefined) quotas.set("node-permissions", int("-A", v["perm-nb"]));
  if (v["path-max"] !== undefined) quotas.set("path-max", Math.min(REL_PATH_MAX, int("-M", v["path-max"])));
  for (const q of v.quota ?? []) quotaOption(quotas, q, "hard");
  for (const q of v["quota-soft"] ?? []) quotaOption(quotas, q, "soft");
  let watchEventTimeout = 20;
  for (const t of v.timeout ?? []) {
    const eq = t.indexOf("=");
    if (eq < 0) throw new UsageError("timeouts must be specified via <what>=<seconds>");
    if (t.slice(0, eq) !== "watch-event") throw new UsageError(`unknown timeout "${t}"`);
    watchEventTimeout = int("-w", t.slice(eq + 1));
  }

  // Every path is made absolute now: the daemon changes to / once detached.
  const rundir = resolve(env.XENSTORED_RUNDIR || "/var/run/xenstored");
  if (v["print-units"]) return { prefix: v.prefix ?? null, rundir };
  if (v.prefix !== undefined) throw new UsageError("--prefix only goes with --print-units");
  const emulate = v.emulate !== undefined ? resolve(v.emulate) : null;
  if (emulate && (v.domains !== undefined || v["domains-file"] !== undefined)) throw new UsageError("--emulate has its own domain table: no --domains with it");
  const socketPath = resolve(env.XENSTORED_PATH || (emulate ? `${emulate}/socket` : `${rundir}/socket`));
  const durability = v.durability ?? "log";
  if (durability !== "log" && durability !== "sync" && durability !== "off") throw new UsageError(`unknown durability "${durability}" (log, sync or off)`);
  let inspect: InspectAddress | null = null;
  if (v.inspect !== undefined) {
    const a = parseInspectAddress(v.inspect);
    if (typeof a === "string") throw new UsageError(`--inspect: ${a}`);
    inspect = a;
  }
  let metrics: MetricsAddress | null = null;
  try {
    if (v.metrics !== undefined) metrics = parseMetricsAddress(v.metrics);
  } catch (e) {
    if (e instanceof MetricsAddressError) throw new UsageError(e.message);
    throw e;
  }
  const logLevel = v["log-level"] ?? "info";
  if (!isLogLevel(logLevel)) throw new UsageError(`unknown log level "${logLevel}" (error, warn, info or debug)`);
  if (v["log-level"] !== undefined && v["log-file"] === undefined) throw new UsageError("--log-level goes with --log-file");
  const idlePoll = v["idle-poll"] !== undefined ? int("--idle-poll", v["idle-poll"]) : IDLE_POLL_US;
  if (idlePoll > IDLE_POLL_MAX_US) throw new UsageError(`--idle-poll: at most ${IDLE_POLL_MAX_US} microseconds`);
  const socketIo = v["socket-io"] ?? "native";
  if (socketIo !== "native" && socketIo !== "node") throw new UsageError(`--socket-io: "native" or "node", not "${socketIo}"`);
  const logFile = v["log-file"] === undefined ? null : v["log-file"] === "-" ? "-" : resolve(v["log-file"]);
  return {
    foreground: v["no-fork"] ?? false,
    pidFile: v["pid-file"] !== undefined ? resolve(v["pid-file"]) : null,
    traceFile: v["trace-file"] !== undefined ? resolve(v["trace-file"]) : null,
    verbose: v.verbose ?? false,
    outputPid: v["output-pid"] ?? false,
    keepOrphans: v["keep-orphans"] ?? false,
    privDomid: v["priv-domid"] !== undefined ? int("-p", v["priv-domid"]) : 0,
    masterDomid: v["master-domid"] !== undefined ? int("-m", v["master-domid"]) : 0,
    quotas,
    watchEventTimeout,
    noDomainInit: v["no-domain-init"] ?? false,
    emulate,
    domains: v.domains ?? null,
    domainsFile: v["domains-file"] !== undefined ? resolve(v["domains-file"]) : null,
    socketPath,
    // Beside the read-write socket: <rundir>/socket_ro by default.
    roSocketPath: `${socketPath}_ro`,
    rundir,
    durability,
    stateDir: resolve(v["state-dir"] ?? (emulate ? `${emulate}/state` : `${rundir}/state`)),
    inspect,
    metrics,
    logFile,
    logLevel,
    warmUp: v["warm-up"] !== undefined ? int("--warm-up", v["warm-up"]) : WARM_UP_GUESTS,
    idlePoll,
    socketIo,
  };
}
