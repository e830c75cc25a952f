/**
 * A connection's queue of replies and watch events not yet handed to its
 * transport. Costs about its bytes: packets are copied into large shared
 * chunks (allocated outside the JS heap, so their memory goes back when the
 * queue drains) with a few numbers of bookkeeping each, instead of one
 * buffer object per packet. Keeps what cx's output list provides: an event
 * identical to one still waiting is dropped (cx `send_event`), and events
 * to an unprivileged domain that waited too long unsent are dropped (cx's
 * watch-event timeout, `-w`).
 *
 * A queue that has drained, once its transport has let go of everything
 * it took (sent or copied it: `recycle`), writes its next packets into the
 * same small chunk again, from its start, and keeps its bookkeeping arrays:
 * a client that reads each reply as it comes costs no allocation per reply.
 */
import { HEADER_SIZE } from "../protocol/messages.js";

/**
 * Chunk sizes grow from a small first one (most queues hold one batch of
 * replies for a moment) to large ones for a client that is behind, each
 * its own allocation, freed as soon as it has gone out.
 */
// Small: carved from Node's buffer pool, which a 4 KiB request would empty at every other one.
const FIRST_CHUNK = 256;
const MAX_CHUNK = 256 * 1024;
/** A drained queue keeps bookkeeping arrays up to this long for its next packets (longer ones go back). */
const KEPT_SLOTS = 64;

interface Chunk {
  readonly buf: Buffer;
  /** Bytes written into the chunk. */
  end: number;
}

export class OutputQueue {
  private chunks: Chunk[] = [];
  /** Offset of the first byte not yet taken, in chunks[0]. */
  private head = 0;
  /** Per packet, oldest first (slots `first` to `count` - 1): its length, event key and deadline. */
  private lengths: number[] = [];
  private keys: (string | null)[] = [];
  private deadlines: number[] = [];
  private first = 0;
  private count = 0;
  /**
   * The queue's own small chunk, once it has one (the first `recycle`): its
   * own allocation, not a slice of Node's pool, so that an idle connection
   * holding it keeps 256 bytes and not a pool's 8 KiB. `spareFree`: nothing
   * handed to the transport from it may still be read.
   */
  private spare: Chunk | null = null;
  private spareFree = false;
  /** Bytes of the oldest packet already taken (a ring takes what fits). */
  private started = 0;
  private queuedBytes = 0;
  /** Keys of the (non-special) events waiting, for duplicate suppression. */
  private readonly waiting = new Set<string>();
  /** Events dropped: duplicates and timeouts (for statistics). */
  dropped = 0;

  /** Packets not fully handed over. */
  get packets(): number {
    return this.count - this.first;
  }

  /** Bytes not yet handed over. */
  get bytes(): number {
    return this.queuedBytes;
  }

  /** Queue one reply packet. */
  reply(type: number, reqId: number, txId: number, payload: Buffer): void {
    this.append(type, reqId, txId, payload, null, 0);
  }

  /**
   * Queue the watch event `path\0token` (`key`), unless an identical one is
   * still waiting (special `@` events are never dropped). `deadline`: drop
   * it if still unsent by then (ms on the monotonic clock), or 0. Returns
   * whether it was queued.
   */
  event(key: string, special: boolean, deadline: number, type: number): boolean {
    if (!special) {
      if (this.waiting.has(key)) {
        this.dropped++;
        return false;
      }
      this.waiting.add(key);
    }
    this.append(type, 0, 0, Buffer.from(`${key}\0`, "latin1"), special ? null : key, deadline);
    return true;
  }

  private append(type: number, reqId: number, txId: number, payload: Buffer, key: string | null, deadline: number): void {
    const len = HEADER_SIZE + payload.length;
    const last = this.room(len);
    const b = last.buf;
    let o = last.end;
    b.writeUInt32LE(type >>> 0, o);
    b.writeUInt32LE(reqId >>> 0, o + 4);
    b.writeUInt32LE(txId >>> 0, o + 8);
    b.writeUInt32LE(payload.length, o + 12);
    o += HEADER_SIZE;
    payload.copy(b, o);
    last.end = o + payload.length;
    this.track(len, key, deadline);
    this.queuedBytes += len;
  }

