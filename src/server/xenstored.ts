/**
 * The composition root: builds the daemon's modules and wires them
 * together; it holds no logic of its own. Transports reach the daemon only
 * through `endpoint`; tests and the daemon's entry point use the parts.
 *
 *   transport → Endpoint → Pipeline (framing, back-pressure, fairness)
 *     → dispatch → ops → store / transactions (Store.commit)
 *     → watch events → Connection output queue → transport
 */
import { DomainRegistry } from "../domains/domains.js";
import type { Hypervisor } from "../hypervisor/hypervisor.js";
import { DomainLifecycle } from "../domains/lifecycle.js";
import { GuestRings } from "../domains/rings.js";
import { History, type HistoryOptions } from "../history/history.js";
import type { InspectSource } from "../inspect/source.js";
import { HEADER_SIZE, Op } from "../protocol/messages.js";
import { DomainMemory } from "../quota/memory.js";
import { Quotas } from "../quota/quotas.js";
import { continueListingGenerations, listingGeneration } from "../store/children.js";
import { Perms } from "../store/perms.js";
import { Store } from "../store/store.js";
import {
  decodeState,
  encodeState,
  RecordType,
  StateFormatError,
  type ConnectionRecord,
  type DomainRecord,
  type NodeRecord,
  type QuotaRecord,
  type SpecialRecord,
  type StateRecord,
} from "../state/stream.js";
import { ContentionManager, type ContentionOptions } from "../transactions/contention.js";
import { Transaction } from "../transactions/transaction.js";
import type { Endpoint, Transport } from "../transport/transport.js";
import { Notices } from "../util/notices.js";
import { WatchEvents } from "../watches/events.js";
import { WatchRegistry } from "../watches/registry.js";
import type { Connection } from "./connection.js";
import { Connections } from "./connections.js";
import { RequestCounters } from "./counters.js";
import { Pipeline, type TraceHook } from "./pipeline.js";
import type { ControlHooks, Services, Stats } from "./services.js";

export interface XenstoredOptions {
  hypervisor: Hypervisor;
  quotas?: Quotas;
  /** Control domain besides dom0 (cx -p/--priv-domid). */
  privDomid?: number;
  /** The domain this xenstored belongs to (cx -m/--master-domid). */
  masterDomid?: number;
  /** cx -K: hand nodes of dead domains to the control domain instead of deleting them. */
  keepOrphans?: boolean;
  historyLength?: number;
  /** Retention of the history of commits (CONTROL history); defaults in src/history/history.ts. */
  history?: HistoryOptions;
  /** Per-message trace hook (-T). */
  trace?: TraceHook;
  /** Diagnostics (CONTROL print, verbose). */
  log?: (line: string) => void;
  /** Trace-file actions for CONTROL log/logfile/memreport. */
  control?: ControlHooks;
  /** Hot-node contention management (on by default); false turns it off. */
  contention?: ContentionOptions | false;
  /** Seconds an unsent event to an unprivileged domain is kept (cx -w watch-event). */
  watchEventTimeout?: number;
  /** Unread output that gets a privileged client cut off. */
  outputLimit?: { bytes: number; packets: number };
  /** Where notable events go (structured log, metrics); a fresh one if not given. */
  notices?: Notices;
}

const NO_CONTROL: ControlHooks = {
  logOn() {},
  logOff() {},
  setLogFile() {},
  memReport: () => false,
};

/** Gives a restored connection its transport again, or null when it cannot be re-attached (it is dropped). */
export type Reattach = (record: ConnectionRecord) => Transport | null;

export class Xenstored {
  readonly store: Store;
  readonly history: History;
  readonly domains: DomainRegistry;
  readonly quotas: Quotas;
  readonly memory: DomainMemory;
  readonly watches = new WatchRegistry<Connection>();
  readonly events: WatchEvents<Connection>;
  readonly contention: ContentionManager<Transaction, Connection>;
  readonly connections: Connections;
  readonly lifecycle: DomainLifecycle;
  readonly pipeline: Pipeline;
  readonly stats: Stats = {
    started: Date.now(),
    requests: 0,
    events: 0,
    eventsDropped: 0,
    commits: 0,
    conflicts: 0,
    conflictsByDomain: new Map(),
    cutOff: 0,
    ringFull: 0,
    memoryStalls: 0,
  };
  readonly counters = new RequestCounters();
  readonly notices: Notices;
  readonly services: Services;
  readonly endpoint: Endpoint;
  readonly log: (line: string) => void;

