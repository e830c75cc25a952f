/**
 * The daemon's state and the request pipeline, independent of any
 * transport: bytes in (`receive`), framed replies and watch events out
 * through each connection's `Transport`.
 *
 *   transport → codec (PacketParser) → Connection → dispatch → store /
 *   transactions → watches → back out (Connection queue → Transport)
 */
import { DomainRegistry } from "../domains/domains.js";
import type { Hypervisor } from "../domains/hypervisor.js";
import { Op, PAYLOAD_MAX, XsError, type Packet } from "../protocol/messages.js";
import { OversizePacketError, PacketParser } from "../protocol/parser.js";
import { Quotas } from "../quota/quotas.js";
import type { Node } from "../store/node.js";
import { parentOf, isSpecial } from "../store/path.js";
import { PERM_READ, permFor, type Perms, type Principal } from "../store/perms.js";
import { Store } from "../store/store.js";
import { Match, WatchRegistry } from "../watches/registry.js";
import { ContentionManager, type ContentionOptions } from "../transactions/contention.js";
import type { Transaction } from "../transactions/transaction.js";
import { oneArg } from "../protocol/payload.js";
import { absolutize } from "../store/path.js";
import { Connection, type ConnectionKind, type Transport } from "./connection.js";
import { dispatch } from "./dispatch.js";
import type { ControlHooks } from "./ops/control.js";

export interface CoreOptions {
  hypervisor: Hypervisor;
  quotas?: Quotas;
  /** Control domain besides dom0 (cx -p/--priv-domid). */
  privDomid?: number;
  /** cx -K: hand nodes of dead domains to the control domain instead of deleting them. */
  keepOrphans?: boolean;
  historyLength?: number;
  /** Per-message trace hook (-T). */
  trace?: (conn: Connection, direction: "IN" | "OUT", packet: Packet) => void;
  /** Diagnostics (CONTROL print, verbose). */
  log?: (line: string) => void;
  /** Trace-file actions for CONTROL log/logfile/memreport. */
  control?: ControlHooks;
  /** Hot-node contention management (on by default); false turns it off. */
  contention?: ContentionOptions | false;
}

const NO_CONTROL: ControlHooks = {
  logOn() {},
  logOff() {},
  setLogFile() {},
  memReport: () => false,
};

/** Who may read an event's node: cx `watch_permitted` inputs. */
export interface EventAccess {
  /** ACL before the change (SET_PERMS, transaction first access). */
  readonly oldPerms?: Perms | undefined;
  /** ACL of the node (absent: the node is gone and had no old ACL). */
  readonly nodePerms?: Perms | undefined;
  readonly parentPerms?: Perms | undefined;
}

interface InputState {
  readonly parser: PacketParser;
  readonly inbox: Packet[];
  /** The client sent an oversize header: close once the requests before it are done. */
  closing: boolean;
}

export class Core {
  readonly store: Store;
  readonly domains: DomainRegistry;
  readonly quotas: Quotas;
  readonly watches = new WatchRegistry<Connection>();
  readonly privDomid: number;
  readonly keepOrphans: boolean;
  private readonly connections = new Map<Connection, InputState>();
  private nextConnSeq = 1;
  /** Connections with queued output to flush after the current batch. */
  private readonly dirty = new Set<Connection>();
  /** Events raised by the request being processed, delivered after its reply. */
  private readonly raised: { conn: Connection; key: string; special: boolean }[] = [];
  readonly trace: CoreOptions["trace"];
  readonly log: (line: string) => void;
  readonly control: ControlHooks;
  /** Counters for CONTROL and benchmarks. */
  readonly stats = { requests: 0, events: 0, commits: 0, conflicts: 0 };
  /** Makes transactions contending on a hot node take turns. */
  readonly contention: ContentionManager<Transaction, Connection>;
  private readonly manageContention: boolean;

  constructor(opts: CoreOptions) {
    this.privDomid = opts.privDomid ?? 0;
    this.keepOrphans = opts.keepOrphans ?? false;
    this.quotas = opts.quotas ?? new Quotas();
    this.store = new Store({ privDomid: this.privDomid, historyLength: opts.historyLength ?? 64 });
    this.domains = new DomainRegistry(opts.hypervisor, (domid) => this.quotas.snapshot(domid));
    // dom0's own connection is introduced at start (cx dom0_init).
    this.domains.introduce(0, "0", 1);
    this.trace = opts.trace;
    this.log = opts.log ?? (() => {});
    this.control = opts.control ?? NO_CONTROL;
    this.manageContention = opts.contention !== false;
    this.contention = new ContentionManager<Transaction, Connection>(
      (c) => setImmediate(() => this.pump(c)),
      opts.contention || undefined,
    );
  }

