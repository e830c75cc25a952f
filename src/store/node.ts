/**
 * One immutable node of the store tree. A change never mutates a node: it
 * builds a new node, and new ancestors up to a new root, sharing every
 * untouched subtree (the oxenstored paper's design). Values are kept as
 * latin1 strings, which round-trip any bytes and cost one byte per byte.
 * Names are interned: thousands of guests have the same "name", "domid",
 * "state" nodes.
 */
import type { Children } from "./children.js";
import { Perms } from "./perms.js";

const interned = new Map<string, string>();
const INTERN_MAX_LENGTH = 64;
const INTERN_MAX_ENTRIES = 200_000;

/** The canonical copy of a (short) name, so equal names share one string. */
function intern(name: string): string {
  if (name.length > INTERN_MAX_LENGTH) return name;
  const have = interned.get(name);
  if (have !== undefined) return have;
  // Bounded: a guest inventing names cannot grow the table without end.
  if (interned.size < INTERN_MAX_ENTRIES) interned.set(name, name);
  return name;
}

/** Fixed part of cx's stored node record (`struct xs_tdb_record_hdr`: generation, lengths). */
const NODE_HEADER_SIZE = 24;

/**
 * The size cx gives a node record: header, one `struct xs_permissions` per
 * ACL entry, the value and the NUL-terminated child names.
 */
export function nodeSize(permEntries: number, valueLength: number, listingLength: number): number {
  return NODE_HEADER_SIZE + permEntries * Perms.ENTRY_SIZE + valueLength + listingLength;
}

export class Node {
  /** Last path component; "" for the root. */
  readonly name: string;

  constructor(
    name: string,
    readonly value: string,
    readonly perms: Perms,
    readonly children: Children | null,
    /**
     * The name is already the one to keep: a node's copy with a change
     * (its name was interned when first made), a node made again from its
     * parent's slots (interned when first stored) or decoded from a packed
     * subtree (the name dictionary's copy, or a large directory's entry
     * name such as a domid, which no other node shares).
     */
    nameKept = false,
  ) {
    this.name = nameKept ? name : intern(name);
  }

  withValue(value: string): Node {
    return value === this.value ? this : new Node(this.name, value, this.perms, this.children, true);
  }

  withPerms(perms: Perms): Node {
    return perms === this.perms ? this : new Node(this.name, this.value, perms, this.children, true);
  }

  withChildren(children: Children | null): Node {
    const c = children && children.size === 0 ? null : children;
    return c === this.children ? this : new Node(this.name, this.value, this.perms, c, true);
  }

  child(name: string): Node | undefined {
    return this.children?.get(name);
  }

  /** Whether the listing names NAME (without building the listing). */
  lists(name: string): boolean {
    return this.children ? this.children.has(name) : false;
  }

  /** Child names in insertion order. */
  childNames(): readonly string[] {
    return this.children ? this.children.names() : EMPTY;
  }

  /** The DIRECTORY reply body: child names, each NUL-terminated. */
  listing(): Buffer {
    return this.children ? this.children.listing() : NO_BYTES;
  }

  /** Changes whenever the listing changes (DIRECTORY_PART generation). */
  get listingVersion(): number {
    return this.children ? this.children.namesVersion : 0;
  }

  /** Length of the DIRECTORY reply body. */
  listingLength(): number {
    return this.children ? this.children.listingLength : 0;
  }

  /** Bytes C xenstored charges for this node (node-size quota, memory accounting). */
  get size(): number {
    return nodeSize(this.perms.count, this.value.length, this.listingLength());
  }
}

/**
 * Give `node` another representation of the same children (same names,
 * order, values, ACLs and listing generation): the cold-subtree compactor
 * packs them into one string in place, so every revision sharing the node
 * shares the packed form. Nothing a reader can observe changes.
 */
export function representChildrenAs(node: Node, children: Children): void {
  (node as { children: Children | null }).children = children;
}

const EMPTY: readonly string[] = Object.freeze([]);
const NO_BYTES = Buffer.alloc(0);

/**
 * A transaction's view of a directory whose child list cx would have
 * corrupted: cx appends a child name again when a transaction creates a
 * child its stale copy of the parent still lists. Only ever seen inside a
 * transaction that cannot commit; reproduced so its answers match cx's.
 * The listing is kept explicitly, duplicates included, in cx's order.
 */
export class OverlayNode extends Node {
  constructor(
    base: Node,
    /** Every listed name in listing order, duplicates included. */
    readonly order: readonly string[],
  ) {
    super(base.name, base.value, base.perms, base.children);
  }

  override lists(name: string): boolean {
    return this.order.includes(name);
  }

  override childNames(): readonly string[] {
    return this.order;
  }

  override listing(): Buffer {
    return Buffer.from(this.order.map((n) => `${n}\0`).join(""), "latin1");
  }

  override listingLength(): number {
    let n = 0;
    for (const name of this.order) n += name.length + 1;
    return n;
  }

  override get listingVersion(): number {
    return super.listingVersion + this.order.length;
  }

  override withValue(value: string): Node {
    return value === this.value ? this : new OverlayNode(new Node(this.name, value, this.perms, this.children), this.order);
  }

  override withPerms(perms: Perms): Node {
    return perms === this.perms ? this : new OverlayNode(new Node(this.name, this.value, perms, this.children), this.order);
  }
}
