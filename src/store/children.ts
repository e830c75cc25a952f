/**
 * The children of a directory node, in insertion order (as C xenstored
 * lists them), as a persistent (immutable) map from name to child.
 *
 * Memory matters: a host stores ~60 nodes for each of thousands of guests.
 * Small directories (the vast majority) are one flat array of slots in
 * listing order, and a childless child is packed into its parent's slots
 * (name, value, ACL) instead of being a Node object of its own; it becomes
 * a Node again when looked up. Directories beyond SMALL_MAX entries switch
 * to a hash array mapped trie (HAMT), so that changing one child of
 * /local/domain with 10,000 entries copies a few 32-slot arrays, not the
 * whole list; listing order there comes from a per-entry rank.
 */
import { Node } from "./node.js";
import type { Perms } from "./perms.js";

/** Largest directory kept as a flat array. */
const SMALL_MAX = 32;

let versionCounter = 0;

export interface Children {
  readonly size: number;
  /** Changes when a name is added or removed, never when a child is only replaced. */
  readonly namesVersion: number;
  get(name: string): Node | undefined;
  has(name: string): boolean;
  /** Replace the child named `node.name`, or append it as the last child. */
  set(node: Node): Children;
  delete(name: string): Children;
  /** Children in listing order (childless ones materialised as Node objects). */
  nodes(): Node[];
  /** Each child, in no particular order (cheaper than `nodes()` for a large directory). */
  each(visit: (child: Node) => void): void;
  names(): readonly string[];
  /** The DIRECTORY reply body: names, each NUL-terminated (memoised). */
  listing(): Buffer;
  /** Its length, without building it (node sizes, memory accounting). */
  readonly listingLength: number;
  /** Same names in the same order? */
  sameNames(other: Children | null): boolean;
}