  /** Add a packet's bookkeeping. */
  private track(len: number, key: string | null, deadline: number): void {
    const i = this.count++;
    this.lengths[i] = len;
    this.keys[i] = key;
    this.deadlines[i] = deadline;
  }

  /** The chunk to write `len` bytes into: the last one, the spare, or a new, larger one. */
  private room(len: number): Chunk {
    const last = this.chunks[this.chunks.length - 1];
    if (last && last.buf.length - last.end >= len) return last;
    let chunk: Chunk;
    if (!last && this.spareFree && len <= FIRST_CHUNK) {
      chunk = this.spare!;
      chunk.end = 0;
      this.spareFree = false;
    } else {
      const size = last ? Math.min(MAX_CHUNK, last.buf.length * 4) : FIRST_CHUNK;
      chunk = { buf: Buffer.allocUnsafe(Math.max(size, len)), end: 0 };
    }
    this.chunks.push(chunk);
    return chunk;
  }

  /**
   * The transport no longer reads anything it was handed (it sent or
   * copied it all): once drained, the queue may write its spare chunk
   * again from the start.
   */
  recycle(): void {
    if (this.queuedBytes !== 0) return;
    this.spare ??= { buf: Buffer.allocUnsafeSlow(FIRST_CHUNK), end: 0 };
    this.spareFree = true;
  }

  /** The bytes waiting, from the oldest, as one buffer of at most `max` bytes (a view when it can be). */
  peek(max = Number.MAX_SAFE_INTEGER): Buffer {
    if (this.queuedBytes === 0) return EMPTY;
    const want = Math.min(max, this.queuedBytes);
    const c0 = this.chunks[0]!;
    if (c0.end - this.head >= want) return c0.buf.subarray(this.head, this.head + want);
    const out = Buffer.allocUnsafe(want);
    let got = 0;
    for (let i = 0; got < want; i++) {
      const c = this.chunks[i]!;
      const from = i === 0 ? this.head : 0;
      got += c.buf.copy(out, got, from, Math.min(c.end, from + want - got));
    }
    return out;
  }

  /** The transport took the first `n` bytes. */
  consume(n: number): void {
    this.queuedBytes -= n;
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      const step = Math.min(left, c.end - this.head);
      this.head += step;
      left -= step;
      if (this.head === c.end && (this.chunks.length > 1 || this.queuedBytes === 0)) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    // Whole packets handed over leave the bookkeeping.
    let taken = this.started + n;
    while (this.first < this.count && taken >= this.lengths[this.first]!) {
      taken -= this.lengths[this.first]!;
      const key = this.keys[this.first];
      if (key !== null && key !== undefined) {
        this.waiting.delete(key);
        // Kept slots must not keep the string.
        this.keys[this.first] = null;
      }
      this.first++;
    }
    this.started = taken;
    this.compact();
  }

  /**
   * Drop events whose deadline has passed and that have not started going
   * out (cx `check_event_timeout`). Returns the next deadline still
   * pending, or 0.
   */
  expire(now: number): number {
    let next = 0;
    let any = false;
    for (let i = this.first; i < this.count; i++) {
      const d = this.deadlines[i]!;
      if (d === 0 || (i === this.first && this.started > 0)) continue;
      if (d > now) {
        if (next === 0 || d < next) next = d;
        continue;
      }
      any = true;
    }
    if (any) this.rebuild((deadline, started) => deadline === 0 || deadline > now || started);
    return next;
  }

