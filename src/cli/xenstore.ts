/**
 * The `xenstore-*` verbs of `tsxs`: read, write, ls, list, exists, rm,
 * chmod and watch, with the options, output, messages and exit codes of
 * Debian's xenstore-utils 4.17 (learnt by running them; see
 * test/tsxs-verbs.test.ts, which compares both on the same trees), plus
 * `--json` on each.
 *
 * As upstream: every verb but ls and watch runs in one transaction (retried
 * on EAGAIN), stops at the first path that fails, and prints its output
 * once the transaction has ended; a failure aborts the transaction, so a
 * multi-path write or rm is all or nothing. Messages are upstream's, with
 * `tsxs VERB:` in place of `xenstore-VERB:`. Exit status 1 for every
 * failure and for bad usage (as upstream; `tsxs history` and `dump` use 2
 * for bad usage).
 *
 * --json prints one JSON document on stdout instead of the text (watch:
 * one JSON object per line and event); on failure it still prints what
 * was done, with an `error` member ({path, errno, message}). Shapes are in
 * the README.
 */
import type { Watcher, XenStoreClient } from "../client/client.js";
import { Op, XsError } from "../protocol/messages.js";
import { errnoOf, jsonError, jsonValue, Limiter, listChildren, openDaemon, processIo, readRaw, strerror, withTransaction, writeRaw, type Io } from "./common.js";
import { sanitise, unsanitise } from "./escape.js";
import { getopt, type OptionTable } from "./getopt.js";
import { Progress } from "./progress.js";
import { FetchError, fetchTree, preorder } from "./tree.js";

export const XENSTORE_VERBS = ["read", "write", "ls", "list", "exists", "rm", "chmod", "watch"] as const;
export type XenstoreVerb = (typeof XENSTORE_VERBS)[number];

/** Upstream's option table is shared by every tool; each takes only some (the rest is a usage error). */
const TABLE: OptionTable = {
  short: "hfspurRtn:",
  long: { help: "h", flat: "f", prefix: "p", upto: "u", recurse: "r", raw: "R", tidy: "t", number: "n", json: "J" },
};

/** The letters each verb takes (J: --json). */
const TAKES: Record<XenstoreVerb, string> = {
  read: "psRJ",
  write: "sRJ",
  ls: "fpsJ",
  list: "psJ",
  exists: "sJ",
  rm: "stJ",
  chmod: "surJ",
  watch: "snJ",
};

/** Upstream's usage lines (exists names -p but refuses it, as upstream), plus --json. */
const USAGE: Record<XenstoreVerb, string> = {
  read: "[-h] [-p] [-s] [-R] [--json] key [...]",
  write: "[-h] [-s] [-R] [--json] key value [...]",
  ls: "[-h] [-f] [-p] [-s] [--json] [path]",
  list: "[-h] [-p] [-s] [--json] key [...]",
  exists: "[-h] [-p] [-s] [--json] key [...]",
  rm: "[-h] [-s] [-t] [--json] key [...]",
  chmod: "[-h] [-u] [-r] [-s] [--json] key <mode [modes...]>",
  watch: "[-h] [-n NR] [--json] key",
};

class Usage extends Error {}

interface Ctx {
  verb: XenstoreVerb;
  name: string;
  io: Io;
  flags: Set<string>;
  number: string | undefined;
  args: string[];
  json: boolean;
}

/** Output gathered for stdout, printed once the transaction is over (as upstream). */
class Out {
  chunks: Buffer[] = [];
  text(s: string): void {
    this.chunks.push(Buffer.from(s, "latin1"));
  }
  bytes(b: Buffer): void {
    this.chunks.push(b);
  }
}

type ErrorJson = ReturnType<typeof jsonError>;

