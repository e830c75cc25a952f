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
 *
 * Each reserved range is also mapped shared (util/mapped-file.ts, an
 * mmap through the native addon), so that an append is a copy into the
 * file's page cache, not a write(2): the same guarantee (the kernel has
 * the bytes; a killed daemon loses none of them, fdatasync flushes them)
 * without a system call per commit. Without the addon, or if mapping
 * fails, appends are pwrite(2)s.
 */
import { closeSync, fdatasync, fsyncSync, ftruncateSync, openSync, readFileSync, statfsSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { canMapFiles, mapShared, releasePages } from "../util/mapped-file.js";
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

/**
 * Written pages are let go from the resident set this many bytes at a
 * time: what is written is never read back through the mapping, and on a
 * tmpfs state directory (Xen hosts' /run) the file's pages are memory
 * anyway, so the daemon's resident size should not count them twice.
 */
const RELEASE_EVERY = 1024 * 1024;

/** A mapped range of the file: bytes [start, start + view.length). */
interface Mapped {
  readonly start: number;
  readonly view: Buffer;
}

export class Segment {
  /** Where the next entry goes. */
  private end: number;
  /** Bytes reserved (zero-filled) from the start of the file. */
  private reserved: number;
  /** The reserved ranges mapped so far, in order and contiguous from 0 up to `mappedEnd`. */
  private maps: Mapped[] = [];
  private mappedEnd = 0;
  /** Written bytes below this have been let go from the resident set (a multiple of RELEASE_EVERY). */
  private released = 0;
  /** Whether to map reserved ranges (false once mapping has failed: appends are then written). */
  private mapping: boolean;
  private closed = false;
  /** fdatasyncs in flight: the fd is closed only once they are done. */
  private inflight = 0;

  private constructor(
    readonly path: string,
    readonly number: number,
    private readonly fd: number,
    end: number,
    reserved: number,
    mapped: boolean,
  ) {
    this.end = end;
    this.reserved = reserved;
    this.mapping = mapped && canMapFiles();
  }

  /** A new, empty segment (the file must not exist); `mapped` false: every append a write(2). */
  static create(path: string, number: number, mapped = true): Segment {
    const fd = openSync(path, "wx+", 0o600);
    const s = new Segment(path, number, fd, 0, 0, mapped);
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
    this.map();
  }

  /** Map what is reserved beyond what is mapped (ranges start page-aligned: reservations are whole pages). */
  private map(): void {
    if (!this.mapping) return;
    const length = this.reserved - this.mappedEnd;
    if (length <= 0) return;
    const view = mapShared(this.fd, this.mappedEnd, length);
    if (view === null || typeof view === "number") {
      this.mapping = false;
      return;
    }
    this.maps.push({ start: this.mappedEnd, view });
    this.mappedEnd += length;
  }

  /** Whether appends go into mapped pages (for tests). */
  get mapped(): boolean {
    return this.mappedEnd > 0;
  }

  /** Write entries' bytes (space ensured first) at the end: `length` bytes of `data` from its start. */
  append(data: Buffer, length = data.length): void {
    if (this.end + length <= this.mappedEnd) this.copyIn(data, length);
    else {
      let off = 0;
      while (off < length) off += writeSync(this.fd, data, off, length - off, this.end + off);
    }
    this.end += length;
  }

  /** Copy `length` bytes of `data` into the mapped pages at the end. */
  private copyIn(data: Buffer, length: number): void {
    let at = this.end;
    let off = 0;
    // The newest mapping is almost always the one: search from the end.
    let i = this.maps.length - 1;
    while (this.maps[i]!.start > at) i--;
    while (off < length) {
      const m = this.maps[i++]!;
      off += data.copy(m.view, at - m.start, off, Math.min(length, off + m.start + m.view.length - at));
      at = this.end + off;
    }
    if (at - this.released >= 2 * RELEASE_EVERY) this.release(at - (at % RELEASE_EVERY) - RELEASE_EVERY);
  }

  /** Let the written pages below `upTo` (a multiple of RELEASE_EVERY) go from the resident set. */
  private release(upTo: number): void {
    for (const m of this.maps) {
      const from = Math.max(this.released, m.start);
      const to = Math.min(upTo, m.start + m.view.length);
      if (to > from) releasePages(m.view, from - m.start, to - from);
    }
    this.released = upTo;
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
    // The pages stay mapped until the views are collected; nothing touches them after this.
    this.maps = [];
    this.mappedEnd = 0;
    try {
      ftruncateSync(this.fd, this.end);
    } catch {
      // the zero tail is harmless
    }
    if (this.inflight === 0) closeSync(this.fd);
  }
}
