/**
 * The handles op handlers work with: the state modules and the few daemon
 * services a request can reach, passed explicitly (no hub object).
 */
import type { DomainRegistry } from "../domains/domains.js";
import type { DomainLifecycle } from "../domains/lifecycle.js";
import type { History } from "../history/history.js";
import type { DomainMemory } from "../quota/memory.js";
import type { Quotas } from "../quota/quotas.js";
import type { Store } from "../store/store.js";
import type { ContentionManager } from "../transactions/contention.js";
import type { Transaction } from "../transactions/transaction.js";
import type { WatchEvents } from "../watches/events.js";
import type { Notices } from "../util/notices.js";
import type { WatchRegistry } from "../watches/registry.js";
import type { Connection } from "./connection.js";
import type { Connections } from "./connections.js";
import type { RequestCounters } from "./counters.js";

/** Daemon-level actions CONTROL can trigger (trace file handling). */
export interface ControlHooks {
  logOn(): void;
  logOff(): void;
  setLogFile(path: string): void;
  /** Write a memory report; false when there is nowhere to write it (EBADF). */
  memReport(path: string | null): boolean;
}

/** Counters for CONTROL, logs and benchmarks. */
export interface Stats {
  /** When the daemon started (ms since the epoch). */
  readonly started: number;
  requests: number;
  /** Watch events queued for delivery. */
  events: number;
  /** Watch events dropped: duplicates of one still waiting, or unsent past the watch-event timeout. */
  eventsDropped: number;
  commits: number;
  conflicts: number;
  /** EAGAIN at TRANSACTION_END, by the committing connection's domain (forgotten when the domain goes). */
  conflictsByDomain: Map<number, number>;
  /** Connections closed because their unread output passed the bound. */
  cutOff: number;
  /** Times a guest's response ring was found full (the guest not reading its replies and events). */
  ringFull: number;
  /** Times a domain stopped being served because it reached its hard memory quota. */
  memoryStalls: number;
}

export interface Services {
  readonly store: Store;
  /** The retained history of commits (CONTROL history). */
  readonly history: History;
  readonly domains: DomainRegistry;
  readonly lifecycle: DomainLifecycle;
  readonly quotas: Quotas;
  /** Each domain's accounted memory (the `memory` quota). */
  readonly memory: DomainMemory;
  readonly watches: WatchRegistry<Connection>;
  readonly events: WatchEvents<Connection>;
  readonly connections: Connections;
  readonly contention: ContentionManager<Transaction, Connection>;
  readonly stats: Stats;
  /** Requests by op and result, and their latency (when timed). */
  readonly counters: RequestCounters;
  /** Notable events (quota hits, connections cut off), for the structured log and the metrics. */
  readonly notices: Notices;
  readonly control: ControlHooks;
  readonly log: (line: string) => void;
}