  constructor(opts: XenstoredOptions) {
    this.log = opts.log ?? (() => {});
    const notices = (this.notices = opts.notices ?? new Notices());
    const quotas = (this.quotas = opts.quotas ?? new Quotas());
    const domains = (this.domains = new DomainRegistry(opts.hypervisor, {
      privDomid: opts.privDomid,
      masterDomid: opts.masterDomid,
      onCreate: (domid) => quotas.snapshot(domid),
      onRemove: (domid) => quotas.forget(domid),
    }));
    this.store = new Store({
      privDomid: domains.privDomid,
      historyLength: opts.historyLength,
      applyEffect: (e) => (e.kind === "quota" ? quotas.apply(e) : domains.apply(e)),
    });
    this.history = new History(this.store, opts.history);
    this.store.onCommit((r) => {
      this.stats.commits++;
      for (const e of r.effects) if (e.kind === "release") this.stats.conflictsByDomain.delete(e.domid);
    });
    this.events = new WatchEvents(this.watches, this.store);
    const manageContention = opts.contention !== false;
    this.contention = new ContentionManager<Transaction, Connection>((c) => setImmediate(() => this.pipeline.wake(c)), opts.contention || undefined);
    this.connections = new Connections(this.watches, this.contention, {
      privileged: (domid) => domains.isPrivileged(domid),
      target: (domid) => domains.get(domid)?.target ?? null,
    });
    this.memory = new DomainMemory(this.store.tallies, this.connections);
    // Transports reach the daemon only through this (the pipeline is built below).
    const connections = this.connections;
    this.endpoint = {
      connect: (info, transport) => {
        const conn = connections.open(info.kind, info.domid, transport, info.readonly);
        this.pipeline.attach(conn);
        notices.emit("debug", "connection-opened", { conn: conn.seq, kind: conn.kind, domid: conn.domid, readonly: conn.readonly });
        return {
          received: (chunk) => this.pipeline.receive(conn, chunk),
          drained: () => this.pipeline.drained(conn),
          closed: () => {
            if (connections.has(conn)) notices.emit("debug", "connection-gone", { conn: conn.seq, kind: conn.kind, domid: conn.domid });
            connections.disconnect(conn);
          },
        };
      },
      log: this.log,
    };
    const ringHost = opts.hypervisor.rings;
    this.lifecycle = new DomainLifecycle(this.store, domains, this.events, this.connections, {
      keepOrphans: opts.keepOrphans,
      rings: ringHost ? new GuestRings(ringHost, this.endpoint, this.log, { notices, onFull: () => this.stats.ringFull++ }) : null,
      log: this.log,
      notices,
    });
    this.services = {
      store: this.store,
      history: this.history,
      domains,
      lifecycle: this.lifecycle,
      quotas,
      memory: this.memory,
      watches: this.watches,
      events: this.events,
      connections: this.connections,
      contention: this.contention,
      stats: this.stats,
      counters: this.counters,
      notices,
      control: opts.control ?? NO_CONTROL,
      log: this.log,
    };
    this.pipeline = new Pipeline(this.services, {
      trace: opts.trace,
      manageContention,
      watchEventTimeout: opts.watchEventTimeout,
      outputLimit: opts.outputLimit,
    });
    // The host's own domain is known from the start (cx dom0_init); the
    // initial state, not a change.
    domains.apply({ kind: "introduce", domid: domains.masterDomid, mfn: "0", port: 1 });
    // Domains that die or shut down (VIRQ_DOM_EXC): the events this raises go out at once.
    ringHost?.watchDomains(() => {
      this.lifecycle.checkDomains();
      this.pipeline.settle();
    });
  }

  /** Serve the host's own ring (dom0's kernel), where there is one; an Error says why it cannot be. */
  attachLocalRing(resume = false): Error | null {
    return this.lifecycle.attachLocal(resume);
  }

  /** Read-only views of the state for the inspector (--inspect): the tree, history, domains and their usage, the live feed. */
  inspectSource(): InspectSource {
    const { store, history, domains, quotas, memory, connections, watches, events } = this;
    return {
      tree: store,
      history,
      domains: {
        list: () => domains.all(),
        privileged: (domid) => domains.isPrivileged(domid),
        limit: (name, domid) => quotas.limit(name, domid),
        // Counted as CONTROL quota <domid> counts them (its ring connections), plus every connection acting as it.
        usage: (domid) => {
          let nWatches = 0;
          let transactions = 0;
          let outstanding = 0;
          for (const c of connections.ofDomain(domid)) {
            nWatches += watches.count(c);
            transactions += c.transactions.size;
            outstanding += c.output.packets;
          }
          const all = connections.ofDomain(domid, true).length;
          return { nodes: store.ownedBy(domid), watches: nWatches, transactions, outstanding, memory: memory.of(domid), connections: all };
        },
      },
      onWatchEvent: (listener) =>
        events.onDelivered((c, key) => {
          const nul = key.indexOf("\0");
          listener({ conn: c.seq, domid: c.domid, kind: c.kind, path: key.slice(0, nul), token: key.slice(nul + 1) });
        }),
    };
  }

