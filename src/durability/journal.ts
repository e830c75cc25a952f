/**
 * The journal: every committed change, in order, in segment files under
 * the state directory, with a snapshot now and then so that a restarted
 * daemon replays little. The contract (docs/design.md, "Durability"):
 *
 * - mode `log` (the default): an entry is written to its segment (the
 *   kernel has it) before any reply or event that follows it goes out, so
 *   a daemon crash loses nothing acknowledged;
 * - mode `sync`: also fdatasync'd first, one fsync for everything
 *   committed meanwhile (group commit), so a machine crash loses nothing
 *   acknowledged either.
 *
 * A commit's entry is encoded before the commit is installed, with its
 * space reserved in the segment: if the disk will not give it, the commit
 * is refused (ENOSPC or EIO) and nothing of it remains. The writes
 * themselves go into reserved blocks; one failing anyway (a disk error) is
 * fatal: the daemon stops before acknowledging anything more.
 *
 * Files: `log.N` (segment N), `snapshot.N` (the state when segment N
 * began). Recovery (recovery.ts) loads the newest complete snapshot and
 * replays the segments from its number on.
 */
import { closeSync, fsyncSync, openSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { XsError } from "../protocol/messages.js";
import { Writer } from "../state/binary.js";
import type { CommitRecord } from "../store/store.js";
import { commitChanges, type ChangeEntry } from "../store/changes.js";
import { encodeEntry, type CommitEntry, type EditEntry, type JournalEntry } from "./entries.js";
import { Segment, SegmentFullError } from "./segment.js";
import { writeSnapshot, type Capture } from "./snapshot.js";

export type DurabilityMode = "log" | "sync";

export interface JournalOptions {
  readonly dir: string;
  readonly mode: DurabilityMode;
  /** A segment that has grown past this many bytes starts a snapshot (default 64 MiB). */
  readonly snapshotBytes?: number;
  readonly log?: (line: string) => void;
  /** A journal write failed after its space was reserved (a disk error): nothing more may be acknowledged. */
  readonly onFatal?: (err: Error) => void;
}

/** What a journal's owner provides: the state to snapshot, captured at once. */
export type CaptureSource = () => Capture;

export const segmentName = (n: number): string => `log.${String(n).padStart(8, "0")}`;
export const snapshotName = (n: number): string => `snapshot.${String(n).padStart(8, "0")}`;

/** A commit record as a journal entry: its edits in order, each with the path's final state. */
export function commitEntry(r: CommitRecord): CommitEntry {
  // Each path's final state, from the commit's changes (shared with the history); when no path
  // was touched twice they are the edits themselves, in order.
  const changes = commitChanges(r);
  // A change entry is an edit with its `before` besides: used as is, no copy.
  const edits: readonly EditEntry[] = changes.length === r.changes.length ? changes : repeatedEdits(r, changes);
  const specials = r.before.specials === r.after.specials ? null : [...r.after.specials].map(([name, p]) => [name, p.key] as const);
  return { type: "commit", revision: r.revision, time: r.time, domid: r.domid, conn: r.conn, txId: r.txId, op: r.op, edits, specials, effects: r.effects };
}

/** The edits of a commit that touched a path more than once: each with its path's final state. */
function repeatedEdits(r: CommitRecord, changes: readonly ChangeEntry[]): EditEntry[] {
  const finals = new Map(changes.map((c) => [c.path, c.after] as const));
  return r.changes.map((c) => ({ path: c.path, kind: c.kind, after: finals.get(c.path)! }));
}

export class Journal {
  private segment: Segment | null = null;
  private readonly pending = new Writer();
  /** Bytes appended to segments since the journal started, and how many of those an fsync has covered. */
  private appended = 0;
  private durable = 0;
  private syncing = false;
  private readonly waiting: { at: number; then: () => void }[] = [];
  private snapshotting = false;
  private readonly snapshotBytes: number;
  private failed: Error | null = null;
  private source: CaptureSource | null = null;
  private stopped = false;

  constructor(private readonly opts: JournalOptions) {
    this.snapshotBytes = opts.snapshotBytes ?? 64 * 1024 * 1024;
  }

  /** The segment being written. */
  get current(): number {
    return this.segment?.number ?? 0;
  }

  /**
   * Start writing: a new segment numbered `next` (after every existing
   * one), with a snapshot of the state as it is now when `snapshot` (so
   * that what was replayed need not be again; without one, the older
   * segments stay and are replayed next time too).
   */
  start(next: number, source: CaptureSource, snapshot: boolean): Promise<void> {
    this.source = source;
    if (snapshot) return this.rollTo(next);
    this.segment = Segment.create(join(this.opts.dir, segmentName(next)), next);
    this.syncDir();
    return Promise.resolve();
  }

  /**
   * Store guard: encode a commit's entry and reserve its space before the
   * commit is installed; refuses it (XsError ENOSPC / EIO) if the disk will not.
   */
  prepareCommit(record: CommitRecord, strict = true): void {
    this.append(commitEntry(record), strict);
  }

  /**
   * Add an entry (not a commit: a guest's watch, a transaction); a disk
   * that will not take it is logged (`strict`: refused with ENOSPC/EIO).
   */
  append(entry: JournalEntry, strict = false): void {
    if (this.failed) throw new XsError("EIO", "the journal failed");
    if (!this.segment || this.stopped) return;
    const at = this.pending.length;
    encodeEntry(this.pending, entry);
    try {
      this.segment.ensure(this.pending.length);
    } catch (e) {
      this.pending.rewind(at);
      const code = e instanceof SegmentFullError ? e.code : "EIO";
      this.opts.log?.(`journal: ${(e as Error).message}`);
      if (strict) throw new XsError(code === "ENOSPC" ? "ENOSPC" : "EIO");
    }
  }

  /**
   * Before output goes out: write what is pending. True if replies may go
   * now; false (sync mode, an fsync under way) and `then` is called once
   * everything written so far is on the disk.
   */
  release(then: () => void): boolean {
    if (!this.segment || this.stopped) return true;
    if (this.pending.length > 0) this.write();
    if (this.failed) return false;
    if (this.opts.mode === "log" || this.durable >= this.appended) return true;
    this.waiting.push({ at: this.appended, then });
    this.syncNow();
    return false;
  }

  private write(): void {
    const length = this.pending.length;
    try {
      // The pending writer's buffer itself, up to what was written (no view made per write).
      this.segment!.append(this.pending.buffer, length);
    } catch (e) {
      this.fatal(e as Error);
      return;
    }
    this.appended += length;
    this.pending.reset();
    if (this.segment!.size >= this.snapshotBytes) void this.rollTo(this.current + 1);
  }

  private syncNow(): void {
    if (this.syncing || !this.segment) return;
    this.syncing = true;
    const upTo = this.appended;
    this.segment.sync((err) => {
      this.syncing = false;
      if (err) return this.fatal(err);
      this.durable = Math.max(this.durable, upTo);
      this.wake();
    });
  }

  /** Call the waiters whose writes are on the disk; sync again for the others. */
  private wake(): void {
    const ready = this.waiting.filter((w) => w.at <= this.durable);
    this.waiting.splice(0, this.waiting.length, ...this.waiting.filter((w) => w.at > this.durable));
    if (this.waiting.length) this.syncNow();
    for (const w of ready) w.then();
  }

  private fatal(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.opts.log?.(`journal: writing failed (${err.message}); nothing more is acknowledged`);
    this.opts.onFatal?.(err);
  }

  /**
   * Start segment `next` with a snapshot of the state as it is now (written
   * in slices between requests); then drop the older files it makes
   * unnecessary.
   */
  rollTo(next: number): Promise<void> {
    if (this.snapshotting || !this.source) return Promise.resolve();
    const old = this.segment;
    // What is pending belongs to the old segment; in sync mode it is on the disk before the next one starts.
    if (old && this.pending.length > 0) this.write();
    if (old && this.opts.mode === "sync" && this.durable < this.appended) {
      try {
        old.syncNow();
        this.durable = this.appended;
        this.wake();
      } catch (e) {
        this.fatal(e as Error);
      }
    }
    let capture: Capture;
    try {
      this.segment = Segment.create(join(this.opts.dir, segmentName(next)), next);
      capture = this.source();
    } catch (e) {
      this.segment = old;
      if (!old) throw e;
      this.opts.log?.(`journal: cannot start segment ${next}: ${(e as Error).message}`);
      return Promise.resolve();
    }
    this.snapshotting = true;
    const path = join(this.opts.dir, snapshotName(next));
    const done = async (): Promise<void> => {
      try {
        await writeSnapshot(path, capture, () => new Promise((r) => setImmediate(r)));
        this.syncDir();
        this.prune(next);
      } catch (e) {
        this.opts.log?.(`journal: snapshot ${next} failed: ${(e as Error).message}`);
      } finally {
        if (old && old !== this.segment) old.close();
        this.snapshotting = false;
      }
    };
    return done();
  }

  /** Remove the snapshots and segments before `base` (its snapshot holds all they did). */
  private prune(base: number): void {
    for (const f of readdirSync(this.opts.dir)) {
      const m = /^(log|snapshot)\.(\d{8})(\.tmp)?$/.exec(f);
      if (!m || Number(m[2]) >= base) continue;
      try {
        unlinkSync(join(this.opts.dir, f));
      } catch {
        // gone already
      }
    }
  }

  private syncDir(): void {
    try {
      const fd = openSync(this.opts.dir, "r");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // not every file system syncs directories
    }
  }

  /** Shutting down: write and sync what is pending, close the segment. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.segment) {
      if (this.pending.length > 0 && !this.failed) this.write();
      try {
        if (!this.failed) this.segment.syncNow();
      } catch {
        // best effort
      }
      this.segment.close();
    }
  }
}
