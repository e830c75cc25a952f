/**
 * The history of every change: each commit of the store (who, when, through
 * which request, which paths changed from what to what) and the tree after
 * it. Retaining a tree costs only the nodes its commit copied, since trees
 * share everything else, so any retained revision can be shown and any two
 * compared. The oldest retained revision's own tree is kept as the base.
 *
 * Retention is bounded three ways (whichever binds first drops the oldest
 * commits): a number of revisions, an age, and an estimate of the bytes
 * retained. The defaults keep it to a few tens of MiB whatever the store:
 * 10,000 revisions (a day of a quiet host; a boot of a few hundred guests),
 * 24 hours, 16 MiB by the estimate (measured: 10,000 revisions of writes
 * into a 3,000-domain store cost 24 MiB of heap). The estimate counts each
 * change entry's path, values and ACLs, a fixed overhead per entry and per
 * commit, and for each directory on a changed path the node and child
 * list the retained tree copied (so a large directory's changes cost what
 * they retain).
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
  readonly after: Revision;
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
  /** Child names in listing order. */
  readonly children: readonly string[];
}

/** A revision asked for that is not retained (any more, or not yet). */
export class NotRetained extends RangeError {
  constructor(revision: number, oldest: number, newest: number) {
    super(`revision ${revision} is not retained (retained: r${oldest}..r${newest})`);
    this.name = "NotRetained";
  }
}

/** A commit's own bytes: the record, its entry array, its Revision object. */
const COMMIT_BYTES = 160;
/** An entry and its two state objects. */
const ENTRY_BYTES = 96;
/**
 * Per directory on a changed path: the node the retained tree copied, plus
 * per child what its copied child list keeps (measured: about 50 bytes per
 * child in a directory of 1,000 domains: the listing in order, its index).
 */
const NODE_COPY_BYTES = 64;
const CHILD_REF_BYTES = 48;
/** Dropped commits are compacted out of the array once this many have gathered. */
const COMPACT_AFTER = 1024;

function estimateBytes(r: CommitRecord, changes: readonly ChangeEntry[]): number {
  let bytes = COMMIT_BYTES + r.op.length;
  // Each directory copied on the way to a change counts once per commit.
  const copied = new Set<string>();
  for (const c of changes) {
    bytes += ENTRY_BYTES + c.path.length;
    if (c.before) bytes += c.before.value.length + c.before.acl.length;
    if (c.after) bytes += c.after.value.length + c.after.acl.length;
    let node: Node | undefined = r.after.root;
    let at = "";
    for (const name of c.path === "/" ? [] : c.path.slice(1).split("/")) {
      if (!node || copied.has(at)) {
        node = node?.child(name);
        at += `/${name}`;
        continue;
      }
      copied.add(at);
      bytes += NODE_COPY_BYTES + CHILD_REF_BYTES * (node.children?.size ?? 0);
      node = node.child(name);
      at += `/${name}`;
    }
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
  private base: HistoryBase;
  /** Retained commits, oldest first, from index `first` on (revisions are consecutive). */
  private commits: HistoryCommit[] = [];
  private first = 0;
  private bytes = 0;
  /** The newest revision this history knows: the last commit's, else the base's. */
  private latest: Revision;

  constructor(
    private readonly store: Store,
    opts: HistoryOptions = {},
  ) {
    this.limits = { ...HISTORY_DEFAULTS, ...definedOnly(opts) };
    this.latest = store.head;
    this.base = { revision: store.revision, time: Date.now(), root: store.root };
    store.onCommit((r) => this.record(r));
  }

  /** The base revision: the oldest whose tree is retained. */
  get oldest(): number {
    this.sync();
    return this.base.revision;
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
    return this.base.time;
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
      after: r.after,
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
    this.base = { revision: from.revision, time: Date.now(), root: from.root };
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
      this.base = { revision: c.revision, time: c.time, root: c.after.root };
      this.bytes -= c.bytes;
      this.first++;
    }
    if (this.first >= COMPACT_AFTER && this.first * 2 >= this.commits.length) {
      this.commits = this.commits.slice(this.first);
      this.first = 0;
    }
  }

  /** The retained commit that made `revision`. */
  commit(revision: number): HistoryCommit | undefined {
    this.sync();
    if (!Number.isInteger(revision) || revision <= this.base.revision || revision > this.latest.revision) return undefined;
    return this.commits[this.first + (revision - this.base.revision - 1)];
  }

  /** The tree at a retained revision; NotRetained otherwise. */
  rootAt(revision: number): Node {
    this.sync();
    if (revision === this.base.revision) return this.base.root;
    const c = this.commit(revision);
    if (!c) throw new NotRetained(revision, this.base.revision, this.latest.revision);
    return c.after.root;
  }

  /** Retained commits passing `q`'s filters, newest first. */
  log(q: LogQuery = {}): HistoryCommit[] {
    this.prune();
    const out: HistoryCommit[] = [];
    const limit = q.limit ?? Infinity;
    const start = Math.min(q.before ?? Infinity, this.newest + 1);
    for (let rev = start - 1; rev > this.base.revision && out.length < limit; rev--) {
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
    return { value: node.value, perms: permStrings(node.perms.key), children: node.childNames() };
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
    return fastImportStream(this.base, this.commits.slice(this.first));
  }
}

function definedOnly(opts: HistoryOptions): HistoryOptions {
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
}
