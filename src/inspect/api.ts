/**
 * The inspector's JSON API: each answer is computed from the state as it
 * is now (or a retained revision), bounded by a page size, so no request
 * costs more than a page of work: a directory's children and the domains
 * are paged, the history log examines at most SCAN_MAX commits per answer,
 * and a diff is taken a page at a time from the lazy tree comparison.
 *
 *   GET /api/info
 *   GET /api/node?path=P[&rev=R][&offset=N][&limit=N]
 *   GET /api/domains[?offset=N][&limit=N]
 *   GET /api/history[?before=R][&limit=N][&path=P][&domain=D]
 *   GET /api/diff?from=R1&to=R2[&path=P][&after=P][&limit=N]
 *
 * Paged answers carry `more`: null at the end, else the parameters that
 * continue (`{"offset": 200}`, `{"before": 1234}`, `{"after": "/a/b"}`).
 */
import { NotRetained, changesUnder, matches, type HistoryCommit, type LogQuery } from "../history/history.js";
import type { DiffEntry } from "../history/diff.js";
import type { NodeState } from "../store/changes.js";
import type { Children } from "../store/children.js";
import type { Node } from "../store/node.js";
import { isValidNodePath } from "../store/path.js";
import { lookup } from "../store/tree.js";
import type { QuotaName } from "../quota/quotas.js";
import { bytes, permsOf } from "./encode.js";
import type { InspectSource } from "./source.js";
import type { ChildItem, CommitSummary, DiffAnswer, DiffItem, DomainRow, DomainsAnswer, HistoryAnswer, InfoAnswer, NodeAnswer, NodeStateView, Usage } from "./wire.js";

/** Page sizes: default and most. */
export const LIMITS = {
  children: { default: 200, max: 1000 },
  domains: { default: 200, max: 1000 },
  history: { default: 50, max: 200 },
  diff: { default: 200, max: 1000 },
  /** Changed paths listed per commit in the log (the diff shows them all). */
  changesPerCommit: 20,
} as const;

/** Commits the log examines per answer at most (a filter matching little would otherwise scan them all). */
export const SCAN_MAX = 20_000;

/** Longest path accepted in a query. */
const PATH_MAX = 4096;

/** A request the API refuses: its HTTP status and why. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function int(q: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = q.get(name);
  if (raw === null) return undefined;
  if (!/^-?\d{1,16}$/.test(raw)) throw new ApiError(400, `${name}: not an integer: ${JSON.stringify(raw.slice(0, 40))}`);
  const n = Number(raw);
  if (n < min || n > max) throw new ApiError(400, `${name}: ${n} is out of range (${min}..${max})`);
  return n;
}

function required(q: URLSearchParams, name: string, min: number, max: number): number {
  const n = int(q, name, min, max);
  if (n === undefined) throw new ApiError(400, `${name} is required`);
  return n;
}

function pageSize(q: URLSearchParams, l: { readonly default: number; readonly max: number }): number {
  return int(q, "limit", 1, l.max) ?? l.default;
}

function path(q: URLSearchParams, name: string, fallback: string | undefined = "/"): string {
  const p = q.get(name) ?? fallback;
  if (p === undefined) throw new ApiError(400, `${name} is required`);
  if (!isValidNodePath(p, PATH_MAX)) throw new ApiError(400, `${name}: not a node path: ${JSON.stringify(p.slice(0, 80))}`);
  return p;
}

/** Child names of each directory, by its (immutable) child map: a large directory is listed once, then paged. */
const listings = new WeakMap<Children, readonly string[]>();

function childNames(node: Node): readonly string[] {
  const c = node.children;
  if (!c) return [];
  let names = listings.get(c);
  if (!names) listings.set(c, (names = c.names()));
  return names;
}

function rootAt(src: InspectSource, revision: number): Node {
  if (revision === src.tree.head.revision) return src.tree.head.root;
  try {
    return src.history.rootAt(revision);
  } catch (e) {
    if (e instanceof NotRetained) throw new ApiError(404, e.message);
    throw e;
  }
}

export function info(src: InspectSource): InfoAnswer {
  const h = src.history;
  return { revision: src.tree.head.revision, history: { oldest: h.oldest, newest: h.newest, commits: h.size, bytes: h.retainedBytes } };
}

