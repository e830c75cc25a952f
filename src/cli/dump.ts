/**
 * `tsxs dump [PATH]` and `tsxs restore FILE [--at PATH]`: a subtree with
 * its values and ACLs as JSON (docs/dump-format.md), and back.
 *
 * dump reads the subtree in one transaction (pipelined requests), so what
 * it writes is one consistent state; it starts over if the daemon answers
 * EAGAIN at the end (something it read changed meanwhile).
 *
 * restore checks the whole file before writing anything (a bad file
 * writes nothing), then writes the nodes parents first in transactions of
 * `--batch` nodes (default 500, so a 100,000-node dump is not one giant
 * transaction), each retried on EAGAIN: a WRITE of the value and a
 * SET_PERMS of the ACL for each node. Nodes already there are overwritten;
 * nodes not in the dump are left alone. If the daemon refuses a batch,
 * restore stops and says how much was committed.
 *
 * Exit status: 0 done, 1 the daemon refused or the file is bad, 2 bad usage.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { XenStoreClient } from "../client/client.js";
import { Op, XsError } from "../protocol/messages.js";
import { jsonValue, joinPath, openDaemon, processIo, strerror, withTransaction, writeRaw, type Io } from "./common.js";
import { Progress } from "./progress.js";
import { FetchError, fetchTree, type FetchedNode } from "./tree.js";

export const DUMP_FORMAT = "tsxs-dump";
export const DUMP_VERSION = 1;

/** One node of a dump. */
export interface DumpNode {
  name: string;
  value: string;
  encoding?: "base64";
  perms: string[];
  children: DumpNode[];
}

export interface Dump {
  format: typeof DUMP_FORMAT;
  version: typeof DUMP_VERSION;
  path: string;
  tree: DumpNode;
}

const DUMP_USAGE = "Usage: tsxs dump [PATH] [--compact]\n";
const RESTORE_USAGE = "Usage: tsxs restore FILE [--at PATH] [--batch N] [--json]   (FILE - reads stdin)\n";

function toDump(n: FetchedNode): DumpNode {
  return { name: n.name, ...jsonValue(n.value!), perms: n.perms!, children: n.children.map(toDump) };
}

export async function runDump(argv: string[], io: Io = processIo()): Promise<number> {
  let path: string;
  let compact: boolean;
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { compact: { type: "boolean" } }, allowPositionals: true, strict: true });
    if (positionals.length > 1) throw new Error("one PATH at most");
    path = positionals[0] ?? "/";
    if (!path.startsWith("/")) throw new Error("PATH must be absolute");
    compact = values.compact === true;
  } catch (e) {
    io.stderr.write(`tsxs dump: ${(e as Error).message}\n${DUMP_USAGE}`);
    return 2;
  }
  const client = await openDaemon("tsxs dump", io);
  if (!client) return 1;
  const progress = new Progress(io.stderr, "tsxs dump");
  try {
    let tree: FetchedNode | null = null;
    await withTransaction(
      client,
      async (tx) => {
        tree = await fetchTree(client, path, { tx, values: true, perms: true, root: true, onNode: () => progress.add() });
        return true;
      },
      10,
    );
    progress.done();
    const dump: Dump = { format: DUMP_FORMAT, version: DUMP_VERSION, path, tree: toDump(tree!) };
    io.stdout.write(`${JSON.stringify(dump, null, compact ? undefined : 1)}\n`);
    return 0;
  } catch (e) {
    progress.done();
    if (e instanceof FetchError && e.cause instanceof XsError) io.stderr.write(`tsxs dump: ${e.path}: ${strerror(e.cause)}\n`);
    else if (e instanceof XsError) io.stderr.write(`tsxs dump: ${e.errno === "EAGAIN" ? "the tree kept changing while it was read (EAGAIN); try again" : strerror(e)}\n`);
    else io.stderr.write(`tsxs dump: ${(e as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

/** What is wrong with a dump file. */
export class DumpError extends Error {}

const NAME = /^[A-Za-z0-9\-_@]+$/;
const PERM = /^[nrwb](0|[1-9]\d{0,9})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A node to write: its path below the dump's root, value and ACL. */
export interface RestoreItem {
  /** Path relative to the dump's root ("" for the root itself). */
  rel: string;
  value: Buffer;
  perms: string[];
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Check a parsed dump and list its nodes parents first; throws DumpError
 * naming the first problem (with the node's path in the dump).
 */
export function checkDump(doc: unknown): { path: string; items: RestoreItem[] } {
  if (!isObject(doc)) throw new DumpError("not a JSON object");
  if (doc.format !== DUMP_FORMAT) throw new DumpError(`"format" is not "${DUMP_FORMAT}"`);
  if (doc.version !== DUMP_VERSION) throw new DumpError(`unsupported "version" ${JSON.stringify(doc.version)} (this tsxs reads version ${DUMP_VERSION})`);
  const path = doc.path;
  if (typeof path !== "string" || !(path === "/" || /^\/[A-Za-z0-9\-_@]+(\/[A-Za-z0-9\-_@]+)*$/.test(path))) throw new DumpError(`"path" is not an absolute xenstore path`);
  const items: RestoreItem[] = [];
  const stack: { node: unknown; rel: string; where: string; root: boolean }[] = [{ node: doc.tree, rel: "", where: path, root: true }];
  while (stack.length) {
    const { node, rel, where, root } = stack.pop()!;
    const bad = (what: string): never => {
      throw new DumpError(`node ${where}: ${what}`);
    };
    if (!isObject(node)) bad("not a JSON object");
    const n = node as Record<string, unknown>;
    const expected = path === "/" ? "" : path.slice(path.lastIndexOf("/") + 1);
    if (root ? n.name !== expected : typeof n.name !== "string" || !NAME.test(n.name)) bad(root ? `"name" is not ${JSON.stringify(expected)} (the last part of "path")` : `"name" is not a valid node name`);
    if (typeof n.value !== "string") bad(`"value" is not a string`);
    let value: Buffer;
    if (n.encoding === undefined) value = Buffer.from(n.value as string, "utf8");
    else if (n.encoding === "base64" && BASE64.test(n.value as string)) value = Buffer.from(n.value as string, "base64");
    else bad(n.encoding === "base64" ? `"value" is not valid base64` : `"encoding" is neither absent nor "base64"`);
    if (!Array.isArray(n.perms) || n.perms.length === 0 || !n.perms.every((p) => typeof p === "string" && PERM.test(p))) bad(`"perms" is not a non-empty list of ACL entries like "n0", "r5", "w5", "b5"`);
    if (!Array.isArray(n.children)) bad(`"children" is not a list`);
    const children = n.children as unknown[];
    items.push({ rel, value: value!, perms: n.perms as string[] });
    const seen = new Set<string>();
    for (const c of children) {
      const name = isObject(c) && typeof c.name === "string" ? c.name : "?";
      if (seen.has(name)) bad(`two children named ${JSON.stringify(name)}`);
      seen.add(name);
    }
    // Pushed in reverse so they come off the stack in order (parents before children, siblings in order).
    for (let i = children.length - 1; i >= 0; i--) {
      const c = children[i];
      const name = isObject(c) && typeof c.name === "string" ? c.name : `#${i}`;
      stack.push({ node: c, rel: `${rel}/${name}`, where: joinPath(where, name), root: false });
    }
  }
  return { path, items };
}