  /** Connect a client directly (tests, embedding): the endpoint's connection object. */
  connect(kind: "socket" | "domain", domid: number, transport: Transport, readonly = false): Connection {
    const conn = this.connections.open(kind, domid, transport, readonly);
    this.pipeline.attach(conn);
    return conn;
  }

  /**
   * The whole daemon state as a versioned record stream: the committed
   * tree and specials, quotas, domains, and each connection with its
   * transaction ids, held input, queued output and watches.
   */
  dump(): Buffer {
    const records: StateRecord[] = [
      { type: RecordType.Global, revision: this.store.revision, listingGeneration: listingGeneration(), nextConnection: this.connections.next },
      ...this.quotas.dump(),
      ...this.domains.dump(),
      ...this.store.dump(),
    ];
    for (const c of this.connections) {
      const out = c.output.dump();
      records.push({
        type: RecordType.Connection,
        seq: c.seq,
        kind: c.kind,
        domid: c.domid,
        readonly: c.readonly,
        transactionCursor: c.transactionCursor,
        input: this.pipeline.heldInput(c),
        outputHead: out.head,
        output: out.packets,
      });
      for (const id of c.transactions.keys()) records.push({ type: RecordType.Transaction, conn: c.seq, id });
    }
    for (const w of this.watches.all()) {
      records.push({ type: RecordType.Watch, conn: w.owner.seq, path: w.path, token: w.token, prefixLength: w.prefixLength, depth: w.depth });
    }
    return encodeState(records);
  }

  /**
   * Replace the state with a dump's. Connections come back on the
   * transports `reattach` gives them; their open transactions come back
   * doomed (committing one answers EAGAIN, as for any conflict). Throws
   * StateFormatError, leaving the state untouched, if the dump is bad.
   */
  restore(dump: Buffer, reattach: Reattach): void {
    this.restoreRecords(decodeState(dump), reattach);
  }

  /** `restore` from decoded records (a snapshot read back at start). */
  restoreRecords(records: readonly StateRecord[], reattach: Reattach): void {
    const global = records.find((r) => r.type === RecordType.Global);
    if (!global || global.type !== RecordType.Global) throw new StateFormatError("no global record");
    const of = <T extends StateRecord["type"]>(t: T): Extract<StateRecord, { type: T }>[] =>
      records.filter((r): r is Extract<StateRecord, { type: T }> => r.type === t);
    for (const s of of(RecordType.Special)) if (!Perms.fromKey(s.acl)) throw new StateFormatError(`bad ACL "${s.acl}"`);
    for (const c of of(RecordType.Connection)) if (!wholePackets(c.output)) throw new StateFormatError(`connection ${c.seq}: output ends inside a packet`);
    // The tree is checked while it is built, before anything is replaced.
    const treeRecords: (NodeRecord | SpecialRecord)[] = [...of(RecordType.Node), ...of(RecordType.Special)];
    this.store.restore(global.revision, treeRecords);
    for (const c of [...this.connections]) this.connections.disconnect(c);
    this.quotas.restore(of(RecordType.Quota) satisfies QuotaRecord[]);
    this.domains.restore(of(RecordType.Domain) satisfies DomainRecord[]);
    continueListingGenerations(global.listingGeneration);
    this.connections.next = global.nextConnection;
    const bySeq = new Map<number, Connection>();
    for (const r of of(RecordType.Connection)) {
      const transport = reattach(r);
      if (!transport) continue;
      const conn = this.connections.open(r.kind, r.domid, transport, r.readonly, r.seq);
      conn.transactionCursor = r.transactionCursor;
      conn.output.restore(r.outputHead, r.output, Op.WATCH_EVENT);
      this.pipeline.attach(conn, r.input);
      bySeq.set(r.seq, conn);
    }
    for (const r of of(RecordType.Transaction)) {
      const conn = bySeq.get(r.conn);
      if (!conn) continue;
      const principal = conn.principal;
      const maxNodes = principal.privileged ? 0 : this.quotas.limit("transaction-nodes", conn.domid);
      const tx = new Transaction(r.id, this.store, principal, { maxNodes });
      tx.doomed = true;
      conn.transactions.set(r.id, tx);
    }
    for (const r of of(RecordType.Watch)) {
      const owner = bySeq.get(r.conn);
      if (owner) this.watches.add({ owner, path: r.path, token: r.token, prefixLength: r.prefixLength, depth: r.depth });
    }
  }
}

/** Does `buf` hold whole packets only? */
function wholePackets(buf: Buffer): boolean {
  let off = 0;
  while (off + HEADER_SIZE <= buf.length) off += HEADER_SIZE + buf.readUInt32LE(off + 12);
  return off === buf.length;
}