  /** Is this domid a control domain (cx `domid_is_unprivileged` negated)? */
  isPrivilegedDomid(domid: number): boolean {
    return domid === 0 || domid === this.privDomid;
  }

  private open(kind: ConnectionKind, domid: number, transport: Transport, readonly: boolean): Connection {
    const conn = new Connection(
      this.nextConnSeq++,
      kind,
      domid,
      kind === "socket" ? () => true : () => this.isPrivilegedDomid(domid),
      kind === "socket" ? () => null : () => this.domains.get(domid)?.target ?? null,
      transport,
      readonly,
    );
    this.connections.set(conn, { parser: new PacketParser(), inbox: [], closing: false });
    return conn;
  }

  /** A dom0 client on the Unix socket (privileged, as in cx). */
  connectSocket(transport: Transport, readonly = false): Connection {
    return this.open("socket", 0, transport, readonly);
  }

  /** A guest domain's connection (rings arrive in a later layer; tests use it directly). */
  connectDomain(domid: number, transport: Transport): Connection {
    return this.open("domain", domid, transport, false);
  }

  /** Tear down a connection's state: its watches and transactions go with it. */
  disconnect(conn: Connection): void {
    if (!this.connections.has(conn)) return;
    this.watches.removeAll(conn);
    this.endTransactions(conn);
    this.contention.forget(conn);
    this.connections.delete(conn);
    this.dirty.delete(conn);
    conn.close();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  allConnections(): IterableIterator<Connection> {
    return this.connections.keys();
  }

  /** Bytes arrived from a client: frame them and process what is complete. */
  receive(conn: Connection, chunk: Buffer): void {
    const st = this.connections.get(conn);
    if (!st || st.closing) return;
    let packets: Packet[];
    try {
      packets = st.parser.push(chunk);
    } catch (e) {
      if (!(e instanceof OversizePacketError)) throw e;
      // cx: a client announcing more than 4096 bytes is dropped (only it),
      // after carrying out the requests it sent before that header.
      this.log(`connection ${conn.seq}: ${e.message}; closing it`);
      packets = e.parsed;
      st.closing = true;
    }
    for (const p of packets) st.inbox.push(p);
    this.pump(conn);
  }

  /** The transport can take output again: resume processing held input. */
  drained(conn: Connection): void {
    const st = this.connections.get(conn);
    if (!st) return;
    conn.unblock();
    this.dirty.add(conn);
    this.pump(conn);
  }

  /** Shutting down: hand every connection's held output to its transport, however full. */
  releaseHeldOutput(): void {
    for (const c of this.connections.keys()) {
      c.unblock();
      c.flush();
    }
  }

  /** Requests waiting because the client is not reading its replies. */
  held(conn: Connection): number {
    return this.connections.get(conn)?.inbox.length ?? 0;
  }

  private blocked(conn: Connection): boolean {
    if (conn.writeBlocked) return true;
    if (!conn.privileged) {
      const q = this.quotas.limit("outstanding", conn.domid);
      if (q && conn.outstanding() >= q) return true;
    }
    return false;
  }

  /** Process queued requests while the client keeps up; then flush output. */
  private pump(conn: Connection): void {
    const st = this.connections.get(conn);
    if (!st) return;
    // Everything a read delivered is processed before output is flushed:
    // one write per connection per batch, not per request.
    while (st.inbox.length && !this.blocked(conn) && this.connections.has(conn)) {
      if (this.mustWait(conn, st.inbox[0]!)) break;
      this.process(conn, st.inbox.shift()!);
    }
    // After an oversize header: as cx, the requests before it take effect
    // but the connection is gone before their replies go out.
    if (st.closing && st.inbox.length === 0) this.disconnect(conn);
    this.flushAll();
  }

  /** Is this a transaction's first read of a hot node another transaction holds? */
  private mustWait(conn: Connection, packet: Packet): boolean {
    if (!this.manageContention || packet.type !== Op.READ || packet.txId === 0) return false;
    const tx = conn.transactions.get(packet.txId);
    if (!tx) return false;
    const raw = oneArg(packet.payload);
    if (raw === null || raw.startsWith("@")) return false;
    const path = absolutize(raw, conn.home);
    if (tx.hasAccessed(path)) return false;
    return this.contention.mustWait(conn, tx, path);
  }

  /** Drop a connection's transactions (all, or one that ended). */
  endTransactions(conn: Connection, tx?: Transaction): void {
    const ending = tx ? [tx] : [...conn.transactions.values()];
    for (const t of ending) {
      conn.transactions.delete(t.id);
      this.contention.ended(t);
    }
  }

  private flushAll(): void {
    // A connection whose transport is full keeps its output (see Connection.flush).
    for (const c of this.dirty) c.flush();
    this.dirty.clear();
  }

  /** Handle one request: reply first, then the events it caused. */
  process(conn: Connection, packet: Packet): void {
    this.stats.requests++;
    this.trace?.(conn, "IN", packet);
    let type: number = packet.type;
    let payload: Buffer;
    try {
      payload = dispatch(this, conn, packet);
      if (payload.length > PAYLOAD_MAX) throw new XsError("E2BIG");
    } catch (e) {
      this.raised.length = 0;
      if (!(e instanceof XsError)) {
        // A handler bug must never take the daemon down: answer EIO (as ox).
        this.log(`internal error handling ${Op[packet.type] ?? packet.type}: ${(e as Error).stack ?? e}`);
      }
      type = Op.ERROR;
      payload = Buffer.from(`${e instanceof XsError ? e.errno : "EIO"}\0`, "latin1");
    }
    if (!this.connections.has(conn)) return; // released itself
    conn.queueReply(type, packet.reqId, packet.txId, payload);
    this.dirty.add(conn);
    this.trace?.(conn, "OUT", { type, reqId: packet.reqId, txId: packet.txId, payload });
    this.deliverRaised();
  }

  private deliverRaised(): void {
    for (const ev of this.raised) {
      if (!this.connections.has(ev.conn)) continue;
      const packet = ev.conn.queueEvent(ev.key, ev.special);
      if (packet) {
        this.stats.events++;
        this.dirty.add(ev.conn);
        this.trace?.(ev.conn, "OUT", { type: Op.WATCH_EVENT, reqId: 0, txId: 0, payload: packet.subarray(16) });
      }
    }
    this.raised.length = 0;
  }

  /** Queue an event for one watch now (the initial event of WATCH). */
  raise(conn: Connection, eventPath: string, token: string): void {
    // cx drops events that would not fit in a packet (XSA-324).
    if (eventPath.length + token.length + 2 > PAYLOAD_MAX) return;
    this.raised.push({ conn, key: `${eventPath}\0${token}`, special: eventPath.startsWith("@") });
  }

  /**
   * A node changed: raise events for every matching watch whose owner may
   * know (cx `fire_watches` + `watch_permitted`, XSA-115).
   */
  fire(path: string, match: Match, access: EventAccess): void {
    const watches = this.watches.matching(path, match);
    if (watches.length === 0) return;
    let lastOwner: Connection | null = null;
    let allowed = false;
    for (const w of watches) {
      if (w.owner !== lastOwner) {
        lastOwner = w.owner;
        allowed = mayWatch(w.owner.principal, access);
      }
      if (allowed) this.raise(w.owner, path.slice(w.prefixLength), w.token);
    }
  }

  /** Perms for the permission check of an event on a special path. */
  specialAccess(path: string): EventAccess {
    const base = path.split("/")[0]!;
    return { nodePerms: this.store.specials.get(base), parentPerms: this.store.root.perms };
  }

  /** Event access for a node as it is now in the committed tree. */
  committedAccess(path: string, oldPerms?: Perms): EventAccess {
    const node: Node | undefined = isSpecial(path) ? undefined : this.store.get(path);
    const parent = node ? this.store.get(parentOf(path)) : undefined;
    return { oldPerms, nodePerms: node?.perms, parentPerms: parent?.perms };
  }

  /** Connections belonging to a guest domain. */
  domainConnections(domid: number): Connection[] {
    return [...this.connections.keys()].filter((c) => c.kind === "domain" && c.domid === domid);
  }

  /** INTRODUCE resets the domain's connection: watches, transactions, queued output. */
  resetDomainConnections(domid: number): void {
    for (const c of this.domainConnections(domid)) {
      this.watches.removeAll(c);
      this.endTransactions(c);
      c.discardOutput();
    }
  }

  /**
   * Fire a special watch: the plain name for watches without depth, and
   * `<name>/<domid>` for depth watches (Xen 4.22 semantics).
   */
  fireSpecial(name: string, domid: number | null): void {
    this.fire(name, Match.NoDepth, this.specialAccess(name));
    if (domid !== null) this.fire(`${name}/${domid}`, Match.Depth, this.specialAccess(name));
  }
}

function mayWatch(who: Principal, a: EventAccess): boolean {
  if (a.oldPerms && permFor(who, a.oldPerms) & PERM_READ) return true;
  if (!a.nodePerms) return false;
  if (permFor(who, a.nodePerms) & PERM_READ) return true;
  if (!a.parentPerms) return false;
  return (permFor(who, a.parentPerms) & PERM_READ) !== 0;
}
