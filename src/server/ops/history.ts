/**
 * CONTROL history (`xenstore-control history ...`): the store's retained
 * history (src/history) in replies of one packet each.
 *
 *   history log [PATH] [--since T] [--domain N] [--before REV] [--limit N]
 *   history diff REV1 REV2 [PATH] [--after PATH]
 *   history show REV PATH [--skip N]
 *   history export FILE
 *   history info
 *
 * Replies are text, one item a line, or with `--json` one JSON object. A
 * reply holds as many whole items as fit in a packet (PAYLOAD_MAX); when
 * more remain, its last line is `more: ARGS` (JSON: a "more" object), and
 * the same command with ARGS added continues where it stopped. An item that
 * alone does not fit is shortened: a commit lists fewer changes, a value is
 * cut (`"abc"...`, JSON `"truncated": true`). Values are quoted with C
 * escapes in text; JSON is plain ASCII, a value's bytes being the
 * characters U+0000 to U+00FF. Each reply is computed at once on the
 * daemon's one thread, so each does bounded work: a log examines at most
 * SCAN_MAX commits (then answers `more:`), a diff stops when its page is full.
 */
import { isAbsolute } from "node:path";
import { parseArgs } from "node:util";
import { NotRetained, changesUnder, matches, type History, type HistoryCommit, type LogQuery } from "../../history/history.js";
import type { DiffEntry } from "../../history/diff.js";
import { permStrings } from "../../history/perms.js";
import { PAYLOAD_MAX } from "../../protocol/messages.js";
import type { ChangeEntry, NodeState } from "../../store/changes.js";
import { fail, nodePath, str, type Request } from "../request.js";
import { exportInBackground } from "./history-export.js";

export const HISTORY_USAGE =
  "log|diff|show|export|info [--json]\n" +
  "    log [<path>] [--since <time>] [--domain <domid>] [--before <rev>] [--limit <n>]\n" +
  "    diff <rev1> <rev2> [<path>]\n" +
  "    show <rev> <path>\n" +
  "    export <file>";

/** Commits one log reply examines at most. */
const SCAN_MAX = 20_000;
/** The reply text, without its NUL. */
const LIMIT = PAYLOAD_MAX - 1;
/** Room always kept for a continuation (the longest a log's can be). */
const SPARE = 64;

/** Where a paged reply continues: options to add to the command. */
type Cursor = Readonly<Record<string, string | number>>;