/** `tsxs VERB ARGS...`; returns the exit status. */
export async function runXenstore(verb: XenstoreVerb, argv: readonly string[], io: Io = processIo()): Promise<number> {
  const name = `tsxs ${verb}`;
  const g = getopt(argv, TABLE);
  for (const w of g.warnings) io.stderr.write(`${name}: ${w}\n`);
  const flags = new Set<string>();
  let number: string | undefined;
  try {
    for (const o of g.options) {
      if (o.letter === "h" || !TAKES[verb].includes(o.letter)) throw new Usage();
      flags.add(o.letter);
      if (o.letter === "n") number = o.value;
    }
    const n = g.positionals.length;
    if (verb === "write" ? n === 0 || n % 2 !== 0 : verb === "ls" ? false : n === 0) throw new Usage();
  } catch (e) {
    if (!(e instanceof Usage)) throw e;
    io.stderr.write(`${name}: Usage: ${name} ${USAGE[verb]}\n`);
    return 1;
  }
  const ctx: Ctx = { verb, name, io, flags, number, args: g.positionals, json: flags.has("J") };
  let perms: string[] = [];
  if (verb === "chmod") {
    const parsed = parseModes(ctx.args.slice(1));
    if (typeof parsed === "string") {
      io.stderr.write(`${name}: Invalid permission specification: '${parsed}'\n`);
      return 1;
    }
    perms = parsed;
  }
  const client = await openDaemon(name, io);
  if (!client) {
    if (ctx.json) io.stdout.write(`${JSON.stringify({ error: { errno: "ENOENT", message: "cannot reach xenstored" } })}\n`);
    return 1;
  }
  try {
    if (verb === "ls") return await ls(client, ctx);
    if (verb === "watch") return await watch(client, ctx);
    return await transactional(client, ctx, perms);
  } catch (e) {
    io.stderr.write(`${name}: ${e instanceof XsError ? strerror(e) : (e as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

/** upstream's strtol(s, NULL, 10) cast to an unsigned int. */
function strtolU32(s: string): number {
  const m = /^\s*([+-]?)(\d*)/.exec(s)!;
  let v = m[2] ? BigInt(m[2]) : 0n;
  const max = 2n ** 63n - 1n;
  if (v > max) v = m[1] === "-" ? max + 1n : max;
  if (m[1] === "-") v = -v;
  return Number(BigInt.asUintN(32, v));
}

/** atoi(s). */
function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? Number(m[1]) : 0;
}

/** Modes as GET_PERMS strings, or the offending letter. */
function parseModes(modes: readonly string[]): string[] | string {
  const out: string[] = [];
  for (const m of modes) {
    const letter = m[0] ?? "";
    if (!"nrwb".includes(letter) || letter === "") return letter;
    out.push(`${letter}${strtolU32(m.slice(1))}`);
  }
  return out;
}

/** The verbs that run in a transaction: read, write, list, exists, rm, chmod. */
async function transactional(client: XenStoreClient, ctx: Ctx, perms: string[]): Promise<number> {
  const { io, name } = ctx;
  let out = new Out();
  let doc: Record<string, unknown> = {};
  let error: ErrorJson | null = null;
  const fail = (path: string | null, e: unknown, message: string): false => {
    if (!(e instanceof XsError)) throw e;
    io.stderr.write(`${name}: ${message}\n`);
    error = jsonError(path, e, message);
    return false;
  };
  let ok: boolean;
  try {
    ok = await withTransaction(client, async (tx) => {
      out = new Out();
      error = null;
      switch (ctx.verb) {
        case "read":
          return read(client, ctx, tx, out, (doc = { values: [] }).values as unknown[], fail);
        case "write":
          return write(client, ctx, tx, (doc = { written: [] }).written as unknown[], fail);
        case "list":
          return list(client, ctx, tx, out, (doc = { lists: [] }).lists as unknown[], fail);
        case "exists":
          return exists(client, ctx, tx, (doc = { exists: [] }).exists as unknown[]);
        case "rm":
          return rm(client, ctx, tx, (doc = { removed: [] }).removed as string[], fail);
        default:
          return chmod(client, ctx, tx, perms, (doc = { perms, changed: [] }).changed as string[], fail);
      }
    });
  } catch (e) {
    if (!(e instanceof XsError)) throw e;
    // The transaction could not start or end.
    const message = "couldn't end transaction";
    io.stderr.write(`${name}: ${message}\n`);
    error = jsonError(null, e, message);
    ok = false;
  }
  if (ctx.json) {
    if (error) doc.error = error;
    io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else if (out.chunks.length) io.stdout.write(Buffer.concat(out.chunks));
  return ok ? 0 : 1;
}

type Fail = (path: string | null, e: unknown, message: string) => false;

async function read(client: XenStoreClient, ctx: Ctx, tx: number, out: Out, values: unknown[], fail: Fail): Promise<boolean> {
  for (const key of ctx.args) {
    let v: Buffer;
    try {
      v = await readRaw(client, key, tx);
    } catch (e) {
      return fail(key, e, `couldn't read path ${key}`);
    }
    values.push({ path: key, ...jsonValue(v) });
    if (ctx.flags.has("p")) out.text(`${key}: `);
    if (ctx.flags.has("R")) out.bytes(v);
    else out.text(`${sanitise(v)}\n`);
  }
  return true;
}

