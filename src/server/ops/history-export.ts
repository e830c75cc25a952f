/**
 * Writing the history's fast-import stream to a file without stopping the
 * daemon: a slice of the stream per turn of the event loop, so requests
 * are served in between. The stream goes to FILE.partial, renamed to FILE
 * once complete (a file at FILE is always whole); a failure is logged and
 * leaves FILE.failed holding the reason.
 */
import { closeSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import type { XsErrno } from "../../protocol/messages.js";
import { fail } from "../request.js";

/** Bytes written per turn. */
const SLICE_BYTES = 256 * 1024;

const OPEN_ERRORS: Record<string, XsErrno> = { ENOENT: "ENOENT", EACCES: "EACCES", EEXIST: "EEXIST", EISDIR: "EISDIR", EROFS: "EROFS", ENOSPC: "ENOSPC" };

/**
 * Start writing `chunks` to `file`. Fails at once (with the errno) if the
 * partial file cannot be created, e.g. its directory does not exist.
 */
export function exportInBackground(chunks: Iterator<Buffer>, file: string, log: (line: string) => void): void {
  const partial = `${file}.partial`;
  let fd: number;
  try {
    fd = openSync(partial, "wx", 0o600);
  } catch (e) {
    fail(OPEN_ERRORS[(e as NodeJS.ErrnoException).code ?? ""] ?? "EIO");
  }
  const step = (): void => {
    try {
      const slice: Buffer[] = [];
      let bytes = 0;
      let done = false;
      while (bytes < SLICE_BYTES) {
        const next = chunks.next();
        if (next.done) {
          done = true;
          break;
        }
        slice.push(next.value);
        bytes += next.value.length;
      }
      writeAll(fd, Buffer.concat(slice));
      if (!done) {
        setImmediate(step);
        return;
      }
      closeSync(fd);
      renameSync(partial, file);
    } catch (e) {
      const reason = (e as Error).message;
      log(`history export to ${file} failed: ${reason}`);
      // Best effort from here: nothing may throw out of a turn of the event loop.
      for (const cleanup of [() => closeSync(fd), () => rmSync(partial, { force: true }), () => writeFileSync(`${file}.failed`, `${reason}\n`)]) {
        try {
          cleanup();
        } catch {
          // nothing more to do
        }
      }
    }
  };
  setImmediate(step);
}

function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
}