/** A JSON text in plain ASCII (values are latin1: their bytes are U+0000 to U+00FF). */
function toJson(x: unknown): string {
  return JSON.stringify(x).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The characters a value's char shows as inside double quotes. */
function escaped(code: number): string {
  if (code >= 0x20 && code < 0x7f) return code === 0x22 ? '\\"' : code === 0x5c ? "\\\\" : String.fromCharCode(code);
  if (code === 0x0a) return "\\n";
  if (code === 0x09) return "\\t";
  if (code === 0x0d) return "\\r";
  return `\\x${code.toString(16).padStart(2, "0")}`;
}

/** A value in double quotes with C escapes, cut to at most `max` characters (marked by `...` after the quote). */
function quote(value: string, max = Infinity): string {
  let body = "";
  for (let i = 0; i < value.length; i++) body += escaped(value.charCodeAt(i));
  if (body.length + 2 <= max) return `"${body}"`;
  let cut = "";
  for (let i = 0; i < value.length; i++) {
    const e = escaped(value.charCodeAt(i));
    if (cut.length + e.length + 5 > max) break;
    cut += e;
  }
  return `"${cut}"...`;
}

/** A value as JSON, cut so that its JSON text is at most `max` characters. */
function jsonValue(value: string, max = Infinity): { value: string; truncated?: true } {
  if (toJson(value).length <= max) return { value };
  let len = 2;
  let i = 0;
  for (; i < value.length; i++) {
    len += toJson(value[i]).length - 2;
    if (len > max) break;
  }
  return { value: value.slice(0, i), truncated: true };
}

class Page {
  private readonly items: string[] = [];
  private used: number;
  /** Where a next reply starts, after the last item added. */
  private resume: Cursor | null = null;

  /**
   * `head`: for text, the lines before the items; for JSON, the object's
   * other fields, before `field`, the array of items.
   */
  constructor(
    readonly json: boolean,
    private readonly field: string,
    private readonly head: string | Record<string, unknown>,
  ) {
    this.used = json ? this.opening().length + 2 : (head as string).length;
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  private opening(): string {
    const head = toJson(this.head);
    return `${head.slice(0, -1)}${head === "{}" ? "" : ","}${toJson(this.field)}:[`;
  }

  private more(cursor: Cursor): string {
    if (this.json) return `,"more":${toJson(cursor)}`;
    return `\nmore: ${Object.entries(cursor).map(([k, v]) => `--${k} ${v}`).join(" ")}`;
  }

  /** The longest item that fits now, with room kept for continuing after it at `then`. */
  room(then: Cursor | null): number {
    return LIMIT - this.used - 1 - Math.max(SPARE, then ? this.more(then).length : 0);
  }

  /** Add an item if it fits; `then` says where a reply after it would continue. */
  add(body: string, then: Cursor | null): boolean {
    if (body.length > this.room(then)) return false;
    this.items.push(body);
    this.used += body.length + 1;
    this.resume = then;
    return true;
  }

  /** The reply, full: the next one continues after its last item. */
  finishFull(): Buffer {
    return this.finish(this.resume);
  }

  /** The reply; `cursor`: where the next one continues, if anything remains. */
  finish(cursor: Cursor | null): Buffer {
    let text: string;
    if (this.json) text = `${this.opening()}${this.items.join(",")}]${cursor ? this.more(cursor) : ""}}`;
    else text = [this.head as string, ...this.items].filter((s) => s !== "").join("\n") + (cursor ? this.more(cursor) : "");
    if (text.length > LIMIT) fail("E2BIG");
    return str(text);
  }
}

const STRING = { type: "string" } as const;
const JSON_OPTION = { json: { type: "boolean" } } as const;

/** Parse a subcommand's options (EINVAL for unknown ones). */
function parse<O extends Record<string, { type: "string" } | { type: "boolean" }>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch {
    fail("EINVAL");
  }
}

function count(s: string): number {
  if (!/^\d{1,15}$/.test(s)) fail("EINVAL");
  return Number(s);
}

/** Milliseconds since the epoch, or an ISO date. */
function time(s: string): number {
  const t = /^\d{1,15}$/.test(s) ? Number(s) : Date.parse(s);
  if (Number.isNaN(t)) fail("EINVAL");
  return t;
}

function optional<T>(s: string | undefined, f: (s: string) => T): T | undefined {
  return s === undefined ? undefined : f(s);
}

function atMost(positionals: string[], max: number): void {
  if (positionals.length > max) fail("EINVAL");
}

// ---------------------------------------------------------------- log

function commitTitle(c: HistoryCommit): string {
  return `r${c.revision} ${new Date(c.time).toISOString()} ${c.op} by domain ${c.domid} (connection ${c.conn}, transaction ${c.txId})`;
}

/**
 * A commit as a log item, listing as many of `changes` as fit in `room`
 * and how many it left out.
 */
function commitItem(c: HistoryCommit, changes: readonly ChangeEntry[], asJson: boolean, room = Infinity): string {
  let prefix: string;
  let pieces: string[];
  let suffix: (left: number) => string;
  if (asJson) {
    const fields = { revision: c.revision, time: c.time, date: new Date(c.time).toISOString(), op: c.op, domain: c.domid, connection: c.conn, transaction: c.txId };
    prefix = `${toJson(fields).slice(0, -1)},"changes":[`;
    pieces = changes.map((e, i) => (i ? "," : "") + toJson({ kind: e.kind, path: e.path }));
    suffix = (left) => (left ? `],"omitted":${left}}` : "]}");
  } else {
    prefix = commitTitle(c);
    pieces = changes.map((e) => `\n  ${e.kind.padEnd(7)} ${e.path}`);
    suffix = (left) => (left ? `\n  ... ${left} more: history diff ${c.revision - 1} ${c.revision}` : "");
  }
  const all = prefix + pieces.join("") + suffix(0);
  if (all.length <= room) return all;
  const reserve = suffix(pieces.length).length;
  let out = prefix;
  let i = 0;
  for (; i < pieces.length && out.length + pieces[i]!.length + reserve <= room; i++) out += pieces[i];
  return out + suffix(pieces.length - i);
}

function log(req: Request, h: History, args: string[]): Buffer {
  const { values, positionals } = parse(args, { since: STRING, domain: STRING, before: STRING, limit: STRING, ...JSON_OPTION });
  atMost(positionals, 1);
  const q: LogQuery = {
    path: positionals[0] === undefined ? undefined : nodePath(req, positionals[0]),
    since: optional(values.since, time),
    domain: optional(values.domain, count),
    before: optional(values.before, count),
    limit: optional(values.limit, count),
  };
  const page = new Page(values.json === true, "commits", values.json ? {} : "");
  const cursor = (before: number, left: number): Cursor => (q.limit === undefined ? { before } : { before, limit: left });
  let left = q.limit ?? Infinity;
  let examined = 0;
  h.prune();
  for (let rev = Math.min(q.before ?? Infinity, h.newest + 1) - 1; rev > h.oldest && left > 0; rev--) {
    const c = h.commit(rev)!;
    if (q.since !== undefined && c.time < q.since) break;
    if (++examined > SCAN_MAX) return page.finish(cursor(rev + 1, left));
    if (!matches(c, q)) continue;
    const changes = q.path === undefined ? c.changes : changesUnder(c, q.path);
    const then = left > 1 ? cursor(rev, left - 1) : null;
    if (!page.add(commitItem(c, changes, page.json), then)) {
      if (!page.empty) return page.finishFull();
      if (!page.add(commitItem(c, changes, page.json, page.room(then)), then)) fail("E2BIG");
    }
    left--;
  }
  return page.finish(null);
}

// ---------------------------------------------------------------- diff

function aclText(acl: string): string {
  return `(${permStrings(acl).join(",")})`;
}

function stateText(s: NodeState, valueMax: number): string {
  return `${quote(s.value, valueMax)} ${aclText(s.acl)}`;
}

function diffText(e: DiffEntry, valueMax: number): string {
  const { before, after } = e;
  if (!before) return `added ${e.path} ${stateText(after!, valueMax)}`;
  if (!after) return `removed ${e.path} ${stateText(before, valueMax)}`;
  const from: string[] = [];
  const to: string[] = [];
  if (before.value !== after.value) {
    from.push(quote(before.value, valueMax));
    to.push(quote(after.value, valueMax));
  }
  if (before.acl !== after.acl) {
    from.push(aclText(before.acl));
    to.push(aclText(after.acl));
  }
  return `changed ${e.path} ${from.join(" ")} -> ${to.join(" ")}`;
}

function stateJson(s: NodeState | null, valueMax: number): unknown {
  return s && { ...jsonValue(s.value, valueMax), perms: permStrings(s.acl) };
}

function diffItem(e: DiffEntry, asJson: boolean, valueMax = Infinity): string {
  if (!asJson) return diffText(e, valueMax);
  return toJson({ path: e.path, kind: e.kind, before: stateJson(e.before, valueMax), after: stateJson(e.after, valueMax) });
}

function diff(req: Request, h: History, args: string[]): Buffer {
  const { values, positionals } = parse(args, { after: STRING, ...JSON_OPTION });
  if (positionals.length < 2) fail("EINVAL");
  atMost(positionals, 3);
  const from = count(positionals[0]!);
  const to = count(positionals[1]!);
  const path = positionals[2] === undefined ? "/" : nodePath(req, positionals[2]);
  const after = optional(values.after, (p) => nodePath(req, p));
  const page = new Page(values.json === true, "changes", values.json ? { from, to, path } : "");
  for (const e of h.diffFrom(from, to, path, after)) {
    const then = { after: e.path };
    if (page.add(diffItem(e, page.json), then)) continue;
    if (!page.empty) return page.finishFull();
    // Alone too long: cut the values until it fits.
    const room = page.room(then);
    let max = room;
    let body = diffItem(e, page.json, max);
    while (body.length > room && max > 8) body = diffItem(e, page.json, (max >>= 1));
    if (!page.add(body, then)) fail("E2BIG");
  }
  return page.finish(null);
}

// ---------------------------------------------------------------- show

function show(req: Request, h: History, args: string[]): Buffer {
  const { values, positionals } = parse(args, { skip: STRING, ...JSON_OPTION });
  if (positionals.length !== 2) fail("EINVAL");
  const rev = count(positionals[0]!);
  const path = nodePath(req, positionals[1]!);
  // Without --skip: the node and its first children; with it: more children only.
  const skip = optional(values.skip, count);
  const asJson = values.json === true;
  const node = h.show(rev, path);
  const title = `${path} at r${rev}`;
  if (!node) return str(asJson ? toJson({ revision: rev, path, exists: false }) : `${title}: not there`);
  // The value is cut if need be, to leave room for the rest of the head and some children.
  const valueMax = LIMIT - SPARE - 2 * path.length - 128 - toJson(node.perms).length;
  let head: string | Record<string, unknown>;
  if (skip !== undefined) head = asJson ? { revision: rev, path } : "";
  else if (asJson) head = { revision: rev, path, exists: true, ...jsonValue(node.value, valueMax), perms: node.perms };
  else head = `${title}\nvalue ${quote(node.value, valueMax)}\nperms ${node.perms.join(",")}`;
  const page = new Page(asJson, "children", head);
  for (let i = skip ?? 0; i < node.children.length; i++) {
    const name = node.children[i]!;
    if (page.add(asJson ? toJson(name) : `child ${name}`, { skip: i + 1 })) continue;
    if (page.empty && skip !== undefined) fail("E2BIG");
    return page.empty ? page.finish({ skip: i }) : page.finishFull();
  }
  return page.finish(null);
}

// ---------------------------------------------------------------- export, info

function exportGit(req: Request, h: History, args: string[]): Buffer {
  const { values, positionals } = parse(args, JSON_OPTION);
  if (positionals.length !== 1 || !isAbsolute(positionals[0]!)) fail("EINVAL");
  // It writes a file where the caller says, as memreport and logfile do: not from the read-only socket.
  if (req.conn.readonly) fail("EACCES");
  const file = positionals[0]!;
  const [oldest, newest] = [h.oldest, h.newest];
  exportInBackground(h.gitStream(), file, req.svc.log);
  return str(values.json ? toJson({ file, oldest, newest }) : `exporting r${oldest}..r${newest} to ${file}`);
}

function info(h: History, args: string[]): Buffer {
  const { values, positionals } = parse(args, JSON_OPTION);
  atMost(positionals, 0);
  h.prune();
  const facts = { oldest: h.oldest, newest: h.newest, commits: h.size, since: new Date(h.since).toISOString(), bytes: h.retainedBytes, limits: h.limits };
  if (values.json) return str(toJson(facts));
  const { maxRevisions, maxAgeMs, maxBytes } = h.limits;
  return str(
    `retained r${facts.oldest}..r${facts.newest}: ${facts.commits} commits since ${facts.since}\n` +
      `bytes ~${facts.bytes} of ${maxBytes}\n` +
      `limits ${maxRevisions} revisions, ${maxAgeMs} ms, ${maxBytes} bytes`,
  );
}

const SUBCOMMANDS: Record<string, (req: Request, h: History, args: string[]) => Buffer> = {
  log,
  diff,
  show,
  export: exportGit,
  info: (_req, h, args) => info(h, args),
};

/** CONTROL history SUBCOMMAND ARGS...: EINVAL for bad arguments and revisions not retained. */
export function historyCommand(req: Request, args: string[]): Buffer {
  const sub = args[0] !== undefined && Object.hasOwn(SUBCOMMANDS, args[0]) ? SUBCOMMANDS[args[0]]! : undefined;
  if (!sub) fail("EINVAL");
  try {
    return sub(req, req.svc.history, args.slice(1));
  } catch (e) {
    if (e instanceof NotRetained) fail("EINVAL");
    throw e;
  }
}
