/**
 * The shapes of the inspector's JSON answers and feed messages, shared by
 * the server (src/inspect/api.ts, feed.ts) and the page (page/*.ts), which
 * imports them as types only.
 */

/** Bytes (values, tokens): a string when they are valid UTF-8, else `{ "base64": ... }`. */
export type Bytes = string | { readonly base64: string };

/** "More of this answer": the parameters that continue it. */
export type More<K extends string, V> = { readonly [key in K]: V } | null;

export interface InfoAnswer {
  readonly revision: number;
  readonly history: { readonly oldest: number; readonly newest: number; readonly commits: number; readonly bytes: number };
}

export interface ChildItem {
  readonly name: string;
  /** How many children it has itself. */
  readonly children: number;
}

export interface NodeAnswer {
  readonly path: string;
  readonly revision: number;
  readonly value: Bytes;
  /** The value's length in bytes. */
  readonly size: number;
  /** The ACL as GET_PERMS entries: the owner (and everyone else's access) first. */
  readonly perms: readonly string[];
  readonly childCount: number;
  readonly offset: number;
  /** A page of children, in listing order. */
  readonly children: readonly ChildItem[];
  readonly more: More<"offset", number>;
}

/** A usage against its quota (limit null: quotas do not apply, a control domain). */
export interface Usage {
  readonly used: number;
  readonly limit: number | null;
}

export interface DomainRow {
  readonly domid: number;
  readonly introduced: boolean;
  readonly shutdown: boolean;
  readonly target: number | null;
  readonly privileged: boolean;
  readonly connections: number;
  readonly nodes: Usage;
  readonly watches: Usage;
  readonly transactions: Usage;
  readonly outstanding: Usage;
  readonly memory: Usage;
}

export interface DomainsAnswer {
  readonly total: number;
  readonly offset: number;
  readonly domains: readonly DomainRow[];
  readonly more: More<"offset", number>;
}

export interface CommitSummary {
  readonly revision: number;
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly domid: number;
  readonly conn: number;
  readonly op: string;
  readonly txId: number;
  /** Paths it changed (under the log's path), all counted, the first few listed. */
  readonly changeCount: number;
  readonly changes: readonly { readonly path: string; readonly kind: "created" | "value" | "perms" | "removed" }[];
}

export interface HistoryAnswer {
  readonly oldest: number;
  readonly newest: number;
  /** Newest first. */
  readonly commits: readonly CommitSummary[];
  readonly more: More<"before", number>;
}

export interface NodeStateView {
  readonly value: Bytes;
  readonly perms: readonly string[];
}

export interface DiffItem {
  readonly path: string;
  readonly kind: "added" | "removed" | "changed";
  readonly before: NodeStateView | null;
  readonly after: NodeStateView | null;
}

export interface DiffAnswer {
  readonly from: number;
  readonly to: number;
  readonly path: string;
  readonly entries: readonly DiffItem[];
  readonly more: More<"after", string>;
}

export interface ErrorAnswer {
  readonly error: string;
}

/** Feed `commit` message. */
export interface FeedCommit {
  readonly revision: number;
  readonly time: number;
  readonly domid: number;
  readonly conn: number;
  readonly op: string;
  readonly txId: number;
  readonly paths: readonly string[];
  readonly pathCount: number;
  readonly effects: readonly string[];
}

/** Feed `watch` message: an event queued to a watcher. */
export interface FeedWatch {
  readonly conn: number;
  readonly domid: number;
  readonly kind: "socket" | "domain";
  readonly path: Bytes;
  readonly token: Bytes;
}
