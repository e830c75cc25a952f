/**
 * The pid file (-F): refuse to start while another xenstored holds it,
 * replace a stale one, write ours atomically once ready, remove it on exit.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";

export class PidFileError extends Error {}

function looksLikeXenstored(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("xenstored");
  } catch {
    return true; // alive, and we cannot tell what it is: be safe
  }
}

/** Throw when a live xenstored owns `path`; a stale file is left for `write` to replace. */
export function checkPidFile(path: string): void {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch {
    return;
  }
  const pid = Number(text.trim());
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && looksLikeXenstored(pid)) {
    throw new PidFileError(`another xenstored (pid ${pid}) is running: pid file ${path}`);
  }
}

export function writePidFile(path: string, pid = process.pid): void {
  const tmp = `${path}.${pid}.tmp`;
  writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
  renameSync(tmp, path);
}

/** Remove the pid file if it is still ours. */
export function removePidFile(path: string, pid = process.pid): void {
  try {
    if (Number(readFileSync(path, "latin1").trim()) === pid) rmSync(path, { force: true });
  } catch {
    /* already gone */
  }
}
