/**
 * The retained history as a `git fast-import` stream (layout: see
 * history.ts). Produced in chunks, a commit (or a slice of the base tree)
 * at a time, so that a daemon can write a long history without stopping.
 * Everything is latin1: values are bytes, names and ids ASCII.
 */
import type { ChangeEntry } from "../store/changes.js";
import type { Node } from "../store/node.js";
import { childPath } from "../store/path.js";
import type { HistoryBase, HistoryCommit } from "./history.js";
import { permStrings } from "./perms.js";

export const GIT_BRANCH = "refs/heads/main";

/** Chunk size while writing out the base tree. */
const CHUNK_BYTES = 64 * 1024;

/** The repository directory of node `path` ("" for the root). */
function dirOf(path: string): string {
  return path === "/" ? "" : `${path.slice(1)}/`;
}

function data(content: string): string {
  return `data ${content.length}\n${content}\n`;
}

function file(path: string, content: string): string {
  return `M 100644 inline ${path}\n${data(content)}`;
}

function valueFile(path: string, value: string): string {
  return file(`${dirOf(path)}.value`, value);
}

function permsFile(path: string, acl: string): string {
  return file(`${dirOf(path)}.perms`, permStrings(acl).map((p) => `${p}\n`).join(""));
}

function header(who: string, time: number, message: string): string {
  const seconds = Math.floor(time / 1000);
  return `commit ${GIT_BRANCH}\nauthor ${who} ${seconds} +0000\ncommitter ${who} ${seconds} +0000\n${data(message)}`;
}

/** The file operations for one change: only the files that changed. */
function fileChanges(e: ChangeEntry): string {
  const { before, after } = e;
  if (!after) return before ? `D ${e.path.slice(1)}\n` : "";
  let out = "";
  if (!before || before.value !== after.value) out += valueFile(e.path, after.value);
  if (!before || before.acl !== after.acl) out += permsFile(e.path, after.acl);
  return out;
}

export function commitMessage(c: HistoryCommit): string {
  const title = `r${c.revision} ${c.op} by domain ${c.domid} (connection ${c.conn}, transaction ${c.txId})`;
  return `${title}\n\n${c.changes.map((e) => `${e.kind} ${e.path}\n`).join("")}`;
}

/** The stream: the base tree as the first commit, then one commit per retained revision. */
export function* fastImportStream(base: HistoryBase, commits: readonly HistoryCommit[]): Generator<Buffer> {
  // Start the branch afresh: the first commit has no parent.
  let out = `reset ${GIT_BRANCH}\n\n`;
  out += header("tsxenstored <history@xenstored>", base.time, `r${base.revision} the tree where the retained history begins\n`);
  // Depth first without recursion; every node's two files.
  const stack: [string, Node][] = [["/", base.root]];
  while (stack.length) {
    const [path, node] = stack.pop()!;
    out += valueFile(path, node.value) + permsFile(path, node.perms.key);
    for (const kid of node.children?.nodes() ?? []) stack.push([childPath(path, kid.name), kid]);
    if (out.length >= CHUNK_BYTES) {
      yield Buffer.from(out, "latin1");
      out = "";
    }
  }
  yield Buffer.from(`${out}\n`, "latin1");
  for (const c of commits) {
    let text = header(`domain ${c.domid} <conn-${c.conn}@xenstored>`, c.time, commitMessage(c));
    for (const e of c.changes) text += fileChanges(e);
    yield Buffer.from(`${text}\n`, "latin1");
  }
}
