/**
 * `tsxs top`: a live view of the daemon, over the wire (CONTROL stats), so
 * it works wherever xenstore-control does:
 *
 *   tsxs top [--interval SECONDS] [--once [--json]]
 *
 * Each frame shows the totals (requests and requests per second, commits,
 * conflicts, watch events, connections) and a row per domain: nodes,
 * watches and memory against the domain's quotas, replies and events
 * outstanding, open transactions, transactions that ended with EAGAIN, and
 * requests per second. Rates come from two samples; the requests tsxs top
 * itself makes are left out of them. On a terminal the frame is redrawn
 * every interval (1 s) until `q` or Ctrl-C; otherwise frames follow one
 * another. `--once` prints one frame (taken over one interval) and exits;
 * with `--json`, the daemon's figures as they are, at once.
 *
 * Exit status: 0, 1 when the daemon cannot be reached or refuses, 2 for bad usage.
 */
import { parseArgs } from "node:util";
import type { XenStoreClient } from "../client/client.js";
import { reachDaemon } from "./common.js";
import { XsError } from "../protocol/messages.js";

const USAGE = `Usage:
  tsxs top [--interval SECONDS] [--once [--json]]
A live view of the daemon, redrawn every interval (default 1 s); q or Ctrl-C quits.
  --once   print one frame and exit (with --json: the daemon's figures, as JSON)
`;

export interface Quota {
  nodes: number;
  watches: number;
  memory: number;
  outstanding: number;
  transactions: number;
}

/** One domain's row, as CONTROL stats sends it (its quota filled in from the global ones). */
export interface DomainRow {
  domid: number;
  introduced: boolean;
  privileged: boolean;
  nodes: number;
  watches: number;
  memory: number;
  outstanding: number;
  transactions: number;
  conflicts: number;
  requests: number;
  quota: Quota;
}

/** The daemon's figures, as CONTROL stats sends them, all pages joined. */
export interface Stats {
  time: number;
  started: number;
  revision: number;
  nodes: number;
  requests: number;
  commits: number;
  conflicts: number;
  events: number;
  eventsDropped: number;
  cutOff: number;
  ringFull: number;
  memoryStalls: number;
  connections: { socket: number; domain: number };
  watches: number;
  transactions: number;
  history: { oldest: number; newest: number; revisions: number; bytes: number };
  quotas: Quota;
  domains: DomainRow[];
}

/** A sample: the figures, and how many requests taking it cost (our own, left out of the rates). */
export interface Sample {
  stats: Stats;
  /** Requests made for this sample after the first (the first is counted in `stats`). */
  extra: number;
  /** When it was taken (ms, monotonic). */
  at: number;
}

class UsageError extends Error {}

interface Page extends Omit<Stats, "domains"> {
  domains: (Omit<DomainRow, "quota"> & { quota?: Quota })[];
  more?: { after: number };
}

/** Ask for the figures, following the pages. */
export async function sample(client: XenStoreClient, now: () => number = () => performance.now()): Promise<Sample> {
  let first: Page | null = null;
  const rows: DomainRow[] = [];
  let after: number | null = null;
  let pages = 0;
  for (;;) {
    const page = JSON.parse(await client.control("stats", ...(after === null ? [] : ["--after", String(after)]))) as Page;
    pages++;
    first ??= page;
    for (const d of page.domains) rows.push({ ...d, quota: d.quota ?? first.quotas });
    if (!page.more) break;
    if (after !== null && page.more.after <= after) throw new Error("the daemon repeated a continuation");
    after = page.more.after;
  }
  const { more: _more, ...head } = first;
  return { stats: { ...head, domains: rows }, extra: pages - 1, at: now() };
}

/** Bytes, shortly: 169 B, 1.2 KiB, 2.5 MiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}

/** `used/quota`, the quota `-` when there is none. */
function against(used: string, quota: number, show: (n: number) => string = String): string {
  return `${used}/${quota === 0 ? "-" : show(quota)}`;
}

function rate(delta: number, ms: number): string {
  return ms > 0 ? (Math.max(0, delta) / (ms / 1000)).toFixed(1) : "-";
}

const COLUMNS = ["DOMID", "NODES", "WATCHES", "MEMORY", "OUTST", "TX", "EAGAIN", "REQ/S"] as const;
const LEFT = new Set(["NODES", "WATCHES", "MEMORY"]);

/**
 * One frame: `cur`, with rates since `prev` (none without it). `selfDomid`:
 * the domain our own requests are counted under (a socket client's: 0).
 * `maxRows`: domain rows at most (the rest summed up in a last line).
 */
