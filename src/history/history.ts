/**
 * The history of every change: each commit of the store (who, when, through
 * which request, which paths changed from what to what). Only the changes
 * are kept, never old trees, so retaining a commit costs what it changed,
 * whatever the size of the store; a past tree is rebuilt when asked for, by
 * undoing the newer commits' changes on a later tree (./undo.ts), and the
 * last few rebuilt are cached (paging through a long diff asks again).
 *
 * Retention is bounded three ways (whichever binds first drops the oldest
 * commits): a number of revisions, an age, and an estimate of the bytes
 * retained. The defaults: 10,000 revisions (a day of a quiet host; a boot
 * of a few hundred guests), 24 hours, 16 MiB of retained commits. Commits
 * are kept encoded, outside the JavaScript heap (./archive.ts), so that
 * bound is what they occupy: each change's path, values and ACLs and a few
 * bytes of framing, plus an index entry per commit.
 *
 * Export (`exportGit`): a `git fast-import` stream on `refs/heads/main`,
 * first a commit with the whole tree at the base revision, then one commit
 * per retained revision holding only what it changed. Each xenstore node P
 * is the directory `P/`; its value is the file `P/.value` (always present,
 * possibly empty), its ACL the file `P/.perms` (one GET_PERMS entry per
 * line, e.g. `n0` then `r5`); a removed node removes its directory. The
 * root's files are `.value` and `.perms` at the top.
 */
import { commitChanges, type ChangeEntry } from "../store/changes.js";
import { CommitArchive, type ArchivedCommit } from "./archive.js";
import type { Node } from "../store/node.js";
import { isAtOrBelow } from "../store/path.js";
import type { CommitRecord, Revision, Store } from "../store/store.js";
import { lookup } from "../store/tree.js";
import { diffTrees, type DiffEntry } from "./diff.js";
import { fastImportStream } from "./git.js";
import { permStrings } from "./perms.js";
import { undo } from "./undo.js";

export interface HistoryOptions {
  /** Most commits retained. */
  maxRevisions?: number;
  /** Commits older than this (milliseconds) are dropped. */
  maxAgeMs?: number;
  /** Most bytes retained, by the estimate described above. */
  maxBytes?: number;
}

export const HISTORY_DEFAULTS: Readonly<Required<HistoryOptions>> = Object.freeze({
  maxRevisions: 10_000,
  maxAgeMs: 24 * 60 * 60 * 1000,
  maxBytes: 16 * 1024 * 1024,
});

/** One retained commit. */
export type HistoryCommit = ArchivedCommit;

/** The tree where the retained history begins. */
export interface HistoryBase {
  readonly revision: number;
  /** When that revision was committed (or the history began watching). */
  readonly time: number;
  readonly root: Node;
}

export interface LogQuery {
  /** Only commits that touched this path or anything below it (or removed it with an ancestor). */
  path?: string;
  /** Only commits at or after this time (ms since the epoch). */
  since?: number;
  /** Only commits made by this domain. */
  domain?: number;
  /** Only revisions below this one. */
  before?: number;
  /** At most this many commits. */
  limit?: number;
}

/** A node as `show` presents it. */
export interface NodeView {
  readonly value: string;
  /** The ACL in GET_PERMS form. */
  readonly perms: string[];
  /** Child names, sorted (a past directory's listing order is not kept). */
  readonly children: readonly string[];
}

/** A revision asked for that is not retained (any more, or not yet). */
export class NotRetained extends RangeError {
  constructor(revision: number, oldest: number, newest: number) {
    super(`revision ${revision} is not retained (retained: r${oldest}..r${newest})`);
    this.name = "NotRetained";
  }
}

/** Past trees kept once rebuilt. */
const REBUILT_CACHED = 4;

/** Does change `e` concern `path`: at or below it, or the removal of an ancestor (which removed it)? */
function concerns(e: ChangeEntry, path: string): boolean {
  return isAtOrBelow(e.path, path) || (e.after === null && isAtOrBelow(path, e.path));
}

/** The changes of `c` a log for `path` shows. */
export function changesUnder(c: HistoryCommit, path: string): readonly ChangeEntry[] {
  return path === "/" ? c.changes : c.changes.filter((e) => concerns(e, path));
}

/** Does `c` pass the filters of `q` (all but `before` and `limit`)? */
export function matches(c: HistoryCommit, q: LogQuery): boolean {
  if (q.domain !== undefined && c.domid !== q.domain) return false;
  if (q.since !== undefined && c.time < q.since) return false;
  if (q.path === undefined || q.path === "/") return true;
  const path = q.path;
  return c.changes.some((e) => concerns(e, path));
}

export class History {
  readonly limits: Readonly<Required<HistoryOptions>>;
  /** The base: the oldest revision whose tree can be rebuilt (the one before the oldest retained commit). */
  private baseRevision: number;
  private baseTime: number;
  /** Retained commits, oldest first (revisions are consecutive, from baseRevision + 1). */
  private readonly archive = new CommitArchive();
  private bytes = 0;
  /** The newest revision this history knows: the last commit's, else the base's. */
  private latest: Revision;
  /** Past trees rebuilt lately, by revision; valid for trees up to `latest` (history only grows at the new end). */
  private rebuilt = new Map<number, Node>();

  constructor(
    private readonly store: Store,
    opts: HistoryOptions = {},
  ) {
    this.limits = { ...HISTORY_DEFAULTS, ...definedOnly(opts) };
    this.latest = store.head;
    this.baseRevision = store.revision;
    this.baseTime = Date.now();
    this.archive.clear(this.baseRevision + 1);
    store.onCommit((r) => this.record(r));
  }

  /** The base revision: the oldest whose tree is retained. */
  get oldest(): number {
    this.sync();
    return this.baseRevision;
  }

