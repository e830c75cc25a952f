/**
 * Frozen directories: the children of a cold subtree packed into one latin1
 * string (one byte per character), instead of a Node object, a slot array
 * and a value string for each node. A host's store is mostly guests' trees
 * that nobody changes once the guest has booted; packed, a node costs its
 * name and value bytes and a few bytes of lengths, and the garbage
 * collector sees one string per subtree instead of hundreds of objects.
 * Reading decodes on the way (a lookup makes the nodes on its path); a
 * change thaws only the directories on its path, one level each, into flat
 * children whose subdirectories stay packed.
 *
 * A directory's body is its children's records, in listing order:
 *   record = varint nameCode, [name], varint aclIndex, varint valueLength,
 *            value, varint childCount,
 *            [when childCount > 0: varint namesVersion, varint bodyLength, body]
 * (varint: 7 bits per byte, low bits first, the high bit set when more follow;
 * nameCode: 2 × the name's length, the name following, or 2 × its number
 * in the name dictionary + 1, nothing following; aclIndex: `Perms.index`;
 * namesVersion: the listing generation, kept).
 *
 * The name dictionary: every guest's tree repeats the same names
 * ("platform-feature-multiprocessor-suspend", "backend-id", "state"), so a
 * packed name is the number of its one copy. It only grows, to at most
 * NAMES_MAX names (then names are packed as they are): a guest inventing
 * names costs it a bounded amount of memory, and changes nothing else.
 */
import { encodeListing, flatChildren, isFlat, sameNames, type Children, type PackedLeafCodec } from "./children.js";
import { Node, OverlayNode } from "./node.js";
import { Perms } from "./perms.js";
import { writeVarint, Writer } from "../state/binary.js";

/** Read position of the decoder (module state: decoding never re-enters). */
let at = 0;

/** Names packed by number (see above): each one's number is its place here. */
const dictionary: string[] = [];
const numbers = new Map<string, number>();
export const NAMES_MAX = 1 << 16;
/** Names this long or longer are worth a number (a 1-character name packs into 2 bytes either way). */
const NAME_MIN = 2;
const NAME_MAX = 64;

/** Names the dictionary holds (diagnostics, tests). */
export function dictionaryNames(): number {
  return dictionary.length;
}

/** The dictionary number of `name`, given one if there is room; -1 for a name packed as it is. */
function nameNumber(name: string): number {
  if (name.length < NAME_MIN || name.length > NAME_MAX) return -1;
  const have = numbers.get(name);
  if (have !== undefined) return have;
  if (dictionary.length >= NAMES_MAX) return -1;
  dictionary.push(name);
  numbers.set(name, dictionary.length - 1);
  return dictionary.length - 1;
}

/** Read a record's name (leaves `at` after it). */
function readName(s: string): string {
  const code = varint(s);
  if (code & 1) return dictionary[code >>> 1]!;
  const length = code >>> 1;
  const name = s.slice(at, at + length);
  at += length;
  return name;
}

/** Does the record name at `at` equal `name`? (leaves `at` after it) */
function nameIs(s: string, name: string): boolean {
  const code = varint(s);
  if (code & 1) return dictionary[code >>> 1] === name;
  const length = code >>> 1;
  const same = length === name.length && s.startsWith(name, at);
  at += length;
  return same;
}

/** Length of the record name at `at` (leaves `at` after it). */
function nameLength(s: string): number {
  const code = varint(s);
  if (code & 1) return dictionary[code >>> 1]!.length;
  at += code >>> 1;
  return code >>> 1;
}

function varint(s: string): number {
  let c = s.charCodeAt(at++);
  if (c < 0x80) return c;
  let x = c & 0x7f;
  let scale = 0x80;
  for (;;) {
    c = s.charCodeAt(at++);
    x += (c & 0x7f) * scale;
    if (c < 0x80) return x;
    scale *= 0x80;
  }
}

/** Move `at` past the rest of a record whose name it has just passed. */
function skipAfterName(s: string): void {
  varint(s);
  const valueLength = varint(s);
  at += valueLength;
  if (varint(s) > 0) {
    varint(s);
    const bodyLength = varint(s);
    at += bodyLength;
  }
}

/** The node whose record starts at `record`; leaves `at` at the record's end. */
function decode(s: string, record: number): Node {
  at = record;
  const name = readName(s);
  const perms = Perms.byIndex(varint(s));
  const valueLength = varint(s);
  const value = s.slice(at, at + valueLength);
  at += valueLength;
  const count = varint(s);
  if (count === 0) return new Node(name, value, perms, null, true);
  const namesVersion = varint(s);
  const bodyLength = varint(s);
  const body = at;
  at += bodyLength;
  return new Node(name, value, perms, new FrozenChildren(s, body, at, count, namesVersion), true);
}

export class FrozenChildren implements Children {
  constructor(
    /** The packed subtree this directory is part of. */
    readonly data: string,
    /** Where this directory's body is in `data`. */
    readonly start: number,
    readonly end: number,
    readonly size: number,
    readonly namesVersion: number,
  ) {}

  /** Start of the record of the child `name`, or -1. */
  private find(name: string): number {
    const s = this.data;
    at = this.start;
    for (let i = 0; i < this.size; i++) {
      const record = at;
      if (nameIs(s, name)) return record;
      skipAfterName(s);
    }
    return -1;
  }

  get(name: string): Node | undefined {
    const record = this.find(name);
    return record < 0 ? undefined : decode(this.data, record);
  }

  has(name: string): boolean {
    return this.find(name) >= 0;
  }

