/**
 * A snapshot of the daemon's figures: the counters kept on the request
 * path, and what is computed only when asked (per-domain nodes, watches,
 * memory and their quotas, outstanding replies, transactions, the store's
 * size, the history retained). One source for `xenstore-control stats`
 * (`tsxs top`) and the Prometheus metrics, computed at the time of asking
 * only, never on the request path.
 */
import type { Services } from "./services.js";

export interface DomainStats {
  readonly domid: number;
  /** Introduced (dom0 always is); false for a domain only owning nodes or only known by a setting. */
  readonly introduced: boolean;
  readonly privileged: boolean;
  readonly nodes: number;
  readonly watches: number;
  /** Accounted bytes (the `memory` quota's measure). */
  readonly memory: number;
  /** Replies and events queued, not yet taken by the transport. */
  readonly outstanding: number;
  readonly transactions: number;
  /** Transactions that ended with EAGAIN. */
  readonly conflicts: number;
  /** Requests processed by the domain's live connections, socket clients (dom0) included; a closed connection's go with it. */
  readonly requests: number;
  /** The domain's quotas; 0: none (privileged domains have none). */
  readonly quota: { readonly nodes: number; readonly watches: number; readonly memory: number; readonly outstanding: number; readonly transactions: number };
}

export interface DaemonStats {
  /** When (ms since the epoch) and since when (the daemon's start). */
  readonly time: number;
  readonly started: number;
  readonly revision: number;
  readonly nodes: number;
  readonly requests: number;
  readonly commits: number;
  readonly conflicts: number;
  readonly events: number;
  readonly eventsDropped: number;
  readonly cutOff: number;
  readonly ringFull: number;
  readonly memoryStalls: number;
  readonly connections: { readonly socket: number; readonly domain: number };
  readonly watches: number;
  readonly transactions: number;
  readonly history: { readonly oldest: number; readonly newest: number; readonly revisions: number; readonly bytes: number };
  readonly domains: readonly DomainStats[];
}

const NO_QUOTA = { nodes: 0, watches: 0, memory: 0, outstanding: 0, transactions: 0 } as const;

/** The figures of one domain. */
export function domainStats(svc: Services, domid: number): DomainStats {
  const { domains, store, watches, connections, memory, quotas, stats } = svc;
  let w = 0;
  let transactions = 0;
  let outstanding = 0;
  let requests = 0;
  for (const c of connections.ofDomain(domid, true)) {
    requests += c.requests;
    w += watches.count(c);
    transactions += c.transactions.size;
    outstanding += c.output.packets;
  }
  const privileged = domains.isPrivileged(domid);
  const q = (name: "nodes" | "watches" | "memory" | "outstanding" | "transactions"): number => quotas.limit(name, domid);
  return {
    domid,
    introduced: domains.introduced(domid) !== undefined,
    privileged,
    nodes: store.ownedBy(domid),
    watches: w,
    memory: memory.of(domid),
    outstanding,
    transactions,
    conflicts: stats.conflictsByDomain.get(domid) ?? 0,
    requests,
    quota: privileged ? NO_QUOTA : { nodes: q("nodes"), watches: q("watches"), memory: q("memory"), outstanding: q("outstanding"), transactions: q("transactions") },
  };
}

/** The domains worth a row: every known domain, and any other owning nodes, by domid. */
export function statsDomids(svc: Services): number[] {
  const ids = new Set<number>();
  for (const d of svc.domains.all()) ids.add(d.domid);
  for (const [domid, n] of svc.store.tallies.owned) if (n > 0) ids.add(domid);
  return [...ids].sort((a, b) => a - b);
}

/** Everything, with the rows of `domids` (default: all of statsDomids). */
export function daemonStats(svc: Services, domids: readonly number[] = statsDomids(svc)): DaemonStats {
  const { stats, store, history, connections, watches } = svc;
  let socket = 0;
  let domain = 0;
  let transactions = 0;
  for (const c of connections) {
    if (c.kind === "socket") socket++;
    else domain++;
    transactions += c.transactions.size;
  }
  return {
    time: Date.now(),
    started: stats.started,
    revision: store.revision,
    nodes: store.tallies.total(),
    requests: stats.requests,
    commits: stats.commits,
    conflicts: stats.conflicts,
    events: stats.events,
    eventsDropped: stats.eventsDropped,
    cutOff: stats.cutOff,
    ringFull: stats.ringFull,
    memoryStalls: stats.memoryStalls,
    connections: { socket, domain },
    watches: watches.size,
    transactions,
    history: { oldest: history.oldest, newest: history.newest, revisions: history.size, bytes: history.retainedBytes },
    domains: domids.map((d) => domainStats(svc, d)),
  };
}