async function write(client: XenStoreClient, ctx: Ctx, tx: number, written: unknown[], fail: Fail): Promise<boolean> {
  for (let i = 0; i < ctx.args.length; i += 2) {
    const key = ctx.args[i]!;
    const arg = Buffer.from(ctx.args[i + 1]!, "utf8");
    const v = ctx.flags.has("R") ? arg : unsanitise(arg);
    try {
      await writeRaw(client, key, v, tx);
    } catch (e) {
      return fail(key, e, `could not write path ${key}`);
    }
    written.push({ path: key, ...jsonValue(v) });
  }
  return true;
}

async function list(client: XenStoreClient, ctx: Ctx, tx: number, out: Out, lists: unknown[], fail: Fail): Promise<boolean> {
  for (const key of ctx.args) {
    let children: string[];
    try {
      children = await listChildren(client, key, tx);
    } catch (e) {
      return fail(key, e, `could not list path ${key}`);
    }
    lists.push({ path: key, children });
    for (const c of children) out.text(ctx.flags.has("p") ? `${key}/${c}\n` : `${c}\n`);
  }
  return true;
}

/** Silent; false when any path is missing (or unreadable). JSON: each path with `exists`. */
async function exists(client: XenStoreClient, ctx: Ctx, tx: number, found: unknown[]): Promise<boolean> {
  let all = true;
  for (const key of ctx.args) {
    try {
      await readRaw(client, key, tx);
      found.push({ path: key, exists: true });
    } catch (e) {
      if (!(e instanceof XsError)) throw e;
      all = false;
      found.push(e.errno === "ENOENT" ? { path: key, exists: false } : { path: key, exists: false, errno: e.errno });
    }
  }
  return all;
}

async function rm(client: XenStoreClient, ctx: Ctx, tx: number, removed: string[], fail: Fail): Promise<boolean> {
  for (const key of ctx.args) {
    try {
      await client.request(Op.RM, [key], tx);
    } catch (e) {
      return fail(key, e, `could not remove path ${key}`);
    }
    removed.push(key);
    if (!ctx.flags.has("t")) continue;
    // -t: then each parent that is left with no value and no children, up to (not including) the root.
    for (let p = key; ; ) {
      const slash = p.lastIndexOf("/");
      if (slash <= 0) break;
      p = p.slice(0, slash);
      try {
        if ((await readRaw(client, p, tx)).length > 0) break;
        if ((await listChildren(client, p, tx)).length > 0) break;
        await client.request(Op.RM, [p], tx);
      } catch (e) {
        if (e instanceof XsError) break;
        throw e;
      }
      removed.push(p);
    }
  }
  return true;
}

/**
 * chmod KEY MODES: the path; with -u each of its ancestors too (up to, not
 * including, the root; a relative path without a `/` left is an error);
 * with -r every node below it (pipelined).
 */
async function chmod(client: XenStoreClient, ctx: Ctx, tx: number, perms: string[], changed: string[], fail: Fail): Promise<boolean> {
  const key = ctx.args[0]!;
  const set = async (p: string): Promise<boolean> => {
    try {
      await client.request(Op.SET_PERMS, [p, ...perms], tx);
    } catch (e) {
      return fail(p, e, `Error occurred setting permissions on '${p}': ${strerror(e)}`);
    }
    changed.push(p);
    return true;
  };
  if (!(await set(key))) return false;
  if (ctx.flags.has("u")) {
    for (let p = key; ; ) {
      const slash = p.lastIndexOf("/");
      if (slash < 0) {
        return fail(p, new XsError("EINVAL"), `Unable to locate path separator '/' in '${p}'`);
      }
      p = p.slice(0, slash);
      if (p === "") break;
      if (!(await set(p))) return false;
    }
  }
  if (ctx.flags.has("r")) {
    let tree;
    try {
      tree = await fetchTree(client, key, { tx });
    } catch (e) {
      if (e instanceof FetchError) return true; // as upstream: a node that cannot be listed has nothing to recurse into
      throw e;
    }
    const limiter = new Limiter(128);
    const below = [...preorder(tree)].slice(1).map(([n]) => n.path);
    const results = await Promise.all(below.map((p) => limiter.run(() => set(p))));
    if (results.includes(false)) return false;
  }
  return true;
}