/** The absolute path of an item restored at `at`. */
function targetPath(at: string, rel: string): string {
  if (rel === "") return at;
  return at === "/" ? rel : `${at}${rel}`;
}

export async function runRestore(argv: string[], io: Io = processIo()): Promise<number> {
  let file: string;
  let at: string | undefined;
  let batch: number;
  let json: boolean;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { at: { type: "string" }, batch: { type: "string" }, json: { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 1) throw new Error("one FILE");
    file = positionals[0]!;
    at = values.at;
    batch = values.batch === undefined ? 500 : Number(values.batch);
    if (!Number.isInteger(batch) || batch < 1) throw new Error("--batch takes a positive number");
    if (at !== undefined && !(at === "/" || /^\/[A-Za-z0-9\-_@]+(\/[A-Za-z0-9\-_@]+)*$/.test(at))) throw new Error("--at takes an absolute xenstore path");
    json = values.json === true;
  } catch (e) {
    io.stderr.write(`tsxs restore: ${(e as Error).message}\n${RESTORE_USAGE}`);
    return 2;
  }
  let path: string;
  let items: RestoreItem[];
  try {
    let text: string;
    try {
      text = readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (e) {
      throw new DumpError(`cannot read it: ${(e as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new DumpError(`not valid JSON: ${(e as Error).message}`);
    }
    ({ path, items } = checkDump(doc));
  } catch (e) {
    if (!(e instanceof DumpError)) throw e;
    io.stderr.write(`tsxs restore: ${file}: ${e.message}; nothing was restored\n`);
    return 1;
  }
  const target = at ?? path;
  const client = await openDaemon("tsxs restore", io);
  if (!client) return 1;
  const progress = new Progress(io.stderr, "tsxs restore", { total: items.length });
  let done = 0;
  let transactions = 0;
  try {
    for (let i = 0; i < items.length; i += batch) {
      const slice = items.slice(i, i + batch);
      await withTransaction(client, async (tx) => {
        await Promise.all(slice.map((item) => restoreNode(client, tx, targetPath(target, item.rel), item)));
        return true;
      });
      done += slice.length;
      transactions++;
      progress.add(slice.length);
    }
  } catch (e) {
    progress.done();
    const why = e instanceof RestoreFailure ? `${e.message}: ${strerror(e.cause)}` : e instanceof XsError ? `the daemon answered ${e.errno}` : (e as Error).message;
    const state = done === 0 ? "nothing was restored" : `stopped after ${done} of ${items.length} nodes (${transactions} transactions committed): ${target} is only partly restored`;
    io.stderr.write(`tsxs restore: ${why}; ${state}\n`);
    return 1;
  } finally {
    client.close();
  }
  progress.done();
  io.stdout.write(json ? `${JSON.stringify({ path: target, nodes: done, transactions })}\n` : `restored ${done} node${done === 1 ? "" : "s"} at ${target} in ${transactions} transaction${transactions === 1 ? "" : "s"}\n`);
  return 0;
}

class RestoreFailure extends Error {
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message);
  }
}

async function restoreNode(client: XenStoreClient, tx: number, path: string, item: RestoreItem): Promise<void> {
  const write = writeRaw(client, path, item.value, tx).catch((e: unknown) => {
    throw new RestoreFailure(`could not write ${path}`, e);
  });
  const perms = client.request(Op.SET_PERMS, [path, ...item.perms], tx).catch((e: unknown) => {
    throw new RestoreFailure(`could not set the permissions of ${path}`, e);
  });
  await Promise.all([write, perms]);
}