  /** Thawed: flat children (same listing generation), their own subdirectories still packed. */
  private thaw(): Children {
    return flatChildren(this.nodes(), this.namesVersion);
  }

  set(node: Node): Children {
    return this.thaw().set(node);
  }

  delete(name: string): Children {
    return this.has(name) ? this.thaw().delete(name) : this;
  }

  nodes(): Node[] {
    const out: Node[] = [];
    let record = this.start;
    for (let i = 0; i < this.size; i++) {
      out.push(decode(this.data, record));
      record = at;
    }
    return out;
  }

  each(visit: (child: Node) => void): void {
    for (const n of this.nodes()) visit(n);
  }

  names(): readonly string[] {
    const s = this.data;
    const out: string[] = [];
    at = this.start;
    for (let i = 0; i < this.size; i++) {
      out.push(readName(s));
      skipAfterName(s);
    }
    return out;
  }

  get listingLength(): number {
    const s = this.data;
    let n = 0;
    at = this.start;
    for (let i = 0; i < this.size; i++) {
      n += nameLength(s) + 1;
      skipAfterName(s);
    }
    return n;
  }

  listing(): Buffer {
    return encodeListing(this.names());
  }

  sameNames(other: Children | null): boolean {
    return sameNames(this, other);
  }
}

/* ---------- packed children of large directories ---------- */

/*
 * A child of a large directory (children.ts's HAMT) that is cold, its own
 * children packed or none, can be kept there as one string instead of a
 * leaf object, a Node and its FrozenChildren: its listing rank as a
 * varint, then its record as above. Looking it up decodes it, as any
 * packed node is decoded.
 */

/** Packed leaves: the codec large directories read them with (children.ts). */
export const PACKED_LEAVES: PackedLeafCodec = {
  pack(node: Node, rank: number): string | null {
    const c = node.children;
    if (node instanceof OverlayNode || (c !== null && !(c instanceof FrozenChildren))) return null;
    packer.reset();
    packer.varint(rank);
    if (!packRecord(node, true)) return null;
    return packer.buffer.toString("latin1", 0, packer.length);
  },
  rank(leaf: string): number {
    at = 0;
    return varint(leaf);
  },
  is(leaf: string, name: string): boolean {
    at = 0;
    varint(leaf);
    return nameIs(leaf, name);
  },
  name(leaf: string): string {
    at = 0;
    varint(leaf);
    return readName(leaf);
  },
  node(leaf: string): Node {
    at = 0;
    varint(leaf);
    return decode(leaf, at);
  },
};

/**
 * The same children object, or the same packed body (a lookup into packed
 * children makes a new object each time): a subtree shared between two
 * trees, whatever its representation.
 */
export function sameChildren(a: Children | null | undefined, b: Children | null | undefined): boolean {
  if (a === b) return true;
  return a instanceof FrozenChildren && b instanceof FrozenChildren && a.data === b.data && a.start === b.start;
}

/* ---------- packing ---------- */

/** Characters a latin1 string cannot hold (a value never has them; a restored or programmatic one might). */
const UNPACKABLE = /[^\u0000-\u00ff]/;

/** The longest body a record can name with the 3 bytes reserved for its length. */
const MAX_BODY = (1 << 21) - 1;

/** Reused by every packing. */
const packer = new Writer();
const LENGTH_ROOM = Buffer.alloc(3);

/** Write a record body with `body`, preceded by its length as a varint; false when `body` fails or is too long. */
function lengthPrefixed(body: () => boolean): boolean {
  const lengthAt = packer.length;
  packer.raw(LENGTH_ROOM);
  if (!body()) return false;
  const n = packer.length - lengthAt - 3;
  if (n > MAX_BODY) return false;
  const width = n < 0x80 ? 1 : n < 0x4000 ? 2 : 3;
  const buf = packer.buffer;
  // The body moves back over the length bytes it did not need.
  if (width < 3) buf.copyWithin(lengthAt + width, lengthAt + 3, packer.length);
  writeVarint(buf, lengthAt, n);
  packer.rewind(packer.length - (3 - width));
  return true;
}

/** Pack `node`'s record; `literalName`: its name as it is (a large directory's entry: names such as domids and UUIDs do not repeat). */
function packRecord(node: Node, literalName = false): boolean {
  if (UNPACKABLE.test(node.name) || UNPACKABLE.test(node.value)) return false;
  const number = literalName ? -1 : nameNumber(node.name);
  if (number >= 0) packer.varint(number * 2 + 1);
  else {
    packer.varint(node.name.length * 2);
    packer.latin1(node.name);
  }
  packer.varint(node.perms.index);
  packer.varint(node.value.length);
  packer.latin1(node.value);
  const c = node.children;
  if (c === null) {
    packer.varint(0);
    return true;
  }
  if (node instanceof OverlayNode) return false;
  packer.varint(c.size);
  packer.varint(c.namesVersion);
  if (c instanceof FrozenChildren) return lengthPrefixed(() => (packer.latin1(c.data.slice(c.start, c.end)), true));
  return isFlat(c) && lengthPrefixed(() => packBody(c));
}

function packBody(c: Children): boolean {
  for (const kid of c.nodes()) if (!packRecord(kid)) return false;
  return true;
}

/**
 * `children` packed, the same names, order, values, ACLs and listing
 * generations; null when they cannot be: a large (non-flat) directory
 * inside, a transaction's overlay node, or a character above U+00FF.
 */
export function pack(children: Children): FrozenChildren | null {
  packer.reset();
  if (!isFlat(children) || !packBody(children)) return null;
  const data = packer.buffer.toString("latin1", 0, packer.length);
  return new FrozenChildren(data, 0, data.length, children.size, children.namesVersion);
}
