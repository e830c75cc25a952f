/**
 * Pure operations on immutable roots. `TreeEditor` applies a sequence of
 * changes to a root by path copying: each change rebuilds the nodes on one
 * path and shares everything else, so its cost is bounded by the path
 * length, not the store size. It also tallies, per owner domain, how many
 * nodes were created and removed (quota accounting).
 */
import { EMPTY_CHILDREN } from "./children.js";
import { Node } from "./node.js";
import { childPath, components } from "./path.js";
import type { Perms, Principal } from "./perms.js";

export function lookup(root: Node, path: string): Node | undefined {
  if (path === "/") return root;
  let node: Node | undefined = root;
  let start = 1;
  while (node) {
    const slash = path.indexOf("/", start);
    const name = slash < 0 ? path.slice(start) : path.slice(start, slash);
    node = node.child(name);
    if (slash < 0) return node;
    start = slash + 1;
  }
  return undefined;
}

/**
 * Permissions a newly created node gets: a copy of its parent's ACL, owned by
 * the creator when the creator is unprivileged (cx `construct_node`).
 */
export function inheritedPerms(parentPerms: Perms, creator: Principal): Perms {
  return creator.privileged ? parentPerms : parentPerms.withOwner(creator.domid);
}

/** A node removed by `remove`, reported deepest first (cx `delnode_sub` order). */
export interface RemovedNode {
  readonly path: string;
  readonly node: Node;
  /** Perms of the parent at removal time (for the watch permission check). */
  readonly parentPerms: Perms;
}

/** Iterate a subtree depth-first without recursion (deep trees must not exhaust the stack). */
export function walkPostOrder(path: string, node: Node, parentPerms: Perms, visit: (r: RemovedNode) => void): void {
  interface Frame {
    path: string;
    node: Node;
    parentPerms: Perms;
    kids: readonly Node[];
    next: number;
  }
  const stack: Frame[] = [{ path, node, parentPerms, kids: node.children ? node.children.nodes() : [], next: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.next < top.kids.length) {
      const kid = top.kids[top.next++]!;
      stack.push({ path: childPath(top.path, kid.name), node: kid, parentPerms: top.node.perms, kids: kid.children ? kid.children.nodes() : [], next: 0 });
    } else {
      stack.pop();
      visit({ path: top.path, node: top.node, parentPerms: top.parentPerms });
    }
  }
}

export class TreeEditor {
  /** Net change in the number of nodes owned, per domain. */
  readonly ownerDeltas = new Map<number, number>();
  /** Net change in the number of nodes whose ACL names a domain (besides the owner). */
  readonly refDeltas = new Map<number, number>();

  /** The root this session started from. */
  readonly base: Node;

  constructor(public root: Node) {
    this.base = root;
  }

  get changed(): boolean {
    return this.root !== this.base || this.ownerDeltas.size > 0 || this.refDeltas.size > 0;
  }

  get(path: string): Node | undefined {
    return lookup(this.root, path);
  }

  private count(owner: number, delta: number): void {
    this.ownerDeltas.set(owner, (this.ownerDeltas.get(owner) ?? 0) + delta);
  }

  /** `delta` nodes with ACL `perms` appeared (or, negative, went away). */
  private account(perms: Perms, delta: number): void {
    this.count(perms.owner, delta);
    for (const d of perms.referenced) this.refDeltas.set(d, (this.refDeltas.get(d) ?? 0) + delta);
  }

  /** Nodes on the path from the root, as far as they exist. */
  private spine(comps: readonly string[]): Node[] {
    const nodes: Node[] = [this.root];
    for (const c of comps) {
      const next = nodes[nodes.length - 1]!.child(c);
      if (!next) break;
      nodes.push(next);
    }
    return nodes;
  }

  /** Put `leaf` in place of the last node of `spine`, rebuilding its ancestors. */
  private rebuild(spine: readonly Node[], depth: number, leaf: Node): void {
    let cur = leaf;
    for (let i = depth - 1; i >= 0; i--) {
      const parent = spine[i]!;
      cur = parent.withChildren(parent.kids.set(cur));
    }
    this.root = cur;
  }

  /**
   * Create or update the node at `path` (WRITE semantics). Missing ancestors
   * are created with inherited permissions. Returns the paths created, top
   * down (empty when the node existed).
   */
  write(path: string, value: string, creator: Principal): string[] {
    return this.ensure(path, creator, (n) => n.withValue(value), value);
  }

  /** Create the node at `path` if missing (MKDIR semantics). */
  mkdir(path: string, creator: Principal): string[] {
    return this.ensure(path, creator, (n) => n, "");
  }

  private ensure(path: string, creator: Principal, update: (n: Node) => Node, value: string): string[] {
    const comps = components(path);
    const spine = this.spine(comps);
    const have = spine.length - 1;
    if (have === comps.length) {
      const node = spine[have]!;
      const next = update(node);
      if (next !== node) this.rebuild(spine, have, next);
      return [];
    }
    const anchor = spine[have]!;
    const perms = inheritedPerms(anchor.perms, creator);
    const created: string[] = [];
    let prefix = "/" + comps.slice(0, have).join("/");
    if (have === 0) prefix = "/";
    for (let i = have; i < comps.length; i++) {
      prefix = childPath(prefix, comps[i]!);
      created.push(prefix);
    }
    // Build the new chain bottom-up: the leaf holds the value, the rest are empty.
    let chain = new Node(comps[comps.length - 1]!, value, perms, null);
    for (let i = comps.length - 2; i >= have; i--) {
      chain = new Node(comps[i]!, "", perms, EMPTY_CHILDREN.set(chain));
    }
    this.account(perms, created.length);
    this.rebuild(spine, have + 1, chain);
    return created;
  }

  /**
   * Remove the node at `path` and its subtree. Returns every removed node,
   * deepest first, or null when there was nothing to remove.
   */
  remove(path: string): RemovedNode[] | null {
    if (path === "/") throw new RangeError("the root cannot be removed");
    const comps = components(path);
    const spine = this.spine(comps);
    if (spine.length - 1 !== comps.length) return null;
    const node = spine[comps.length]!;
    const parent = spine[comps.length - 1]!;
    const removed: RemovedNode[] = [];
    walkPostOrder(path, node, parent.perms, (r) => {
      removed.push(r);
      this.account(r.node.perms, -1);
    });
    const kids = parent.children!.delete(node.name);
    this.rebuild(spine, comps.length - 1, parent.withChildren(kids));
    return removed;
  }

  /** Replace the ACL of an existing node; returns the previous ACL. */
  setPerms(path: string, perms: Perms): Perms | null {
    const comps = components(path);
    const spine = this.spine(comps);
    if (spine.length - 1 !== comps.length) return null;
    const node = spine[comps.length]!;
    const old = node.perms;
    if (old !== perms) {
      this.account(old, -1);
      this.account(perms, +1);
    }
    this.rebuild(spine, comps.length, node.withPerms(perms));
    return old;
  }

  /** Rewrite every ACL in the tree through `f` (domain cleanup). */
  mapPerms(f: (p: Perms) => Perms): void {
    const map = (node: Node): Node => {
      let children = node.children;
      if (children) {
        for (const kid of children.nodes()) {
          const next = map(kid);
          if (next !== kid) children = children.set(next);
        }
      }
      const perms = f(node.perms);
      if (perms !== node.perms) {
        this.account(node.perms, -1);
        this.account(perms, +1);
      }
      return node.withPerms(perms).withChildren(children);
    };
    this.root = map(this.root);
  }
}