  get newest(): number {
    this.sync();
    return this.latest.revision;
  }

  /** How many commits are retained. */
  get size(): number {
    this.sync();
    return this.archive.size;
  }

  /** Estimated bytes retained. */
  get retainedBytes(): number {
    return this.bytes;
  }

  /** When the base revision was committed. */
  get since(): number {
    return this.baseTime;
  }

  private record(r: CommitRecord): void {
    // A store restored from a dump continues from a tree no commit made:
    // the history starts again there.
    if (r.before !== this.latest) this.restart(r.before);
    this.bytes += this.archive.append(r.time, r.domid, r.conn, r.op, r.txId, commitChanges(r));
    this.latest = r.after;
    this.prune();
  }

  private restart(from: Revision): void {
    this.archive.clear(from.revision + 1);
    this.bytes = 0;
    this.latest = from;
    this.baseRevision = from.revision;
    this.baseTime = Date.now();
    this.rebuilt.clear();
  }

  /** Catch up with a restore no commit has followed yet. */
  private sync(): void {
    if (this.store.head !== this.latest) this.restart(this.store.head);
  }

  /** Drop the oldest commits beyond any bound; the last one dropped becomes the base. */
  prune(now = Date.now()): void {
    const { maxRevisions, maxAgeMs, maxBytes } = this.limits;
    const oldestKept = now - maxAgeMs;
    for (let time = this.archive.oldestTime(); time !== undefined; time = this.archive.oldestTime()) {
      if (this.archive.size <= maxRevisions && this.bytes <= maxBytes && time >= oldestKept) break;
      this.baseRevision++;
      this.baseTime = time;
      this.bytes -= this.archive.dropOldest();
    }
    // Checked first: iterating even an empty map makes an iterator, at every commit.
    if (this.rebuilt.size > 0) for (const rev of this.rebuilt.keys()) if (rev < this.baseRevision) this.rebuilt.delete(rev);
  }

  /** The retained commit that made `revision`. */
  commit(revision: number): HistoryCommit | undefined {
    this.sync();
    if (!Number.isInteger(revision) || revision <= this.baseRevision || revision > this.latest.revision) return undefined;
    return this.archive.get(revision);
  }

  /**
   * The tree at a retained revision (NotRetained otherwise): the newest
   * tree, or one rebuilt by undoing the commits after it, starting from
   * the nearest later tree at hand.
   */
  rootAt(revision: number): Node {
    this.sync();
    if (!Number.isInteger(revision) || revision < this.baseRevision || revision > this.latest.revision) {
      throw new NotRetained(revision, this.baseRevision, this.latest.revision);
    }
    if (revision === this.latest.revision) return this.latest.root;
    const cached = this.rebuilt.get(revision);
    if (cached) return cached;
    let from = this.latest.revision;
    let tree = this.latest.root;
    for (const [rev, root] of this.rebuilt) {
      if (rev > revision && rev < from) {
        from = rev;
        tree = root;
      }
    }
    for (let rev = from; rev > revision; rev--) tree = undo(tree, this.commit(rev)!.changes);
    this.rebuilt.set(revision, tree);
    if (this.rebuilt.size > REBUILT_CACHED) this.rebuilt.delete(this.rebuilt.keys().next().value!);
    return tree;
  }

  /** Retained commits passing `q`'s filters, newest first. */
  log(q: LogQuery = {}): HistoryCommit[] {
    this.prune();
    const out: HistoryCommit[] = [];
    const limit = q.limit ?? Infinity;
    const start = Math.min(q.before ?? Infinity, this.newest + 1);
    for (let rev = start - 1; rev > this.baseRevision && out.length < limit; rev--) {
      const c = this.commit(rev)!;
      // Times grow along the history (but for a clock stepped back): nothing older can match.
      if (q.since !== undefined && c.time < q.since) break;
      if (matches(c, q)) out.push(c);
    }
    return out;
  }

  /**
   * Every node added, removed or changed (value or ACL) under `path`
   * between the trees at `from` and `to`, parents before children, siblings
   * by name. Subtrees the two trees share are skipped whole.
   */
  diff(from: number, to: number, path = "/"): DiffEntry[] {
    return [...this.diffFrom(from, to, path)];
  }

  /** `diff` lazily, resuming after the entry for path `after` (paging). */
  diffFrom(from: number, to: number, path = "/", after?: string): Generator<DiffEntry> {
    this.prune();
    return diffTrees(this.rootAt(from), this.rootAt(to), path, after);
  }

  /** The node at `path` in the tree at `revision`, or null when it is not there. */
  show(revision: number, path: string): NodeView | null {
    this.prune();
    const node = lookup(this.rootAt(revision), path);
    if (!node) return null;
    return { value: node.value, perms: permStrings(node.perms.key), children: [...node.childNames()].sort() };
  }

  /** Write the retained history as a `git fast-import` stream. */
  exportGit(write: (chunk: string | Buffer) => void): void {
    for (const chunk of this.gitStream()) write(chunk);
  }

  /**
   * The stream `exportGit` writes, in chunks, of the history as it is now
   * (later commits are not in it): for writing it a little at a time.
   */
  gitStream(): Generator<Buffer> {
    this.prune();
    const base: HistoryBase = { revision: this.baseRevision, time: this.baseTime, root: this.rootAt(this.baseRevision) };
    // Decoded now: the stream is written a little at a time, while newer commits may drop older ones.
    const commits: HistoryCommit[] = [];
    for (let rev = this.baseRevision + 1; rev <= this.latest.revision; rev++) commits.push(this.commit(rev)!);
    return fastImportStream(base, commits);
  }
}

function definedOnly(opts: HistoryOptions): HistoryOptions {
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
}
