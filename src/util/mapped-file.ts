/**
 * A range of a file mapped shared, read-write (mmap(2) through the native
 * addon native/tsxs_native.c): stores into the returned Buffer are the
 * file's page cache, as a write(2) of the same bytes would be, without the
 * system call. Used by the journal's segments (durability/segment.ts).
 */
import { addonLoader } from "./addon.js";

interface MappingAddon {
  /** The mapping as an ArrayBuffer (unmapped when collected), or an errno value. */
  mapShared(fd: number, offset: number, length: number): ArrayBuffer | number;
  /** madvise(MADV_DONTNEED) of part of such a mapping: 0 or an errno value. */
  releasePages(view: Buffer, offset: number, length: number): number;
}

const addon = addonLoader<MappingAddon>("tsxs_native");

/** Whether files can be mapped here (the addon built). */
export const canMapFiles = (): boolean => addon() !== null;

/**
 * Bytes [offset, offset + length) of the open file `fd` (opened read-write;
 * offset page-aligned; the range inside the file: touching a page past the
 * file's end raises SIGBUS). An errno value when it cannot be mapped, null
 * without the addon.
 */
export function mapShared(fd: number, offset: number, length: number): Buffer | number | null {
  const got = addon()?.mapShared(fd, offset, length) ?? null;
  return got === null || typeof got === "number" ? got : Buffer.from(got);
}

/**
 * Let bytes [offset, offset + length) of a mapping made by mapShared leave
 * the resident set (offset page-aligned): the contents stay in the file's
 * page cache. 0, or an errno value (null without the addon).
 */
export function releasePages(view: Buffer, offset: number, length: number): number | null {
  return addon()?.releasePages(view, offset, length) ?? null;
}
