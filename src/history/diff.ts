/**
 * What differs between two trees under a path, node by node. Trees of
 * different revisions share every subtree no commit in between touched, so
 * a shared subtree is recognised by reference and skipped whole: the walk
 * costs what differs (plus, for a directory whose children differ, its
 * listing). Entries come in a fixed order, parents before children and
 * siblings by name, so a long diff can be resumed after any path.
 */
import type { NodeState } from "../store/changes.js";
import { sameChildren } from "../store/frozen.js";
import type { Node } from "../store/node.js";
import { childPath, isAtOrBelow } from "../store/path.js";
import { lookup } from "../store/tree.js";

export type DiffKind = "added" | "removed" | "changed";

export interface DiffEntry {
  readonly path: string;
  readonly kind: DiffKind;
  /** null when added. */
  readonly before: NodeState | null;
  /** null when removed. */
  readonly after: NodeState | null;
}

/**
 * The same node in both trees? Shared nodes are the same object, but a
 * childless child is stored packed in its parent, and a node of a packed
 * subtree is decoded, so either comes back as a new object each time it
 * is looked up: compare what it holds too.
 */
function same(a: Node | undefined, b: Node | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return sameChildren(a.children, b.children) && a.value === b.value && a.perms === b.perms;
}

function entry(path: string, a: Node | undefined, b: Node | undefined): DiffEntry | null {
  if (!a && !b) return null;
  if (a && b && a.value === b.value && a.perms === b.perms) return null;
  const kind: DiffKind = !a ? "added" : !b ? "removed" : "changed";
  return { path, kind, before: a ? stateOf(a) : null, after: b ? stateOf(b) : null };
}

function stateOf(n: Node): NodeState {
  return { value: n.value, acl: n.perms.key };
}

/** Names to compare below two versions of a node, sorted; null when their children are shared. */
function childNames(a: Node | undefined, b: Node | undefined): string[] | null {
  if (sameChildren(a?.children, b?.children)) return null;
  const names = new Set<string>(a?.childNames() ?? []);
  for (const n of b?.childNames() ?? []) names.add(n);
  return [...names].sort();
}

/**
 * Does path `p` come before `cursor` in diff order (parents first, then
 * children by name)? Path order with "/" sorting below every name character.
 */
function precedes(p: string, cursor: string): boolean {
  return p.replaceAll("/", "\0") < cursor.replaceAll("/", "\0");
}

interface Frame {
  readonly path: string;
  readonly a: Node | undefined;
  readonly b: Node | undefined;
  readonly names: readonly string[];
  next: number;
}

/**
 * Differences under `path` from tree `from` to tree `to`, in diff order,
 * starting after the entry for `after` when given. Iterative (a deep tree
 * cannot exhaust the stack).
 */
export function* diffTrees(from: Node, to: Node, path: string, after?: string): Generator<DiffEntry> {
  let cursor = after;
  const stack: Frame[] = [];
  let pending: [string, Node | undefined, Node | undefined] | null = [path, lookup(from, path), lookup(to, path)];
  for (;;) {
    if (pending) {
      const [p, a, b] = pending;
      pending = null;
      if (cursor === undefined || precedes(cursor, p)) {
        // Past the cursor, and so is everything after this in the walk.
        cursor = undefined;
        const e = entry(p, a, b);
        if (e) yield e;
        pushFrame(stack, p, a, b);
      } else if (isAtOrBelow(cursor, p)) {
        // The cursor or an ancestor of it: what follows the cursor is below.
        pushFrame(stack, p, a, b);
      } // else before the cursor, with all below it: skipped whole.
    }
    const top = stack[stack.length - 1];
    if (!top) return;
    if (top.next >= top.names.length) {
      stack.pop();
      continue;
    }
    const name = top.names[top.next++]!;
    const a = top.a?.child(name);
    const b = top.b?.child(name);
    if (!same(a, b)) pending = [childPath(top.path, name), a, b];
  }
}

function pushFrame(stack: Frame[], path: string, a: Node | undefined, b: Node | undefined): void {
  const names = childNames(a, b);
  if (names && names.length) stack.push({ path, a, b, names, next: 0 });
}
