/**
 * The registry of live connections, in connection order (cx's connection
 * list, which orders watch delivery): opening, resetting and closing them,
 * and the one place that knows which connections belong to a domain.
 */
import type { DomainConnections } from "../domains/lifecycle.js";
import type { ContentionManager } from "../transactions/contention.js";
import type { Transaction } from "../transactions/transaction.js";
import type { CloseReason, Transport } from "../transport/transport.js";
import type { WatchRegistry } from "../watches/registry.js";
import { Connection, type ConnectionKind, type OutputGate, type Rights } from "./connection.js";

export class Connections implements DomainConnections, Iterable<Connection> {
  private readonly live = new Set<Connection>();
  /** The same, by domain (socket clients under 0), in connection order. */
  private readonly byDomid = new Map<number, Set<Connection>>();
  private nextSeq = 1;
  private readonly closeListeners: ((c: Connection) => void)[] = [];
  private readonly transactionListeners: ((c: Connection) => void)[] = [];
  /** What output must wait for before it goes out (the journal), if anything. */
  gate: OutputGate | null = null;

  constructor(
    private readonly watches: WatchRegistry<Connection>,
    private readonly contention: ContentionManager<Transaction, Connection>,
    private readonly rights: Rights,
  ) {}

  open(kind: ConnectionKind, domid: number, transport: Transport, readonly: boolean, seq = this.nextSeq): Connection {
    const conn = new Connection(seq, kind, domid, this.rights, transport, readonly, this.gate);
    this.nextSeq = Math.max(this.nextSeq, seq + 1);
    this.live.add(conn);
    let mine = this.byDomid.get(domid);
    if (!mine) this.byDomid.set(domid, (mine = new Set()));
    mine.add(conn);
    return conn;
  }

  /** The sequence number the next connection gets (state dump). */
  get next(): number {
    return this.nextSeq;
  }

  /** Set it (state restore, before the restored connections open, which keep it above their own). */
  set next(seq: number) {
    this.nextSeq = seq;
  }

  has(conn: Connection): boolean {
    return this.live.has(conn);
  }

  get size(): number {
    return this.live.size;
  }

  [Symbol.iterator](): Iterator<Connection> {
    return this.live.values();
  }

  /**
   * Connections of a domain: its own (ring) connections, and with
   * `sockets` also the socket clients acting as it (dom0's).
   */
  ofDomain(domid: number, sockets = false): Connection[] {
    const out: Connection[] = [];
    const mine = this.byDomid.get(domid);
    if (mine) for (const c of mine) if (sockets || c.kind === "domain") out.push(c);
    return out;
  }

  /** Bytes of the watches (path and token) and of the queued output of a domain's connections (its memory quota). */
  usage(domid: number): { watches: number; output: number } {
    let watches = 0;
    let output = 0;
    const mine = this.byDomid.get(domid);
    if (mine) {
      for (const c of mine) {
        watches += this.watches.bytesOf(c);
        output += c.output.bytes;
      }
    }
    return { watches, output };
  }

  /** Called when a connection is torn down (after its state is gone). */
  onClose(listener: (c: Connection) => void): void {
    this.closeListeners.push(listener);
  }

  /** Be told whenever a connection's set of open transactions changes. */
  onTransactionChange(listener: (c: Connection) => void): void {
    this.transactionListeners.push(listener);
  }

  startTransaction(conn: Connection, tx: Transaction): void {
    conn.transactions.set(tx.id, tx);
    for (const l of this.transactionListeners) l(conn);
  }

  /** Drop a connection's transactions (all, or one that ended). */
  endTransactions(conn: Connection, tx?: Transaction): void {
    const ending = tx ? [tx] : [...conn.transactions.values()];
    for (const t of ending) {
      conn.transactions.delete(t.id);
      this.contention.ended(t);
    }
    if (ending.length) for (const l of this.transactionListeners) l(conn);
  }

  /** Forget what a connection set up: its watches and transactions (RESET_WATCHES). */
  resetState(conn: Connection): void {
    this.watches.removeAll(conn);
    this.endTransactions(conn);
  }

  /** Tear down a connection: its watches and transactions go with it. */
  disconnect(conn: Connection, reason?: CloseReason): void {
    if (!this.live.has(conn)) return;
    this.resetState(conn);
    this.contention.forget(conn);
    this.live.delete(conn);
    const mine = this.byDomid.get(conn.domid);
    mine?.delete(conn);
    if (mine?.size === 0) this.byDomid.delete(conn.domid);
    conn.close(reason);
    for (const l of this.closeListeners) l(conn);
  }

  close(domid: number): void {
    for (const c of this.ofDomain(domid)) this.disconnect(c);
  }

  reset(domid: number): void {
    for (const c of this.ofDomain(domid)) {
      this.resetState(c);
      c.discardOutput();
    }
  }
}
