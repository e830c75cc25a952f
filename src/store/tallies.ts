/**
 * Per-domain tallies over the committed tree: how many nodes each domain
 * owns (the `nodes` quota), the bytes of their records as cx accounts them
 * (record size plus path: the node part of the `memory` quota), and how
 * many ACLs name it after the owner entry (so a release knows whether
 * there is anything to strip). Kept up to date from each commit's deltas;
 * `CONTROL check` recounts them from the tree.
 */
import type { Node } from "./node.js";
import type { TreeEditor } from "./tree.js";
import { walkTree } from "./walk.js";

export interface Counts {
  readonly owned: ReadonlyMap<number, number>;
  readonly refs: ReadonlyMap<number, number>;
  readonly bytes: ReadonlyMap<number, number>;
}

export class Tallies implements Counts {
  readonly owned = new Map<number, number>();
  readonly refs = new Map<number, number>();
  readonly bytes = new Map<number, number>();

  ownedBy(domid: number): number {
    return this.owned.get(domid) ?? 0;
  }

  referencing(domid: number): number {
    return this.refs.get(domid) ?? 0;
  }

  /** Bytes of the node records `domid` owns (record size + path). */
  bytesOf(domid: number): number {
    return this.bytes.get(domid) ?? 0;
  }

  /** Nodes in the tree (every node has one owner). */
  total(): number {
    let n = 0;
    for (const c of this.owned.values()) n += c;
    return n;
  }

  /** Add a committed editor session's deltas. */
  apply(editor: TreeEditor): void {
    add(this.owned, editor.ownerDeltas);
    add(this.refs, editor.refDeltas);
    add(this.bytes, editor.memoryDeltas);
  }

  /** Replace the tallies (after a recount, or at restore). */
  reset(counts: Counts): void {
    copy(this.owned, counts.owned);
    copy(this.refs, counts.refs);
    copy(this.bytes, counts.bytes);
  }

  /** Do the tallies match a recount of `root`? If not, repair them and say so. */
  check(root: Node): boolean {
    const fresh = recount(root);
    const good = same(fresh.owned, this.owned) && same(fresh.refs, this.refs) && same(fresh.bytes, this.bytes);
    if (!good) this.reset(fresh);
    return good;
  }
}

/** Count owners and ACL references in a tree. */
export function recount(root: Node): Counts {
  const owned = new Map<number, number>();
  const refs = new Map<number, number>();
  const bytes = new Map<number, number>();
  walkTree("/", root, {
    enter(path, node) {
      const owner = node.perms.owner;
      owned.set(owner, (owned.get(owner) ?? 0) + 1);
      bytes.set(owner, (bytes.get(owner) ?? 0) + node.size + path.length);
      for (const d of node.perms.referenced) refs.set(d, (refs.get(d) ?? 0) + 1);
    },
  });
  return { owned, refs, bytes };
}

function add(tally: Map<number, number>, deltas: ReadonlyMap<number, number>): void {
  if (deltas.size === 0) return;
  // forEach: no iterator and entry arrays on the commit path.
  deltas.forEach((delta, domid) => {
    const n = (tally.get(domid) ?? 0) + delta;
    if (n === 0) tally.delete(domid);
    else tally.set(domid, n);
  });
}

function copy(to: Map<number, number>, from: ReadonlyMap<number, number>): void {
  to.clear();
  for (const [d, n] of from) to.set(d, n);
}

function same(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, n] of a) if (b.get(k) !== n) return false;
  return true;
}
