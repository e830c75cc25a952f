/**
 * Little-endian binary fields: a growable writer and a bounds-checked
 * reader (the state stream's and the journal's encodings). A read past the
 * end, or a record longer than its fields, is a StateFormatError.
 */
import { StateFormatError } from "./errors.js";

/**
 * Strings up to this long are copied by a loop: below it, the call into
 * Buffer#write (argument checks, then the native copy) costs more than the
 * copy (measured: a 2-char path part 20 ns by loop, 65 ns by write; even at
 * about 30 chars).
 */
const SHORT_STRING = 24;

/**
 * Write `s` as latin1 (each UTF-16 unit's low byte, as Buffer#write does) at
 * `at` in `buf`, which must have room; returns the offset after it.
 */
export function writeLatin1(buf: Buffer, at: number, s: string): number {
  const n = s.length;
  if (n > SHORT_STRING) return at + buf.write(s, at, "latin1");
  // A Uint8Array store keeps the low byte, as the latin1 encoder does.
  for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i);
  return at + n;
}

/**
 * Write `v` as a little-endian 32-bit integer at `at` (room checked by the
 * caller); returns the offset after it. The same bytes as
 * writeUInt32LE(v >>> 0) or writeInt32LE(v | 0), without their argument
 * checks (Uint8Array stores keep each value's low byte).
 */
export function writeU32(buf: Buffer, at: number, v: number): number {
  buf[at] = v;
  buf[at + 1] = v >>> 8;
  buf[at + 2] = v >>> 16;
  buf[at + 3] = v >>> 24;
  return at + 4;
}

/**
 * Write `x` (a non-negative integer up to 2^53) as a varint at `at` (7 bits
 * a byte, low bits first, the high bit set when more follow; room for 8
 * bytes checked by the caller); returns the offset after it.
 */
export function writeVarint(buf: Buffer, at: number, x: number): number {
  while (x >= 0x80) {
    buf[at++] = (x % 0x80) | 0x80;
    x = Math.floor(x / 0x80);
  }
  buf[at++] = x;
  return at;
}

export class Writer {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private off = 0;

  private room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.off++] = v;
  }
  u32(v: number): void {
    this.room(4);
    this.off = writeU32(this.buf, this.off, v);
  }
  i32(v: number): void {
    this.room(4);
    this.off = writeU32(this.buf, this.off, v);
  }
  u32be(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.off);
    this.off += 4;
  }
  raw(b: Buffer): void {
    this.room(b.length);
    this.off += b.copy(this.buf, this.off);
  }
  bytes(b: Buffer): void {
    this.u32(b.length);
    this.raw(b);
  }
  varint(v: number): void {
    this.room(8);
    this.off = writeVarint(this.buf, this.off, v);
  }
  /** Latin1 bytes, no length. */
  latin1(s: string): void {
    this.room(s.length);
    this.off = writeLatin1(this.buf, this.off, s);
  }
  /** u32 length, then latin1 bytes (a latin1 string's length in bytes is its length). */
  str(s: string): void {
    this.room(4 + s.length);
    this.off = writeLatin1(this.buf, writeU32(this.buf, this.off, s.length), s);
  }
  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.off);
    this.off += 8;
  }
  /** Bytes written so far. */
  get length(): number {
    return this.off;
  }
  /** Write `v` as a u32 at `at` (a length filled in afterwards). */
  patchU32(at: number, v: number): void {
    this.buf.writeUInt32LE(v >>> 0, at);
  }
  /** Forget what was written from `to` on. */
  rewind(to: number): void {
    this.off = Math.min(this.off, to);
  }
  /**
   * The buffer written into: bytes [0, length) are what was written (valid
   * until the next write, which may move to a larger buffer).
   */
  get buffer(): Buffer {
    return this.buf;
  }
  /** Forget what was written (the buffer is kept for reuse). */
  reset(): void {
    this.off = 0;
  }
  /** The bytes from `from` on (a view: valid until the next write). */
  slice(from: number, to = this.off): Buffer {
    return this.buf.subarray(from, to);
  }
  /** Start a record; returns where its length goes. */
  begin(type: number): number {
    this.u32(type);
    const at = this.off;
    this.u32(0);
    return at;
  }
  end(at: number): void {
    this.buf.writeUInt32LE(this.off - at - 4, at);
    const pad = (8 - (this.off % 8)) % 8;
    this.room(pad);
    this.buf.fill(0, this.off, this.off + pad);
    this.off += pad;
  }
  result(): Buffer {
    return this.buf.subarray(0, this.off);
  }
}

export class Reader {
  constructor(
    private readonly buf: Buffer,
    public off: number,
    private readonly limit: number,
  ) {}

  private need(n: number): void {
    if (this.off + n > this.limit) throw new StateFormatError("record truncated");
  }
  u8(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.off);
    this.off += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.off);
    this.off += 8;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    this.need(n);
    const b = Buffer.from(this.buf.subarray(this.off, this.off + n));
    this.off += n;
    return b;
  }
  str(): string {
    const n = this.u32();
    this.need(n);
    const s = this.buf.toString("latin1", this.off, this.off + n);
    this.off += n;
    return s;
  }
  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new StateFormatError("bad flag");
    return v === 1;
  }
  done(): void {
    if (this.off !== this.limit) throw new StateFormatError("record longer than its fields");
  }
}

