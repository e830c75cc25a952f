/**
 * One daemon per state directory: two writing the same journal would
 * corrupt it. A daemon holds flock on `<dir>/lock` for as long as it runs
 * (the kernel drops it when the process dies, so a crash leaves no stale
 * lock behind).
 */
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { native } from "./native.js";

export class StateLockError extends Error {}

/** Lock `dir` (which must exist); the fd to close on exit. Throws StateLockError when another daemon has it. */
export function lockStateDir(dir: string): number {
  const fd = openSync(join(dir, "lock"), "a", 0o600);
  const err = native()?.lockExclusive(fd) ?? 0;
  if (err !== 0) {
    closeSync(fd);
    throw new StateLockError(`the state directory ${dir} is in use: another xenstored is running`);
  }
  return fd;
}
