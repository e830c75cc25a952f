/**
 * Past trees rebuilt from the present one. The history keeps no old trees
 * (an old tree pins every directory copy its commit made: a few KiB per
 * commit in a store of thousands of domains), only each commit's changes
 * with the state of each path before and after. Undoing a commit's changes
 * on a tree, newest change first, gives the tree before it; the result
 * shares every untouched subtree with the tree it started from, so the
 * tree differ still skips what is shared.
 *
 * A node that comes back by undoing its removal is listed after its
 * siblings (where it was listed is not recorded), so a past directory lists
 * the same names, perhaps in another order: the history shows children by
 * name.
 */
import type { ChangeEntry, NodeState } from "../store/changes.js";
import { childrenOf } from "../store/children.js";
import { Node } from "../store/node.js";
import { components } from "../store/path.js";
import { Perms } from "../store/perms.js";

const PLACEHOLDER_ACL = "n0";

function permsOf(acl: string): Perms {
  return Perms.fromKey(acl) ?? Perms.fromKey(PLACEHOLDER_ACL)!;
}

/**
 * `root` with the node at `comps` replaced by `leaf(current)` (undefined
 * to remove it), rebuilding its ancestors. A missing ancestor is made as a
 * placeholder; the undo of its own change gives it its state.
 */
function replaceAt(root: Node, comps: readonly string[], leaf: (current: Node | undefined) => Node | undefined): Node {
  const spine: Node[] = [root];
  for (let i = 0; i < comps.length - 1; i++) {
    const parent = spine[i]!;
    spine.push(parent.child(comps[i]!) ?? new Node(comps[i]!, "", permsOf(PLACEHOLDER_ACL), null));
  }
  const parent = spine[comps.length - 1]!;
  const name = comps[comps.length - 1]!;
  const next = leaf(parent.child(name));
  const kids = childrenOf(parent);
  let cur = parent.withChildren(next ? kids.set(next) : kids.has(name) ? kids.delete(name) : kids);
  for (let i = comps.length - 2; i >= 0; i--) {
    const up = spine[i]!;
    cur = up.withChildren(childrenOf(up).set(cur));
  }
  return cur;
}

/** The tree `root` with `path` put back in state `state` (null: absent), its children kept. */
export function restore(root: Node, path: string, state: NodeState | null): Node {
  if (path === "/") return state ? new Node("", state.value, permsOf(state.acl), root.children) : root;
  const comps = components(path);
  return replaceAt(root, comps, (cur) => {
    if (!state) return undefined;
    const perms = permsOf(state.acl);
    if (!cur) return new Node(comps[comps.length - 1]!, state.value, perms, null);
    return cur.withValue(state.value).withPerms(perms);
  });
}

/** The tree before `changes` were made, from the tree after them. */
export function undo(root: Node, changes: readonly ChangeEntry[]): Node {
  let tree = root;
  for (let i = changes.length - 1; i >= 0; i--) {
    const e = changes[i]!;
    tree = restore(tree, e.path, e.before);
  }
  return tree;
}
