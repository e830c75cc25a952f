/**
 * The pid file (-F): refuse to start while another xenstored holds it,
 * replace a stale one, write ours atomically once ready, remove it on exit.
 *
 * Two daemons starting at the same moment would both find no live pid in
 * the file, so a starting daemon also holds an exclusive lock on the file
 * it found (as cx holds lockf on its pid file). The lock covers the window
 * until our pid is written; after that the pid in the file refuses others.
 */
import { closeSync, constants, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { native } from "./native.js";

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

export class PidFile {
  private written = false;

  private constructor(
    readonly path: string,
    /** Holds the lock while open. */
    private fd: number | null,
    /** The claim created the (empty) file: remove it if we never start. */
    private readonly created: boolean,
  ) {}

  /** Claim `path`: throws when a live xenstored owns it or another daemon is starting with it. */
  static claim(path: string): PidFile {
    let fd: number;
    let created = false;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o644);
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      fd = openSync(path, constants.O_RDWR);
    }
    const n = native();
    const err = n ? n.lockExclusive(fd) : 0;
    if (err !== 0) {
      closeSync(fd);
      throw new PidFileError(`another xenstored is starting: pid file ${path} is locked`);
    }
    const pid = Number(readFileSync(fd, "latin1").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && looksLikeXenstored(pid)) {
      closeSync(fd);
      throw new PidFileError(`another xenstored (pid ${pid}) is running: pid file ${path}`);
    }
    return new PidFile(path, fd, created);
  }

  /** Write our pid, atomically (a reader never sees a partial file). */
  write(pid = process.pid): void {
    const tmp = `${this.path}.${pid}.tmp`;
    writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
    renameSync(tmp, this.path);
    this.written = true;
  }

  /** On exit: remove the file if it still names us (or is the empty one we created), and drop the lock. */
  release(pid = process.pid): void {
    try {
      const text = readFileSync(this.path, "latin1").trim();
      const ours = this.written ? Number(text) === pid : this.created && text === "";
      if (ours) rmSync(this.path, { force: true });
    } catch {
      /* already gone */
    }
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
