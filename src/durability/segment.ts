/**
 * One journal segment: a file of framed entries (entries.ts), written at
 * increasing offsets into space reserved ahead of time. Reserving writes
 * zeros first (so the blocks exist: a later write into them cannot fail
 * for want of space), which is also what ends a segment's entries when it
 * is read back. A write that would need more space than is left reserves
 * the next chunk first; if that fails (ENOSPC, EIO) the entry is refused
 * before anything about it is acknowledged.
 *
 * Reservations leave HEADROOM of the file system free: a daemon whose
 * disk filled must still be able to start again (recover, serve reads, and
 * refuse writes with ENOSPC until there is room), and starting needs a
 * little space (the state directory check, a new segment's file).
 */
import { closeSync, fdatasync, fsyncSync, ftruncateSync, openSync, readFileSync, statfsSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { scanEntries, type Scan } from "./entries.js";

/** Space reserved at a time. */
const CHUNK = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(64 * 1024);
/** Free space reservations leave on the file system. */
export const HEADROOM = 1024 * 1024;

/** Bytes an unprivileged writer may still use on the file system holding `dir` (Infinity if it cannot say). */
export function freeBytes(dir: string): number {
  try {
    const st = statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return Infinity;
  }
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

export class SegmentFullError extends Error {
  override name = "SegmentFullError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Segment {
  /** Where the next entry goes. */
  private end: number;
  /** Bytes reserved (zero-filled) from the start of the file. */
  private reserved: number;
  private closed = false;
  /** fdatasyncs in flight: the fd is closed only once they are done. */
  private inflight = 0;

  private constructor(
    readonly path: string,
    readonly number: number,
    private readonly fd: number,
    end: number,
    reserved: number,
  ) {
    this.end = end;
    this.reserved = reserved;
  }

  /** A new, empty segment (the file must not exist). */
  static create(path: string, number: number): Segment {
    const fd = openSync(path, "wx", 0o600);
    const s = new Segment(path, number, fd, 0, 0);
    try {
      // On a nearly full disk (a daemon restarted after the disk filled) the
      // segment starts with what there is, perhaps nothing: each change is
      // then taken or refused as space allows, as at run time.
      const room = Math.floor(Math.max(0, freeBytes(dirname(path)) - HEADROOM) / ZEROS.length) * ZEROS.length;
      s.reserve(Math.min(CHUNK, room));
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return s;
  }

  /** Read a segment's entries (up to a torn or corrupt tail). */
  static read(path: string): Scan {
    return scanEntries(readFileSync(path));
  }

  /** Bytes of entries written. */
  get size(): number {
    return this.end;
  }

  /** Make room for `bytes` more, reserving chunks as needed; throws SegmentFullError (ENOSPC, EIO...) if the disk will not. */
  ensure(bytes: number): void {
    const need = this.end + bytes + 8; // and a zero length after it
    if (need <= this.reserved) return;
    try {
      const room = freeBytes(dirname(this.path)) - HEADROOM;
      const least = roundUp(need - this.reserved, 4096);
      if (room < least) throw Object.assign(new Error(`the file system keeps ${HEADROOM >> 20} MiB free for a restart`), { code: "ENOSPC" });
      this.reserve(Math.min(Math.max(CHUNK, least), Math.floor(room / 4096) * 4096));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "EIO";
      throw new SegmentFullError(code, `reserving journal space in ${this.path}: ${(e as Error).message}`);
    }
  }

  private reserve(bytes: number): void {
    let at = this.reserved;
    const until = this.reserved + bytes;
    try {
      while (at < until) at += writeSync(this.fd, ZEROS, 0, Math.min(ZEROS.length, until - at), at);
    } catch (e) {
      // Give back what could not be reserved in full.
      try {
        ftruncateSync(this.fd, this.reserved);
      } catch {
        // the reservation stays partial; `reserved` still tells the truth
      }
      throw e;
    }
    this.reserved = until;
  }

  /** Write entries' bytes (space ensured first) at the end. */
  append(data: Buffer): void {
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off, data.length - off, this.end + off);
    this.end += data.length;
  }

  /** Flush written data to the disk (fdatasync, in the thread pool). */
  sync(done: (err: Error | null) => void): void {
    this.inflight++;
    fdatasync(this.fd, (err) => {
      this.inflight--;
      if (this.closed && this.inflight === 0) closeSync(this.fd);
      done(err);
    });
  }

  /** Flush written data to the disk now (blocking). */
  syncNow(): void {
    fsyncSync(this.fd);
  }

  /** Give back the unused reservation and close (a segment that is done). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      ftruncateSync(this.fd, this.end);
    } catch {
      // the zero tail is harmless
    }
    if (this.inflight === 0) closeSync(this.fd);
  }
}