export function sameNames(a: Children, b: Children | null): boolean {
  if (!b) return a.size === 0;
  if (a === b || a.namesVersion === b.namesVersion) return true;
  if (a.size !== b.size) return false;
  const x = a.names();
  const y = b.names();
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

export function encodeListing(names: readonly string[]): Buffer {
  let len = 0;
  for (const n of names) len += n.length + 1;
  const buf = Buffer.allocUnsafe(len);
  let off = 0;
  for (const n of names) {
    off += buf.write(n, off, "latin1");
    buf[off++] = 0;
  }
  return buf;
}

/* ---------- small directories: packed slots ---------- */

/**
 * Slots are triples [name, value, perms] for a childless child, or
 * [name, node, null] for a child with children of its own.
 */
type Slot = string | Node | Perms | null;

class SmallChildren implements Children {
  private listingCache: Buffer | null = null;

  constructor(
    private readonly slots: readonly Slot[],
    readonly namesVersion: number,
  ) {}

  get size(): number {
    return this.slots.length / 3;
  }

  get listingLength(): number {
    let n = 0;
    for (let i = 0; i < this.slots.length; i += 3) n += (this.slots[i] as string).length + 1;
    return n;
  }

  private indexOf(name: string): number {
    const s = this.slots;
    for (let i = 0; i < s.length; i += 3) if (s[i] === name) return i;
    return -1;
  }

  private at(i: number): Node {
    const s = this.slots;
    const v = s[i + 1];
    return v instanceof Node ? v : new Node(s[i] as string, v as string, s[i + 2] as Perms, null, true);
  }

  get(name: string): Node | undefined {
    const i = this.indexOf(name);
    return i < 0 ? undefined : this.at(i);
  }

  has(name: string): boolean {
    return this.indexOf(name) >= 0;
  }

  set(node: Node): Children {
    const i = this.indexOf(node.name);
    if (i < 0 && this.size >= SMALL_MAX) return LargeChildren.from(this.nodes()).set(node);
    const leaf = node.children === null;
    const second: Slot = leaf ? node.value : node;
    const third: Slot = leaf ? node.perms : null;
    if (i >= 0) {
      if (this.slots[i + 1] === second && this.slots[i + 2] === third) return this;
      const slots = this.slots.slice();
      slots[i + 1] = second;
      slots[i + 2] = third;
      const next = new SmallChildren(slots, this.namesVersion);
      next.listingCache = this.listingCache;
      return next;
    }
    // Exact-size arrays: growing one with push would leave spare capacity
    // in every directory of the store.
    return new SmallChildren(this.slots.concat(node.name, second, third), ++versionCounter);
  }

  delete(name: string): Children {
    const i = this.indexOf(name);
    if (i < 0) return this;
    return new SmallChildren(this.slots.slice(0, i).concat(this.slots.slice(i + 3)), ++versionCounter);
  }

  nodes(): Node[] {
    const out: Node[] = [];
    for (let i = 0; i < this.slots.length; i += 3) out.push(this.at(i));
    return out;
  }

  each(visit: (child: Node) => void): void {
    for (let i = 0; i < this.slots.length; i += 3) visit(this.at(i));
  }

  names(): readonly string[] {
    const out: string[] = [];
    for (let i = 0; i < this.slots.length; i += 3) out.push(this.slots[i] as string);
    return out;
  }

  listing(): Buffer {
    return (this.listingCache ??= encodeListing(this.names()));
  }

  sameNames(other: Children | null): boolean {
    return sameNames(this, other);
  }
}

/* ---------- large directories: HAMT ---------- */

/** A HAMT leaf: the child and its listing rank. */
interface LeafObject {
  readonly node: Node;
  readonly rank: number;
}
/**
 * Or, for a cold child, both packed into one string (frozen.ts's packed
 * leaf): 10,000 guests' homes in /local/domain cost their packed bytes,
 * not three objects each.
 */
type Leaf = LeafObject | string;

/** How a child and its rank are packed into one string and read back (store/frozen.ts implements it). */
export interface PackedLeafCodec {
  /** The packed leaf, or null when `node` is not cold and packable. */
  pack(node: Node, rank: number): string | null;
  rank(leaf: string): number;
  is(leaf: string, name: string): boolean;
  name(leaf: string): string;
  /** A new node object at each call. */
  node(leaf: string): Node;
}

/**
 * The codec of every packed leaf, installed by the first packing
 * (`packLeaves`): no leaf is packed before it. Passed in rather than
 * imported, as the packed format builds on these directories.
 */
let codec: PackedLeafCodec | null = null;
interface Bitmap {
  readonly kind: 0;
  readonly bitmap: number;
  readonly entries: readonly HamtEntry[];
}
interface Collision {
  readonly kind: 1;
  readonly hash: number;
  readonly leaves: readonly Leaf[];
}
type HamtEntry = Leaf | Bitmap | Collision;

function isInner(e: HamtEntry): e is Bitmap | Collision {
  return typeof e !== "string" && (e as Bitmap).kind !== undefined;
}

function leafIs(l: Leaf, name: string): boolean {
  return typeof l === "string" ? codec!.is(l, name) : l.node.name === name;
}

function leafName(l: Leaf): string {
  return typeof l === "string" ? codec!.name(l) : l.node.name;
}

function leafNode(l: Leaf): Node {
  return typeof l === "string" ? codec!.node(l) : l.node;
}

function leafRank(l: Leaf): number {
  return typeof l === "string" ? codec!.rank(l) : l.rank;
}

/** Leaves in listing order. */
function byRank(leaves: Leaf[]): Leaf[] {
  const ranked = leaves.map((l) => [leafRank(l), l] as const);
  ranked.sort((a, b) => a[0] - b[0]);
  return ranked.map((r) => r[1]);
}

/** FNV-1a over the name's char codes (names are short ASCII). */
function hashOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

const EMPTY_ROOT: Bitmap = { kind: 0, bitmap: 0, entries: [] };

class LargeChildren implements Children {
  private listingCache: Buffer | null = null;

  private constructor(
    private readonly root: Bitmap,
    readonly size: number,
    private readonly nextRank: number,
    readonly namesVersion: number,
    /** Kept as names come and go: building a listing of thousands of names to measure it would cost O(n). */
    readonly listingLength: number,
  ) {}

  static from(nodes: readonly Node[]): LargeChildren {
    let c = new LargeChildren(EMPTY_ROOT, 0, 0, ++versionCounter, 0);
    for (const n of nodes) c = c.set(n);
    return c;
  }

  private leaf(name: string): Leaf | undefined {
    const h = hashOf(name);
    let e: HamtEntry = this.root;
    let shift = 0;
    for (;;) {
      if (!isInner(e)) return leafIs(e, name) ? e : undefined;
      if (e.kind === 1) return e.hash === h ? e.leaves.find((l) => leafIs(l, name)) : undefined;
      const bit = 1 << ((h >>> shift) & 31);
      if ((e.bitmap & bit) === 0) return undefined;
      e = e.entries[popcount(e.bitmap & (bit - 1))]!;
      shift += 5;
    }
  }

  get(name: string): Node | undefined {
    const l = this.leaf(name);
    return l === undefined ? undefined : leafNode(l);
  }

  has(name: string): boolean {
    return this.leaf(name) !== undefined;
  }

  set(node: Node): LargeChildren {
    const prev = this.leaf(node.name);
    if (prev !== undefined && typeof prev !== "string" && prev.node === node) return this;
    const leaf: LeafObject = { node, rank: prev !== undefined ? leafRank(prev) : this.nextRank };
    const root = insert(this.root, leaf, hashOf(node.name), 0) as Bitmap;
    const next = prev
      ? new LargeChildren(root, this.size, this.nextRank, this.namesVersion, this.listingLength)
      : new LargeChildren(root, this.size + 1, this.nextRank + 1, ++versionCounter, this.listingLength + node.name.length + 1);
    if (prev) next.listingCache = this.listingCache;
    return next;
  }

  delete(name: string): Children {
    if (!this.has(name)) return this;
    if (this.size - 1 <= SMALL_MAX / 2) {
      // Back to a flat array once small again.
      let small: Children = new SmallChildren([], ++versionCounter);
      for (const n of this.nodes()) if (n.name !== name) small = small.set(n);
      return small;
    }
    const root = (remove(this.root, name, hashOf(name), 0) ?? EMPTY_ROOT) as Bitmap;
    return new LargeChildren(root, this.size - 1, this.nextRank, ++versionCounter, this.listingLength - name.length - 1);
  }

  nodes(): Node[] {
    return byRank(this.leaves()).map(leafNode);
  }

  each(visit: (child: Node) => void): void {
    eachLeaf(this.root, (l) => visit(leafNode(l)));
  }

  /** Each child not packed into its leaf. */
  eachUnpacked(visit: (child: Node) => void): void {
    eachLeaf(this.root, (l) => {
      if (typeof l !== "string") visit(l.node);
    });
  }

  names(): readonly string[] {
    return byRank(this.leaves()).map(leafName);
  }

  private leaves(): Leaf[] {
    const out: Leaf[] = [];
    eachLeaf(this.root, (l) => out.push(l));
    return out;
  }

  /**
   * Pack the cold children (their own children packed, or none) into their
   * leaves, in place: every version of this directory sharing a leaf shares
   * the packed form, and nothing a reader can observe changes. Returns how
   * many were packed.
   */
  packLeaves(with_: PackedLeafCodec): number {
    if (codec !== null && codec !== with_) throw new Error("packed leaves have one codec");
    codec = with_;
    let packed = 0;
    const visit = (e: Bitmap | Collision): void => {
      const slots = (e.kind === 1 ? e.leaves : e.entries) as HamtEntry[];
      for (let i = 0; i < slots.length; i++) {
        const x = slots[i]!;
        if (typeof x === "string") continue;
        if (isInner(x)) {
          visit(x);
          continue;
        }
        const leaf = with_.pack(x.node, x.rank);
        if (leaf !== null) {
          slots[i] = leaf;
          packed++;
        }
      }
    };
    visit(this.root);
    return packed;
  }

  listing(): Buffer {
    return (this.listingCache ??= encodeListing(this.names()));
  }

  sameNames(other: Children | null): boolean {
    return sameNames(this, other);
  }
}

function eachLeaf(e: HamtEntry, visit: (leaf: Leaf) => void): void {
  if (!isInner(e)) visit(e);
  else if (e.kind === 1) for (const l of e.leaves) visit(l);
  else for (const c of e.entries) eachLeaf(c, visit);
}

function leafHash(e: Leaf | Collision): number {
  return isInner(e) ? e.hash : hashOf(leafName(e));
}

/** A subtree holding `a` and the new leaf `b`, whose hashes agree below `shift`. */
function pair(a: Leaf | Collision, ha: number, b: Leaf, hb: number, shift: number): HamtEntry {
  if (ha === hb) return { kind: 1, hash: hb, leaves: isInner(a) ? [...a.leaves, b] : [a, b] };
  const ia = (ha >>> shift) & 31;
  const ib = (hb >>> shift) & 31;
  if (ia === ib) return { kind: 0, bitmap: 1 << ia, entries: [pair(a, ha, b, hb, shift + 5)] };
  return { kind: 0, bitmap: (1 << ia) | (1 << ib), entries: ia < ib ? [a, b] : [b, a] };
}

function insert(e: HamtEntry, leaf: LeafObject, h: number, shift: number): HamtEntry {
  if (!isInner(e)) return leafIs(e, leaf.node.name) ? leaf : pair(e, leafHash(e), leaf, h, shift);
  if (e.kind === 1) {
    if (e.hash !== h) return pair(e, e.hash, leaf, h, shift);
    const i = e.leaves.findIndex((l) => leafIs(l, leaf.node.name));
    const leaves = e.leaves.slice();
    if (i >= 0) leaves[i] = leaf;
    else leaves.push(leaf);
    return { kind: 1, hash: h, leaves };
  }
  const bit = 1 << ((h >>> shift) & 31);
  const idx = popcount(e.bitmap & (bit - 1));
  const entries = e.entries.slice();
  if ((e.bitmap & bit) === 0) {
    entries.splice(idx, 0, leaf);
    return { kind: 0, bitmap: e.bitmap | bit, entries };
  }
  entries[idx] = insert(e.entries[idx]!, leaf, h, shift + 5);
  return { kind: 0, bitmap: e.bitmap, entries };
}

/** Remove `name`; the replacement entry, or null when nothing is left. */
function remove(e: HamtEntry, name: string, h: number, shift: number): HamtEntry | null {
  if (!isInner(e)) return leafIs(e, name) ? null : e;
  if (e.kind === 1) {
    const leaves = e.leaves.filter((l) => !leafIs(l, name));
    return leaves.length === 1 ? leaves[0]! : { kind: 1, hash: e.hash, leaves };
  }
  const bit = 1 << ((h >>> shift) & 31);
  if ((e.bitmap & bit) === 0) return e;
  const idx = popcount(e.bitmap & (bit - 1));
  const sub = remove(e.entries[idx]!, name, h, shift + 5);
  const entries = e.entries.slice();
  let bitmap = e.bitmap;
  if (sub === null) {
    entries.splice(idx, 1);
    bitmap &= ~bit;
  } else {
    entries[idx] = sub;
  }
  // A branch left holding a single leaf collapses into it (not at the root).
  if (shift > 0 && entries.length === 1 && (!isInner(entries[0]!) || entries[0]!.kind === 1)) return entries[0]!;
  if (entries.length === 0) return shift > 0 ? null : EMPTY_ROOT;
  return { kind: 0, bitmap, entries };
}

export const EMPTY_CHILDREN: Children = new SmallChildren([], 0);

/** A node's children, or an empty map to add to. */
export function childrenOf(node: Node): Children {
  return node.children ?? EMPTY_CHILDREN;
}

/** Children holding `nodes` in that order, built at once (state restore); null when there are none. */
export function childrenFrom(nodes: readonly Node[]): Children | null {
  if (nodes.length === 0) return null;
  if (nodes.length > SMALL_MAX) return LargeChildren.from(nodes);
  return flatChildren(nodes, ++versionCounter);
}

/**
 * At most SMALL_MAX children as one flat array, keeping the listing
 * generation `namesVersion` (a frozen directory thawed for a change).
 */
export function flatChildren(nodes: readonly Node[], namesVersion: number): Children {
  if (nodes.length > SMALL_MAX) throw new RangeError(`${nodes.length} children are too many for a flat directory`);
  const slots: Slot[] = [];
  for (const n of nodes) {
    const leaf = n.children === null;
    slots.push(n.name, leaf ? n.value : n, leaf ? n.perms : null);
  }
  // slice: an exact-size copy, without the spare capacity push leaves.
  return new SmallChildren(slots.slice(), namesVersion);
}

/** Each child of `c` not packed into a large directory's leaf (those are cold: nothing to pack below). */
export function eachUnpacked(c: Children, visit: (child: Node) => void): void {
  if (c instanceof LargeChildren) c.eachUnpacked(visit);
  else c.each(visit);
}

/** Pack the cold children of a large directory into its leaves with `with_` (LargeChildren.packLeaves); 0 for others. */
export function packLeaves(c: Children, with_: PackedLeafCodec): number {
  return c instanceof LargeChildren ? c.packLeaves(with_) : 0;
}

/** Is `c` a flat directory (at most SMALL_MAX children, listed in insertion order)? */
export function isFlat(c: Children): boolean {
  return c instanceof SmallChildren;
}

/**
 * The last listing generation handed out (DIRECTORY_PART's generation).
 * A restored daemon continues above the dumped value, so a client paging
 * through a listing across a restore sees the generation change.
 */
export function listingGeneration(): number {
  return versionCounter;
}

export function continueListingGenerations(above: number): void {
  if (versionCounter < above) versionCounter = above;
}
