/**
 * Per-domain accounting read by operators (`xenstore-control quota
 * <domid>`, `check`): C xenstored's memory figure, and the consistency
 * check of the ownership tallies the quotas rely on.
 */
import type { Node } from "../store/node.js";
import { childPath } from "../store/path.js";
import type { Core } from "../server/core.js";

/**
 * cx's memory accounting: each owned node's record (header, ACL, value,
 * child list) plus its path, and the path and token of each watch the
 * domain's connections hold (socket clients count as dom0).
 */
export function memoryOwnedBy(core: Core, domid: number): number {
  let bytes = 0;
  const stack: [string, Node][] = [["/", core.store.root]];
  while (stack.length) {
    const [path, n] = stack.pop()!;
    if (n.perms.owner === domid) bytes += n.size + path.length;
    if (n.children) for (const k of n.children.nodes()) stack.push([childPath(path, k.name), k]);
  }
  for (const c of core.allConnections()) {
    if (c.domid !== domid) continue;
    for (const w of core.watches.ofOwner(c)) bytes += w.path.length + w.token.length;
  }
  return bytes;
}

/** CONTROL check: verify the ownership and reference tallies against the tree; repair them if wrong. */
export function checkStore(core: Core): boolean {
  const { store } = core;
  const counts = store.recount();
  const refs = store.recountRefs();
  const tallies = store.tallies();
  const good = sameCounts(counts, tallies.owned) && sameCounts(refs, tallies.refs);
  if (!good) {
    core.log("check: node ownership counts were inconsistent; repaired");
    store.resetOwnership(counts, refs);
  }
  return good;
}

function sameCounts(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, n] of a) if (b.get(k) !== n) return false;
  return true;
}
