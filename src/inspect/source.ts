/**
 * What the inspector may see of the daemon: narrow, read-only views of the
 * committed state, the domains and their usage, the history of commits,
 * and notifications of commits and delivered watch events for the live
 * feed. The composition root (src/server/xenstored.ts) builds one from the
 * daemon's modules; nothing here can change state.
 */
import type { HistoryCommit, LogQuery } from "../history/history.js";
import type { DiffEntry } from "../history/diff.js";
import type { Node } from "../store/node.js";
import type { QuotaName } from "../quota/quotas.js";
import type { CommitListener, Revision } from "../store/store.js";

/** The committed tree and its commits. */
export interface TreeSource {
  /** The current revision: its root and number. */
  readonly head: Revision;
  onCommit(listener: CommitListener): void;
}

/** The retained history of commits (src/history). */
export interface HistorySource {
  readonly oldest: number;
  readonly newest: number;
  /** Retained commits. */
  readonly size: number;
  readonly retainedBytes: number;
  commit(revision: number): HistoryCommit | undefined;
  /** The tree at a retained revision; throws NotRetained otherwise. */
  rootAt(revision: number): Node;
  diffFrom(from: number, to: number, path?: string, after?: string): Generator<DiffEntry>;
  log(q?: LogQuery): HistoryCommit[];
}

/** A domain the daemon knows. */
export interface DomainInfo {
  readonly domid: number;
  readonly introduced: boolean;
  /** @releaseDomain already fired for its shutdown. */
  readonly shutdown: boolean;
  /** SET_TARGET: acts with this domain's rights. */
  readonly target: number | null;
}

/** What a domain uses of what its quotas bound (as `xenstore-control quota <domid>` counts it). */
export interface DomainUsage {
  readonly nodes: number;
  readonly watches: number;
  readonly transactions: number;
  /** Replies and events queued to it, not yet taken by its transport. */
  readonly outstanding: number;
  /** Accounted bytes (the `memory` quota). */
  readonly memory: number;
  /** Its connections, socket clients acting as it included. */
  readonly connections: number;
}

export interface DomainSource {
  /** Every known domain, in no particular order. */
  list(): Iterable<DomainInfo>;
  /** Control domains: quotas do not apply to them. */
  privileged(domid: number): boolean;
  usage(domid: number): DomainUsage;
  /** The hard quota `name` for `domid`. */
  limit(name: QuotaName, domid: number): number;
}

/** A watch event queued to its watcher. */
export interface DeliveredEvent {
  /** The watcher's connection: sequence number, domain, kind. */
  readonly conn: number;
  readonly domid: number;
  readonly kind: "socket" | "domain";
  /** The event path as sent (relative for relative watches) and the token (latin1 strings: any bytes). */
  readonly path: string;
  readonly token: string;
}

export interface InspectSource {
  readonly tree: TreeSource;
  readonly history: HistorySource;
  readonly domains: DomainSource;
  /** Be told of every watch event queued to a watcher. */
  onWatchEvent(listener: (event: DeliveredEvent) => void): void;
}
