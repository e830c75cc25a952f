/**
 * C xenstored's per-domain memory accounting (4.17+, the `memory` quota):
 * the nodes a domain owns (each record's size plus its path), its
 * watches (path and token), and its replies and events waiting to go out
 * (each with its 16-byte header). The node part is kept up to date from
 * each commit's changed paths, so a check costs nothing like a walk; the
 * rest comes from the connections.
 */
import type { Node } from "../store/node.js";
import { parentOf } from "../store/path.js";
import type { CommitRecord } from "../store/store.js";
import { lookup } from "../store/tree.js";
import { walkTree } from "../store/walk.js";

export interface ConnectionUsage {
  usage(domid: number): { watches: number; output: number };
}

/** Bytes of the node records each domain owns. */
export class NodeMemory {
  private readonly bytes = new Map<number, number>();

  constructor(root: Node) {
    this.reset(root);
  }

  of(domid: number): number {
    return this.bytes.get(domid) ?? 0;
  }

  private add(domid: number, n: number): void {
    const v = (this.bytes.get(domid) ?? 0) + n;
    if (v === 0) this.bytes.delete(domid);
    else this.bytes.set(domid, v);
  }

  /** A commit changed these paths: re-charge each, and the parent whose child list changed. */
  applyCommit(r: CommitRecord): void {
    if (r.changes.length === 0) return;
    const touched = new Set<string>();
    for (const c of r.changes) {
      touched.add(c.path);
      if (c.kind === "created" || c.kind === "removed") touched.add(parentOf(c.path));
    }
    for (const path of touched) {
      const before = lookup(r.before.root, path);
      const after = lookup(r.after.root, path);
      if (before === after) continue;
      if (before) this.add(before.perms.owner, -(before.size + path.length));
      if (after) this.add(after.perms.owner, after.size + path.length);
    }
  }

  /** Recount from a tree (start, restore); returns whether the counts were right. */
  reset(root: Node): boolean {
    const fresh = new Map<number, number>();
    walkTree("/", root, {
      enter(path, n) {
        fresh.set(n.perms.owner, (fresh.get(n.perms.owner) ?? 0) + n.size + path.length);
      },
    });
    let same = fresh.size === this.bytes.size;
    for (const [d, v] of fresh) if (this.bytes.get(d) !== v) same = false;
    this.bytes.clear();
    for (const [d, v] of fresh) this.bytes.set(d, v);
    return same;
  }
}

export class DomainMemory {
  constructor(
    readonly nodes: NodeMemory,
    private readonly connections: ConnectionUsage,
  ) {}

  /** A domain's accounted bytes, as `xenstore-control quota <domid>` shows them. */
  of(domid: number): number {
    const u = this.connections.usage(domid);
    return this.nodes.of(domid) + u.watches + u.output;
  }
}
