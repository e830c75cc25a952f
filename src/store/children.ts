/**
 * The children of a directory node: a persistent hash array mapped trie
 * (HAMT) keyed by name, so adding, replacing or removing one child of a
 * directory with thousands of entries copies O(log32 n) small arrays rather
 * than the whole list. Listing order is insertion order, as in C xenstored;
 * it is recovered from each child's `seq` and memoised per (immutable) map.
 */
import type { Node } from "./node.js";

interface Bitmap {
  readonly kind: 0;
  readonly bitmap: number;
  readonly entries: readonly Entry[];
}
interface Collision {
  readonly kind: 1;
  readonly hash: number;
  readonly nodes: readonly Node[];
}
type Entry = Node | Bitmap | Collision;

function isInner(e: Entry): e is Bitmap | Collision {
  return (e as Bitmap).kind !== undefined;
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
let versionCounter = 0;

export class Children {
  private orderCache: readonly Node[] | null = null;
  private namesCache: readonly string[] | null = null;
  private listingCache: Buffer | null = null;

  private constructor(
    private readonly root: Bitmap,
    readonly size: number,
    /** Next insertion rank to hand out. */
    readonly nextSeq: number,
    /** Total bytes of the NUL-terminated name list. */
    readonly listingLength: number,
    /**
     * Changes whenever a name is added or removed (not when a child is only
     * replaced): equal versions mean equal listings. Also the DIRECTORY_PART
     * generation.
     */
    readonly namesVersion: number,
  ) {}

  static readonly empty = new Children(EMPTY_ROOT, 0, 0, 0, 0);

  get(name: string): Node | undefined {
    const h = hashOf(name);
    let e: Entry = this.root;
    let shift = 0;
    for (;;) {
      if (!isInner(e)) return e.name === name ? e : undefined;
      if (e.kind === 1) return e.hash === h ? e.nodes.find((n) => n.name === name) : undefined;
      const bit = 1 << ((h >>> shift) & 31);
      if ((e.bitmap & bit) === 0) return undefined;
      e = e.entries[popcount(e.bitmap & (bit - 1))]!;
      shift += 5;
    }
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Insert or replace the child named `node.name`. */
  set(node: Node): Children {
    const prev = this.get(node.name);
    if (prev === node) return this;
    const root = insert(this.root, node, hashOf(node.name), 0) as Bitmap;
    const added = prev === undefined;
    const next = new Children(
      root,
      added ? this.size + 1 : this.size,
      Math.max(this.nextSeq, node.seq + 1),
      added ? this.listingLength + node.name.length + 1 : this.listingLength,
      added ? ++versionCounter : this.namesVersion,
    );
    // A replacement keeps the order: carry the memoised listing over.
    if (!added && prev.seq === node.seq) {
      next.namesCache = this.namesCache;
      next.listingCache = this.listingCache;
    }
    return next;
  }

  delete(name: string): Children {
    if (!this.has(name)) return this;
    const root = (remove(this.root, name, hashOf(name), 0) ?? EMPTY_ROOT) as Bitmap;
    return new Children(root, this.size - 1, this.nextSeq, this.listingLength - name.length - 1, ++versionCounter);
  }

  /** Children in insertion order. */
  nodes(): readonly Node[] {
    if (!this.orderCache) {
      const all: Node[] = [];
      collect(this.root, all);
      all.sort((a, b) => a.seq - b.seq);
      this.orderCache = all;
    }
    return this.orderCache;
  }

  /** Same names in the same order? */
  sameNames(other: Children | null): boolean {
    if (!other) return this.size === 0;
    if (other === this || other.namesVersion === this.namesVersion) return true;
    if (other.size !== this.size) return false;
    const a = this.names();
    const b = other.names();
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  names(): readonly string[] {
    if (!this.namesCache) this.namesCache = this.nodes().map((n) => n.name);
    return this.namesCache;
  }

  /** The DIRECTORY reply body: each name NUL-terminated, in order. */
  listing(): Buffer {
    if (!this.listingCache) {
      const buf = Buffer.allocUnsafe(this.listingLength);
      let off = 0;
      for (const n of this.nodes()) {
        off += buf.write(n.name, off, "latin1");
        buf[off++] = 0;
      }
      this.listingCache = buf;
    }
    return this.listingCache;
  }
}

function collect(e: Entry, out: Node[]): void {
  if (!isInner(e)) out.push(e);
  else if (e.kind === 1) out.push(...e.nodes);
  else for (const c of e.entries) collect(c, out);
}

/** A subtree holding two leaves whose hashes agree on the bits below `shift`. */
function pair(a: Node | Collision, ha: number, b: Node, hb: number, shift: number): Entry {
  if (shift >= 32) {
    // Full 32-bit collision: list them.
    const nodes = isInner(a) ? [...a.nodes, b] : [a, b];
    return { kind: 1, hash: hb, nodes };
  }
  if (ha === hb && isInner(a)) return { kind: 1, hash: hb, nodes: [...a.nodes, b] };
  const ia = (ha >>> shift) & 31;
  const ib = (hb >>> shift) & 31;
  if (ia === ib) return { kind: 0, bitmap: 1 << ia, entries: [pair(a, ha, b, hb, shift + 5)] };
  const entries = ia < ib ? [a, b] : [b, a];
  return { kind: 0, bitmap: (1 << ia) | (1 << ib), entries };
}

function insert(e: Entry, node: Node, h: number, shift: number): Entry {
  if (!isInner(e)) {
    if (e.name === node.name) return node;
    return pair(e, hashOf(e.name), node, h, shift);
  }
  if (e.kind === 1) {
    if (e.hash !== h) return pair(e, e.hash, node, h, shift);
    const i = e.nodes.findIndex((n) => n.name === node.name);
    const nodes = e.nodes.slice();
    if (i >= 0) nodes[i] = node;
    else nodes.push(node);
    return { kind: 1, hash: h, nodes };
  }
  const bit = 1 << ((h >>> shift) & 31);
  const idx = popcount(e.bitmap & (bit - 1));
  const entries = e.entries.slice();
  if ((e.bitmap & bit) === 0) {
    entries.splice(idx, 0, node);
    return { kind: 0, bitmap: e.bitmap | bit, entries };
  }
  entries[idx] = insert(e.entries[idx]!, node, h, shift + 5);
  return { kind: 0, bitmap: e.bitmap, entries };
}

/** Remove `name`; returns the replacement entry, or null when nothing is left. */
function remove(e: Entry, name: string, h: number, shift: number): Entry | null {
  if (!isInner(e)) return e.name === name ? null : e;
  if (e.kind === 1) {
    const nodes = e.nodes.filter((n) => n.name !== name);
    if (nodes.length === 1) return nodes[0]!;
    return { kind: 1, hash: e.hash, nodes };
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
  // Collapse a branch left holding a single leaf into that leaf (not at the root).
  if (shift > 0 && entries.length === 1 && (!isInner(entries[0]!) || entries[0]!.kind === 1)) return entries[0]!;
  if (entries.length === 0) return shift > 0 ? null : EMPTY_ROOT;
  return { kind: 0, bitmap, entries };
}
