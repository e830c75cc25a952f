/**
 * Little-endian binary fields: a growable writer and a bounds-checked
 * reader (the state stream's and the journal's encodings). A read past the
 * end, or a record longer than its fields, is a StateFormatError.
 */
import { StateFormatError } from "./errors.js";

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
    this.buf.writeUInt32LE(v >>> 0, this.off);
    this.off += 4;
  }
  i32(v: number): void {
    this.room(4);
    this.buf.writeInt32LE(v | 0, this.off);
    this.off += 4;
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
  str(s: string): void {
    const len = Buffer.byteLength(s, "latin1");
    this.u32(len);
    this.room(len);
    this.off += this.buf.write(s, this.off, "latin1");
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

