/**
 * Where the history keeps its commits: encoded as bytes in chunks outside
 * the JavaScript heap, with an index of typed arrays, instead of a few
 * objects per commit. Retained commits live for thousands of commits, so
 * as objects each one was copied by the young-generation collector, promoted,
 * and later swept from the old generation: on write-heavy traffic that cost
 * more than recording them (measured: upstream test-xenstore, 13% of the
 * daemon's CPU). Bytes outside the heap cost the collector nothing; a
 * commit is decoded again only when a query asks for it (rarely).
 *
 * Encoding of one commit (little-endian): time f64, domid i32, conn u32,
 * txId u32, op (u16 length, latin1), change count u32, then per change:
 * kind u8, path (u32 length, latin1), before and after states, each a
 * presence byte then (if present) value and ACL key (u32 length, latin1,
 * each).
 */
import { writeLatin1, writeU32 } from "../state/binary.js";
import type { ChangeEntry, NodeState } from "../store/changes.js";
import type { CommitMeta } from "../store/store.js";
import type { ChangeKind } from "../store/tree.js";

/** One archived commit, decoded: who made it and when (CommitMeta), its revision and what it changed. */
export interface ArchivedCommit extends Required<CommitMeta> {
  readonly revision: number;
  /** Each path the commit touched, once, with its state before and after. */
  readonly changes: readonly ChangeEntry[];
  /** What retaining this commit costs: its encoded bytes and its index entry. */
  readonly bytes: number;
}

/** What an archived commit costs besides its encoding: its index entry (three typed-array slots). */
export const INDEX_BYTES = 16;
/** Chunks are allocated this size (a commit larger than that gets a chunk of its own). */
const CHUNK = 256 * 1024;

const KINDS: readonly ChangeKind[] = ["created", "value", "perms", "removed"];
const KIND_CODE: Readonly<Record<ChangeKind, number>> = { created: 0, value: 1, perms: 2, removed: 3 };

interface Chunk {
  /** Position of the chunk's first byte in the archive's byte stream. */
  readonly base: number;
  readonly buf: Buffer;
}

const stateBytes = (s: NodeState | null): number => (s ? 1 + 4 + s.value.length + 4 + s.acl.length : 1);

/** Bytes `changes` of a commit made through `op` encode to. */
export function encodedBytes(op: string, changes: readonly ChangeEntry[]): number {
  let n = 8 + 4 + 4 + 4 + 2 + op.length + 4;
  for (const c of changes) n += 1 + 4 + c.path.length + stateBytes(c.before) + stateBytes(c.after);
  return n;
}

export class CommitArchive {
  private chunks: Chunk[] = [];
  /** Where the next commit goes in the byte stream. */
  private tail = 0;
  /** Index, slot per commit from `first` to `count` - 1 (consecutive revisions from `firstRevision`). */
  private starts = new Float64Array(1024);
  private lengths = new Uint32Array(1024);
  private times = new Float64Array(1024);
  private first = 0;
  private count = 0;
  private firstRevision = 1;

  /** Commits retained. */
  get size(): number {
    return this.count - this.first;
  }

  /** Forget everything; the next commit appended will be `revision`. */
  clear(revision: number): void {
    this.chunks = [];
    this.tail = 0;
    this.first = this.count = 0;
    this.firstRevision = revision;
  }