export function renderFrame(prev: Sample | null, cur: Sample, selfDomid = 0, maxRows = Infinity): string {
  const s = cur.stats;
  const ms = prev ? cur.at - prev.at : 0;
  // Our own requests between the two: the rest of prev's pages, and cur's first.
  const own = prev ? prev.extra + 1 : 0;
  const total = prev ? rate(s.requests - prev.stats.requests - own, ms) : "-";
  const lines = [
    `tsxenstored  revision ${s.revision}  nodes ${s.nodes}  connections ${s.connections.socket + s.connections.domain} (${s.connections.socket} socket, ${s.connections.domain} domain)  watches ${s.watches}  transactions ${s.transactions}`,
    `requests ${s.requests} (${total}/s)  commits ${s.commits}  conflicts ${s.conflicts}  events ${s.events} sent, ${s.eventsDropped} dropped  cut off ${s.cutOff}  stalls ${s.ringFull} ring, ${s.memoryStalls} memory`,
    `history r${s.history.oldest}..r${s.history.newest} (${s.history.revisions} commits, ~${bytes(s.history.bytes)})`,
    "",
  ];
  const before = new Map((prev?.stats.domains ?? []).map((d) => [d.domid, d]));
  const table: string[][] = [];
  for (const d of s.domains) {
    const p = before.get(d.domid);
    const req = p ? rate(d.requests - p.requests - (d.domid === selfDomid ? own : 0), ms) : "-";
    table.push([
      String(d.domid),
      against(String(d.nodes), d.quota.nodes),
      against(String(d.watches), d.quota.watches),
      against(bytes(d.memory), d.quota.memory, bytes),
      String(d.outstanding),
      String(d.transactions),
      String(d.conflicts),
      req,
    ]);
  }
  const shown = table.length > maxRows ? table.slice(0, Math.max(0, maxRows - 1)) : table;
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...shown.map((r) => r[i]!.length)));
  const row = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (LEFT.has(COLUMNS[i]!) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  lines.push(row(COLUMNS));
  for (const r of shown) lines.push(row(r));
  if (shown.length < table.length) lines.push(`... ${table.length - shown.length} more domains`);
  return `${lines.join("\n")}\n`;
}

interface TopOptions {
  once: boolean;
  json: boolean;
  intervalMs: number;
}

function parse(argv: readonly string[]): TopOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { once: { type: "boolean" }, json: { type: "boolean" }, interval: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: false,
      strict: true,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) throw new UsageError();
  if (values.json && !values.once) throw new UsageError("--json goes with --once");
  const seconds = values.interval === undefined ? 1 : Number(values.interval);
  if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 3600) throw new UsageError(`bad interval "${values.interval}" (seconds, 0.1 to 3600)`);
  return { once: values.once ?? false, json: values.json ?? false, intervalMs: Math.round(seconds * 1000) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Redraw until q or Ctrl-C (on a terminal), or for ever (frames one after another). */
async function live(client: XenStoreClient, opts: TopOptions, out: NodeJS.WriteStream): Promise<void> {
  const tty = out.isTTY === true;
  let quit = false;
  let wake: (() => void) | null = null;
  const stop = (): void => {
    quit = true;
    wake?.();
  };
  const stdin = process.stdin;
  const keys = (d: Buffer): void => {
    if (d.includes(0x71) || d.includes(0x51) || d.includes(0x03)) stop();
  };
  if (tty && stdin.isTTY) {
    stdin.setRawMode(true);
    stdin.on("data", keys);
    stdin.resume();
  }
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    let prev = await sample(client);
    if (tty) out.write(`\x1b[H\x1b[2J${renderFrame(null, prev, 0, (out.rows ?? 24) - 5)}`);
    while (!quit) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, opts.intervalMs);
      });
      wake = null;
      if (quit) break;
      const cur = await sample(client);
      const frame = renderFrame(prev, cur, 0, tty ? (out.rows ?? 24) - 5 : Infinity);
      out.write(tty ? `\x1b[H\x1b[2J${frame}` : `${frame}\n`);
      prev = cur;
    }
  } finally {
    process.removeListener("SIGINT", stop);
    process.removeListener("SIGTERM", stop);
    if (tty && stdin.isTTY) {
      stdin.setRawMode(false);
      stdin.removeListener("data", keys);
      stdin.pause();
    }
  }
}

export async function runTop(argv: string[], out: NodeJS.WriteStream = process.stdout): Promise<number> {
  let opts: TopOptions;
  try {
    opts = parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message ? `tsxs top: ${e.message}\n` : ""}${USAGE}`);
    return e.message ? 2 : 0;
  }
  const client = await reachDaemon();
  if (!client) return 1;
  try {
    if (opts.once && opts.json) {
      out.write(`${JSON.stringify((await sample(client)).stats, null, 2)}\n`);
    } else if (opts.once) {
      const first = await sample(client);
      await sleep(opts.intervalMs);
      out.write(renderFrame(first, await sample(client)));
    } else {
      await live(client, opts, out);
    }
    return 0;
  } catch (e) {
    const message = e instanceof XsError ? `the daemon answered ${e.errno}${e.errno === "EINVAL" ? " (does it have CONTROL stats?)" : ""}` : (e as Error).message;
    process.stderr.write(`tsxs top: ${message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