export function node(src: InspectSource, q: URLSearchParams): NodeAnswer {
  const at = path(q, "path");
  const revision = int(q, "rev", 0, Number.MAX_SAFE_INTEGER) ?? src.tree.head.revision;
  const offset = int(q, "offset", 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const limit = pageSize(q, LIMITS.children);
  const n = lookup(rootAt(src, revision), at);
  if (!n) throw new ApiError(404, `${at} does not exist at r${revision}`);
  const names = childNames(n);
  const end = Math.min(names.length, offset + limit);
  const children: ChildItem[] = [];
  for (let i = offset; i < end; i++) {
    const name = names[i]!;
    children.push({ name, children: n.child(name)?.children?.size ?? 0 });
  }
  return {
    path: at,
    revision,
    value: bytes(n.value),
    size: n.value.length,
    perms: n.perms.toStrings(),
    childCount: names.length,
    offset,
    children,
    more: end < names.length ? { offset: end } : null,
  };
}

export function domains(src: InspectSource, q: URLSearchParams): DomainsAnswer {
  const offset = int(q, "offset", 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const limit = pageSize(q, LIMITS.domains);
  const all = [...src.domains.list()].sort((a, b) => a.domid - b.domid);
  const page = all.slice(offset, offset + limit);
  return {
    total: all.length,
    offset,
    domains: page.map((d) => {
      const privileged = src.domains.privileged(d.domid);
      const usage = src.domains.usage(d.domid);
      // Quotas bind unprivileged domains only.
      const of = (name: QuotaName & keyof typeof usage): Usage => ({ used: usage[name], limit: privileged ? null : src.domains.limit(name, d.domid) });
      const row: DomainRow = {
        domid: d.domid,
        introduced: d.introduced,
        shutdown: d.shutdown,
        target: d.target,
        privileged,
        connections: usage.connections,
        nodes: of("nodes"),
        watches: of("watches"),
        transactions: of("transactions"),
        outstanding: of("outstanding"),
        memory: of("memory"),
      };
      return row;
    }),
    more: offset + limit < all.length ? { offset: offset + limit } : null,
  };
}

function commitSummary(c: HistoryCommit, under: string): CommitSummary {
  const changes = changesUnder(c, under);
  return {
    revision: c.revision,
    time: c.time,
    domid: c.domid,
    conn: c.conn,
    op: c.op,
    txId: c.txId,
    changeCount: changes.length,
    changes: changes.slice(0, LIMITS.changesPerCommit).map((e) => ({ path: e.path, kind: e.kind })),
  };
}

export function history(src: InspectSource, q: URLSearchParams): HistoryAnswer {
  const h = src.history;
  const query: LogQuery = {};
  const under = q.has("path") ? path(q, "path") : "/";
  if (q.has("path")) query.path = under;
  const domain = int(q, "domain", 0, 0xffffffff);
  if (domain !== undefined) query.domain = domain;
  const limit = pageSize(q, LIMITS.history);
  const before = int(q, "before", 0, Number.MAX_SAFE_INTEGER) ?? Infinity;
  const oldest = h.oldest;
  const newest = h.newest;
  const commits: CommitSummary[] = [];
  let rev = Math.min(before, newest + 1) - 1;
  for (let scanned = 0; rev > oldest && commits.length < limit && scanned < SCAN_MAX; rev--, scanned++) {
    const c = h.commit(rev);
    if (c && matches(c, query)) commits.push(commitSummary(c, under));
  }
  return { oldest, newest, commits, more: rev > oldest ? { before: rev + 1 } : null };
}

function stateOf(s: NodeState | null): NodeStateView | null {
  return s && { value: bytes(s.value), perms: permsOf(s.acl) };
}

export function diff(src: InspectSource, q: URLSearchParams): DiffAnswer {
  const from = required(q, "from", 0, Number.MAX_SAFE_INTEGER);
  const to = required(q, "to", 0, Number.MAX_SAFE_INTEGER);
  const under = path(q, "path");
  const after = q.has("after") ? path(q, "after") : undefined;
  const limit = pageSize(q, LIMITS.diff);
  let entries: Generator<DiffEntry>;
  try {
    entries = src.history.diffFrom(from, to, under, after);
  } catch (e) {
    if (e instanceof NotRetained) throw new ApiError(404, e.message);
    throw e;
  }
  const out: DiffItem[] = [];
  let last: string | null = null;
  let more = false;
  for (const e of entries) {
    if (out.length === limit) {
      more = true;
      break;
    }
    out.push({ path: e.path, kind: e.kind, before: stateOf(e.before), after: stateOf(e.after) });
    last = e.path;
  }
  return { from, to, path: under, entries: out, more: more && last !== null ? { after: last } : null };
}
