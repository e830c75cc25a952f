/**
 * Reading the state directory back at start: the newest complete snapshot,
 * and the journal entries written after it (to replay). Each segment is read up to a
 * torn or corrupt tail, which was never acknowledged; its successors, if
 * any, were written by a later daemon and are read too.
 */
import { accessSync, closeSync, constants, mkdirSync, openSync, readdirSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { StateFormatError } from "../state/errors.js";
import type { StateRecord } from "../state/stream.js";
import type { JournalEntry } from "./entries.js";
import { segmentName, snapshotName } from "./journal.js";
import { freeBytes, HEADROOM, Segment } from "./segment.js";
import { readSnapshot } from "./snapshot.js";

export interface RecoveredFiles {
  /** The snapshot's records, or null (a new state directory, or none survived). */
  readonly snapshot: StateRecord[] | null;
  /** Its number: the first segment to replay. */
  readonly base: number;
  /** Entries of segments `base` on, in order. */
  readonly replay: JournalEntry[];
  /** The number the next segment gets. */
  readonly next: number;
  /** What was found damaged (logged by the caller). */
  readonly damage: string[];
}

/** Make sure `dir` can hold the state: created if missing, and writable. Throws an Error saying what is wrong. */
export function prepareStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new Error(`the state directory ${dir} cannot be created: ${(e as Error).message}`);
  }
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new Error(`the state directory ${dir}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new Error(`the state directory ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.R_OK | constants.X_OK);
    const probe = join(dir, `.probe-${process.pid}`);
    const fd = openSync(probe, "w", 0o600);
    try {
      writeSync(fd, Buffer.alloc(4096));
    } finally {
      closeSync(fd);
      unlinkSync(probe);
    }
  } catch (e) {
    throw stateDirError(dir, e);
  }
  // The journal leaves HEADROOM free while running, so a daemon that filled the disk starts again.
  if (freeBytes(dir) < HEADROOM / 2) throw new Error(`the state directory ${dir} is full`);
}

/** An error writing in the state directory, as the reason the daemon cannot use it. */
export function stateDirError(dir: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === "ENOSPC" ? "is full" : code === "EROFS" ? "is on a read-only file system" : code === "EACCES" ? "is not writable" : `cannot be written (${(e as Error).message})`;
  return new Error(`the state directory ${dir} ${why}`);
}

function numbered(dir: string, kind: "log" | "snapshot"): number[] {
  const re = kind === "log" ? /^log\.(\d{8})$/ : /^snapshot\.(\d{8})$/;
  const out: number[] = [];
  for (const f of readdirSync(dir)) {
    const m = re.exec(f);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

export function readStateDir(dir: string): RecoveredFiles {
  const damage: string[] = [];
  const snapshots = numbered(dir, "snapshot");
  const logs = numbered(dir, "log");
  let snapshot: StateRecord[] | null = null;
  let base = 0;
  // The newest snapshot that reads back whole (a damaged one: the one before, with more to replay).
  for (let i = snapshots.length - 1; i >= 0 && !snapshot; i--) {
    const n = snapshots[i]!;
    try {
      snapshot = readSnapshot(join(dir, snapshotName(n)));
      base = n;
    } catch (e) {
      if (!(e instanceof StateFormatError)) throw e;
      damage.push(`snapshot ${n}: ${e.message}`);
    }
  }
  // Segments before the snapshot hold nothing it lacks: not read.
  const replay: JournalEntry[] = [];
  for (const n of logs) {
    if (n < base) continue;
    const scan = Segment.read(join(dir, segmentName(n)));
    if (scan.damage) damage.push(`segment ${n}: ${scan.damage}; what follows it there was never acknowledged`);
    replay.push(...scan.entries);
  }
  const next = Math.max(0, ...logs, ...snapshots) + 1;
  return { snapshot, base, replay, next, damage };
}
