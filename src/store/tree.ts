/**
 * Pure operations on immutable roots. `TreeEditor` applies a sequence of
 * changes to a root by path copying: each change rebuilds the nodes on one
 * path and shares everything else, so its cost is bounded by the path
 * length, not the store size. It also tallies, per owner domain, how many
 * nodes were created and removed (quota accounting), and records which
 * paths changed and how, for the commit record.
 */
import { childrenOf, EMPTY_CHILDREN } from "./children.js";
import { Node, nodeSize } from "./node.js";
import { childPath, components } from "./path.js";
import type { Perms, Principal } from "./perms.js";
import { walkTree } from "./walk.js";

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

/** How a path changed in one commit. */
export type ChangeKind = "created" | "value" | "perms" | "removed";

export interface PathChange {
  readonly path: string;
  readonly kind: ChangeKind;
}

export class TreeEditor {
  /** Net change in the number of nodes owned, per domain. */
  readonly ownerDeltas = new Map<number, number>();
  /** Net change in the number of nodes whose ACL names a domain (besides the owner). */
  readonly refDeltas = new Map<number, number>();
  /** Net change in the bytes of node records (record size + path) each domain owns (the memory quota). */
  readonly memoryDeltas = new Map<number, number>();

  /** The root this session started from. */
  readonly base: Node;
  /**
   * What changed, in the order it happened: each created node, value and
   * ACL change, and each removed node (a removed subtree lists its nodes
   * deepest first, as their removal events fire).
   */
  readonly changes: PathChange[] = [];

  constructor(public root: Node) {
    this.base = root;
  }

  get changed(): boolean {
    return this.root !== this.base || this.ownerDeltas.size > 0 || this.refDeltas.size > 0 || this.memoryDeltas.size > 0;
  }

  get(path: string): Node | undefined {
    return lookup(this.root, path);
  }

  private charge(owner: number, bytes: number): void {
    if (bytes !== 0) this.memoryDeltas.set(owner, (this.memoryDeltas.get(owner) ?? 0) + bytes);
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
      cur = parent.withChildren(childrenOf(parent).set(cur));
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
      if (next !== node) {
        this.rebuild(spine, have, next);
        this.changes.push({ path, kind: "value" });
        this.charge(node.perms.owner, next.size - node.size);
      }
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
    const entries = perms.count;
    for (let i = 0; i < created.length; i++) {
      const p = created[i]!;
      this.changes.push({ path: p, kind: "created" });
      const leaf = i === created.length - 1;
      this.charge(perms.owner, nodeSize(entries, leaf ? value.length : 0, leaf ? 0 : comps[have + i + 1]!.length + 1) + p.length);
    }
    // The existing ancestor lists one more child.
    this.charge(anchor.perms.owner, comps[have]!.length + 1);
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
    walkTree(path, node, {
      exit: (p, n, above) => {
        removed.push({ path: p, node: n, parentPerms: (above ?? parent).perms });
        this.account(n.perms, -1);
        this.changes.push({ path: p, kind: "removed" });
        this.charge(n.perms.owner, -(n.size + p.length));
      },
    });
    this.charge(parent.perms.owner, -(node.name.length + 1));
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
      const next = node.withPerms(perms);
      this.rebuild(spine, comps.length, next);
      this.changes.push({ path, kind: "perms" });
      this.charge(old.owner, -(node.size + path.length));
      this.charge(perms.owner, next.size + path.length);
    }
    return old;
  }

  /** Rewrite every ACL in the tree through `f` (domain cleanup); untouched subtrees stay shared. */
  mapPerms(f: (p: Perms) => Perms): void {
    // Post-order: a node is rebuilt once its children are, from their
    // replacements (kept by path until their parent takes them).
    const replaced = new Map<string, Node>();
    let root = this.root;
    walkTree("/", this.root, {
      exit: (path, node, parent) => {
        let children = node.children;
        if (children) {
          for (const kid of children.nodes()) {
            const kidPath = childPath(path, kid.name);
            const next = replaced.get(kidPath);
            if (next) {
              replaced.delete(kidPath);
              children = children.set(next);
            }
          }
        }
        const perms = f(node.perms);
        if (perms !== node.perms) {
          this.account(node.perms, -1);
          this.account(perms, +1);
          this.changes.push({ path, kind: "perms" });
          this.charge(node.perms.owner, -(node.size + path.length));
          this.charge(perms.owner, nodeSize(perms.count, node.value.length, node.listingLength()) + path.length);
        }
        const next = node.withPerms(perms).withChildren(children);
        if (next === node) return;
        if (parent) replaced.set(path, next);
        else root = next;
      },
    });
    this.root = root;
  }
}