  /** Append the commit of the next revision; returns what retaining it costs (ArchivedCommit.bytes). */
  append(time: number, domid: number, conn: number, op: string, txId: number, changes: readonly ChangeEntry[]): number {
    const length = encodedBytes(op, changes);
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || this.tail + length > chunk.base + chunk.buf.length) {
      chunk = { base: this.tail, buf: Buffer.allocUnsafeSlow(Math.max(CHUNK, length)) };
      this.chunks.push(chunk);
    }
    const buf = chunk.buf;
    let at = this.tail - chunk.base;
    at = buf.writeDoubleLE(time, at);
    at = writeU32(buf, at, domid);
    at = writeU32(buf, at, conn);
    at = writeU32(buf, at, txId);
    at = buf.writeUInt16LE(op.length, at);
    at = writeLatin1(buf, at, op);
    at = writeU32(buf, at, changes.length);
    for (const c of changes) {
      buf[at++] = KIND_CODE[c.kind];
      at = writeU32(buf, at, c.path.length);
      at = writeLatin1(buf, at, c.path);
      at = writeState(buf, at, c.before);
      at = writeState(buf, at, c.after);
    }
    this.index(this.tail, length, time);
    this.tail += length;
    return length + INDEX_BYTES;
  }

  private index(start: number, length: number, time: number): void {
    if (this.count === this.starts.length) {
      const live = this.count - this.first;
      // Compact in place when at least half the slots are dropped commits; else grow.
      const cap = live * 2 <= this.starts.length ? this.starts.length : this.starts.length * 2;
      this.starts = moved(this.starts, this.first, this.count, new Float64Array(cap));
      this.lengths = moved(this.lengths, this.first, this.count, new Uint32Array(cap));
      this.times = moved(this.times, this.first, this.count, new Float64Array(cap));
      this.count = live;
      this.first = 0;
    }
    this.starts[this.count] = start;
    this.lengths[this.count] = length;
    this.times[this.count] = time;
    this.count++;
  }

  /** The oldest retained commit's time (ms), or undefined when none is retained. */
  oldestTime(): number | undefined {
    return this.first < this.count ? this.times[this.first] : undefined;
  }

  /** Drop the oldest commit (there must be one); returns its bytes as append did. */
  dropOldest(): number {
    const bytes = this.lengths[this.first]! + INDEX_BYTES;
    this.first++;
    this.firstRevision++;
    const keepFrom = this.first < this.count ? this.starts[this.first]! : this.tail;
    while (this.chunks.length > 1 && this.chunks[1]!.base <= keepFrom) this.chunks.shift();
    if (this.first === this.count) {
      // Nothing retained: start the stream afresh (the last chunk is reused).
      const last = this.chunks[this.chunks.length - 1];
      this.chunks = last ? [{ base: 0, buf: last.buf }] : [];
      this.tail = 0;
      this.first = this.count = 0;
    }
    return bytes;
  }

  /** The retained commit that made `revision`, decoded, or undefined. */
  get(revision: number): ArchivedCommit | undefined {
    const slot = this.first + (revision - this.firstRevision);
    if (!Number.isInteger(revision) || slot < this.first || slot >= this.count) return undefined;
    const start = this.starts[slot]!;
    let i = this.chunks.length - 1;
    while (this.chunks[i]!.base > start) i--;
    const chunk = this.chunks[i]!;
    return decode(chunk.buf, start - chunk.base, revision, this.lengths[slot]!);
  }
}

function moved<T extends Float64Array | Uint32Array>(from: T, first: number, count: number, to: T): T {
  to.set(from.subarray(first, count));
  return to;
}

function writeState(buf: Buffer, at: number, s: NodeState | null): number {
  if (!s) {
    buf[at] = 0;
    return at + 1;
  }
  buf[at] = 1;
  at = writeLatin1(buf, writeU32(buf, at + 1, s.value.length), s.value);
  return writeLatin1(buf, writeU32(buf, at, s.acl.length), s.acl);
}

function decode(buf: Buffer, at: number, revision: number, length: number): ArchivedCommit {
  const time = buf.readDoubleLE(at);
  const domid = buf.readInt32LE(at + 8);
  const conn = buf.readUInt32LE(at + 12);
  const txId = buf.readUInt32LE(at + 16);
  const opLength = buf.readUInt16LE(at + 20);
  const op = buf.toString("latin1", at + 22, at + 22 + opLength);
  at += 22 + opLength;
  const n = buf.readUInt32LE(at);
  at += 4;
  const changes: ChangeEntry[] = [];
  const state = (): NodeState | null => {
    if (buf[at++] === 0) return null;
    const vlen = buf.readUInt32LE(at);
    const value = buf.toString("latin1", at + 4, at + 4 + vlen);
    at += 4 + vlen;
    const alen = buf.readUInt32LE(at);
    const acl = buf.toString("latin1", at + 4, at + 4 + alen);
    at += 4 + alen;
    return { value, acl };
  };
  for (let k = 0; k < n; k++) {
    const kind = KINDS[buf[at]!]!;
    const plen = buf.readUInt32LE(at + 1);
    const path = buf.toString("latin1", at + 5, at + 5 + plen);
    at += 5 + plen;
    const before = state();
    const after = state();
    changes.push({ path, kind, before, after });
  }
  return { revision, time, domid, conn, op, txId, changes, bytes: length + INDEX_BYTES };
}