async function ls(client: XenStoreClient, ctx: Ctx): Promise<number> {
  const { io, flags } = ctx;
  const flat = flags.has("f");
  const showPerms = flags.has("p");
  // Upstream truncates to the terminal's width (80 when not a terminal); -f lines are never cut.
  const width = flat ? Infinity : io.stdout.isTTY && io.stdout.columns ? io.stdout.columns : 80;
  const paths = ctx.args.length ? ctx.args : ["/"];
  const nodes: unknown[] = [];
  const progress = new Progress(io.stderr, ctx.name);
  let status = 0;
  let error: ErrorJson | null = null;
  for (const path of paths) {
    let tree;
    try {
      tree = await fetchTree(client, path, { values: true, perms: showPerms, onNode: () => progress.add() });
    } catch (e) {
      progress.done();
      if (!(e instanceof FetchError) || !(e.cause instanceof XsError)) throw e;
      const message = e.op === "directory" ? `xs_directory (${e.path}): ${strerror(e.cause)}` : `${e.op === "read" ? "xs_read" : "xs_get_permissions"} (${e.path}): ${strerror(e.cause)}`;
      io.stderr.write(`${ctx.name}: ${message}\n`);
      error = jsonError(e.path, e.cause, message);
      status = 1;
      break;
    }
    progress.done();
    const lines: string[] = [];
    for (const [node, depth] of preorder(tree)) {
      if (depth === 0) continue;
      if (ctx.json) {
        nodes.push(showPerms ? { path: node.path, ...jsonValue(node.value!), perms: node.perms } : { path: node.path, ...jsonValue(node.value!) });
        continue;
      }
      lines.push(lsLine(node.path, node.name, depth - 1, node.value!, showPerms ? node.perms! : null, flat, width));
    }
    if (!ctx.json && lines.length) io.stdout.write(Buffer.from(`${lines.join("\n")}\n`, "latin1"));
  }
  if (ctx.json) io.stdout.write(`${JSON.stringify(error ? { nodes, error } : { nodes }, null, 2)}\n`);
  return status;
}

/** printf's "%.*s": a negative precision prints everything. */
function cut(s: string, precision: number): string {
  return precision < 0 ? s : s.slice(0, precision);
}

/** TAG_LEN of upstream: room kept for ` = "` and the closing `\..."`. */
const TAG = 8;
/** The column the ` . . .` padding of `ls -p` runs to. */
const PERMS_COLUMN = 60;

/** One line of `xenstore-ls`. */
export function lsLine(path: string, name: string, indent: number, value: Buffer, perms: string[] | null, flat: boolean, width: number): string {
  let line = flat ? path : " ".repeat(indent) + cut(name, width - TAG - indent);
  let cutShort = false;
  if (width < line.length + value.length + TAG) {
    line += ` = "${cut(sanitise(value), width - TAG - line.length)}\\..."`;
    cutShort = true;
  } else line += ` = "${sanitise(value)}"`;
  if (perms) {
    if (!cutShort) {
      line += " ";
      if (!flat) while (line.length < PERMS_COLUMN) line += line.length % 2 ? "." : " ";
    }
    line += `  (${perms.join(",")})`;
  }
  return line;
}

async function watch(client: XenStoreClient, ctx: Ctx): Promise<number> {
  const { io } = ctx;
  let remaining = ctx.number === undefined ? -1 : atoi(ctx.number);
  const watchers: { key: string; w: Watcher }[] = [];
  for (const key of ctx.args) {
    try {
      watchers.push({ key, w: await client.watch(key, { token: `${watchers.length}` }) });
    } catch (e) {
      if (!(e instanceof XsError)) throw e;
      io.stderr.write(`${ctx.name}: Unable to add watch on ${key}\n\n`);
      if (ctx.json) io.stdout.write(`${JSON.stringify({ error: jsonError(key, e, `Unable to add watch on ${key}`) })}\n`);
      return 1;
    }
  }
  if (remaining === 0) return 0;
  return new Promise<number>((resolve) => {
    let finished = false;
    for (const { key, w } of watchers) {
      void (async () => {
        for (;;) {
          let ev;
          try {
            ev = await w.next();
          } catch (e) {
            if (finished) return;
            finished = true;
            io.stderr.write(`${ctx.name}: ${(e as Error).message} (${errnoOf(e) === "EIO" ? "watch ended" : strerror(e)})\n`);
            resolve(1);
            return;
          }
          if (finished) return;
          io.stdout.write(ctx.json ? `${JSON.stringify({ path: ev.path, watch: key })}\n` : `${ev.path}\n`);
          if (remaining > 0 && --remaining === 0) {
            finished = true;
            resolve(0);
            return;
          }
        }
      })();
    }
  });
}
