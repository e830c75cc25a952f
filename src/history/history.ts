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
 * of a few hundred guests), 24 hours, 16 MiB by the estimate, which counts
 * each change entry's path, values and ACLs and a fixed overhead per entry
 * and per commit (measured: 10,000 commits of a 1,000-domain populate, one
 * node each, held 5.3 MiB of heap; the estimate says 5.5).
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
export interface HistoryCommit {
  readonly revision: number;
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly domid: number;
  /** The connection's sequence number; 0 for the daemon itself. */
  readonly conn: number;
  readonly op: string;
  readonly txId: number;
  /** Each path the commit touched, once, with its state before and after. */
  readonly changes: readonly ChangeEntry[];
  /** What retaining this commit is estimated to cost. */
  readonly bytes: number;
}

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

/** A commit's own bytes: the record and its entry array. */
const COMMIT_BYTES = 240;
/** An entry and its two state objects. */
const ENTRY_BYTES = 240;
/** Dropped commits are compacted out of the array once this many have gathered. */
const COMPACT_AFTER = 1024;
/** Past trees kept once rebuilt. */
const REBUILT_CACHED = 4;

function estimateBytes(r: CommitRecord, changes: readonly ChangeEntry[]): number {
  let bytes = COMMIT_BYTES + r.op.length;
  for (const c of changes) {
    bytes += ENTRY_BYTES + c.path.length;
    if (c.before) bytes += c.before.value.length + c.before.acl.length;
    if (c.after) bytes += c.after.value.length + c.after.acl.length;
  }
  return bytes;
}

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
  /** Retained commits, oldest first, from index `first` on (revisions are consecutive). */
  private commits: HistoryCommit[] = [];
  private first = 0;
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
    return this.commits.length - this.first;
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
    const changes = commitChanges(r);
    const commit: HistoryCommit = {
      revision: r.revision,
      time: r.time,
      domid: r.domid,
      conn: r.conn,
      op: r.op,
      txId: r.txId,
      changes,
      bytes: estimateBytes(r, changes),
    };
    this.commits.push(commit);
    this.bytes += commit.bytes;
    this.latest = r.after;
    this.prune();
  }

  private restart(from: Revision): void {
    this.commits = [];
    this.first = 0;
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
    while (this.first < this.commits.length) {
      const c = this.commits[this.first]!;
      const count = this.commits.length - this.first;
      if (count <= maxRevisions && this.bytes <= maxBytes && c.time >= oldestKept) break;
      this.baseRevision = c.revision;
      this.baseTime = c.time;
      this.bytes -= c.bytes;
      this.first++;
    }
    if (this.first >= COMPACT_AFTER && this.first * 2 >= this.commits.length) {
      this.commits = this.commits.slice(this.first);
      this.first = 0;
    }
    for (const rev of this.rebuilt.keys()) if (rev < this.baseRevision) this.rebuilt.delete(rev);
  }

  /** The retained commit that made `revision`. */
  commit(revision: number): HistoryCommit | undefined {
    this.sync();
    if (!Number.isInteger(revision) || revision <= this.baseRevision || revision > this.latest.revision) return undefined;
    return this.commits[this.first + (revision - this.baseRevision - 1)];
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
    return fastImportStream(base, this.commits.slice(this.first));
  }
}

function definedOnly(opts: HistoryOptions): HistoryOptions {
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
}
