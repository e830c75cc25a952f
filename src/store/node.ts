/**
 * One immutable node of the store tree. A change never mutates a node: it
 * builds a new node, and new ancestors up to a new root, sharing every
 * untouched subtree (the oxenstored paper's design). Values are kept as
 * latin1 strings, which round-trip any bytes and cost one byte per byte.
 */
import type { Children } from "./children.js";
import type { Perms } from "./perms.js";

export class Node {
  constructor(
    /** Last path component; "" for the root. */
    readonly name: string,
    readonly value: string,
    readonly perms: Perms,
    readonly children: Children | null,
    /** Insertion rank among its siblings: directory listings follow it. */
    readonly seq: number,
  ) {}

  withValue(value: string): Node {
    return value === this.value ? this : new Node(this.name, value, this.perms, this.children, this.seq);
  }

  withPerms(perms: Perms): Node {
    return perms === this.perms ? this : new Node(this.name, this.value, perms, this.children, this.seq);
  }

  withChildren(children: Children | null): Node {
    const c = children && children.size === 0 ? null : children;
    return c === this.children ? this : new Node(this.name, this.value, this.perms, c, this.seq);
  }

  child(name: string): Node | undefined {
    return this.children?.get(name);
  }

  get childCount(): number {
    return this.children ? this.children.size : 0;
  }

  /** Child names in insertion order. */
  childNames(): readonly string[] {
    return this.children ? this.children.names() : EMPTY;
  }

  /** Bytes C xenstored charges for this node (header, perms, value, child list). */
  get size(): number {
    return 24 + this.perms.entries.length * 8 + this.value.length + (this.children ? this.children.listingLength : 0);
  }
}

const EMPTY: readonly string[] = Object.freeze([]);