  /** Keep only the packets `keep` selects (by deadline, and whether it started going out), rewriting the bytes. */
  private rebuild(keep: (deadline: number, started: boolean) => boolean): void {
    const old = { chunks: this.chunks, head: this.head, lengths: this.lengths, keys: this.keys, deadlines: this.deadlines, first: this.first, count: this.count, started: this.started };
    this.chunks = [];
    this.head = 0;
    this.lengths = [];
    this.keys = [];
    this.deadlines = [];
    this.first = this.count = 0;
    this.queuedBytes = 0;
    this.waiting.clear();
    let ci = 0;
    let off = old.head;
    const read = (len: number): Buffer => {
      const out = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const c = old.chunks[ci]!;
        const n = c.buf.copy(out, got, off, Math.min(c.end, off + len - got));
        got += n;
        off += n;
        if (off >= c.end) {
          ci++;
          off = 0;
        }
      }
      return out;
    };
    for (let i = old.first; i < old.count; i++) {
      const len = old.lengths[i]! - (i === old.first ? old.started : 0);
      const bytes = read(len);
      if (!keep(old.deadlines[i]!, i === old.first && old.started > 0)) {
        this.dropped++;
        continue;
      }
      // A packet that has started going out keeps its remainder only.
      this.appendRaw(bytes, i === old.first ? old.started : 0, old.keys[i]!, old.deadlines[i]!);
    }
  }

  private appendRaw(bytes: Buffer, started: number, key: string | null, deadline: number): void {
    const last = this.room(bytes.length);
    last.end += bytes.copy(last.buf, last.end);
    if (this.count === 0) this.started = started;
    this.track(bytes.length + started, key, deadline);
    if (key !== null) this.waiting.add(key);
    this.queuedBytes += bytes.length;
  }

  /** Drop the bookkeeping of packets gone out, once it is a good part of the arrays. */
  private compact(): void {
    if (this.first === this.count) {
      // Small arrays are written again from the start; large ones (a backlog) go back.
      if (this.lengths.length > KEPT_SLOTS) {
        this.lengths = [];
        this.keys = [];
        this.deadlines = [];
      }
      this.first = this.count = 0;
    } else if (this.first > 1024 && this.first * 2 > this.count) {
      this.lengths = this.lengths.slice(this.first, this.count);
      this.keys = this.keys.slice(this.first, this.count);
      this.deadlines = this.deadlines.slice(this.first, this.count);
      this.count -= this.first;
      this.first = 0;
    }
  }

  /** What is queued, for a state dump: the rest of a packet that started going out, then whole packets. */
  dump(): { head: Buffer; packets: Buffer } {
    const all = this.peek();
    const headLength = this.started > 0 ? this.lengths[this.first]! - this.started : 0;
    return { head: Buffer.from(all.subarray(0, headLength)), packets: Buffer.from(all.subarray(headLength)) };
  }

  /**
   * Queue dumped output again: `packets` are whole packets; a watch event
   * among them is a duplicate target again, but its timeout is not kept.
   */
  restore(head: Buffer, packets: Buffer, eventType: number): void {
    this.clear();
    if (head.length) this.appendRaw(head, 1, null, 0);
    let off = 0;
    while (off + HEADER_SIZE <= packets.length) {
      const len = HEADER_SIZE + packets.readUInt32LE(off + 12);
      if (off + len > packets.length) break;
      const bytes = packets.subarray(off, off + len);
      const isEvent = bytes.readUInt32LE(0) === eventType && bytes[HEADER_SIZE] !== 0x40; /* '@' */
      const key = isEvent ? bytes.toString("latin1", HEADER_SIZE, len - 1) : null;
      this.appendRaw(bytes, 0, key, 0);
      off += len;
    }
    if (off !== packets.length) throw new RangeError("dumped output ends inside a packet");
  }

  /** Drop everything (connection reset or closed). */
  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.lengths = [];
    this.keys = [];
    this.deadlines = [];
    this.first = this.count = 0;
    this.started = 0;
    this.queuedBytes = 0;
    this.waiting.clear();
    // Whatever the transport was handed is not known to be let go.
    this.spareFree = false;
  }
}

const EMPTY = Buffer.alloc(0);
