/**
 * What a commit did to each path it touched, as plain data: the node's
 * value and ACL before and after (null: absent). The journal and the
 * history both record commits this way.
 */
import type { CommitRecord } from "./store.js";
import { lookup, type ChangeKind } from "./tree.js";
import type { Node } from "./node.js";

/** A node as a commit record describes it. */
export interface NodeState {
  readonly value: string;
  /** The ACL in its key form (Perms.key, e.g. "n0,r5"). */
  readonly acl: string;
}

export interface ChangeEntry {
  readonly path: string;
  /** The first kind of change the commit made to the path. */
  readonly kind: ChangeKind;
  readonly before: NodeState | null;
  readonly after: NodeState | null;
}

/** The state of `path` in the tree `root`, or null if absent. */
export function stateAt(root: Node, path: string): NodeState | null {
  const n = lookup(root, path);
  return n ? { value: n.value, acl: n.perms.key } : null;
}

/**
 * Each path the commit touched, once, in the order first touched, with
 * its state before and after. A removed subtree is one entry (its root).
 */
export function commitChanges(r: CommitRecord): readonly ChangeEntry[] {
  // The journal (before the commit is installed) and the history (after)
  // both ask for the commit being made: computed once.
  if (r === lastRecord) return lastChanges;
  const out: ChangeEntry[] = [];
  // A single edit (most commits) cannot repeat a path.
  const seen = r.changes.length > 1 ? new Set<string>() : null;
  for (const c of r.changes) {
    if (seen) {
      if (seen.has(c.path)) continue;
      seen.add(c.path);
    }
    out.push({ path: c.path, kind: c.kind, before: stateAt(r.before.root, c.path), after: stateAt(r.after.root, c.path) });
  }
  lastRecord = r;
  lastChanges = out;
  return out;
}

let lastRecord: CommitRecord | null = null;
let lastChanges: readonly ChangeEntry[] = [];
