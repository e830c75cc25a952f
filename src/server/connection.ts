/**
 * One client of the daemon: a Unix socket client (dom0, privileged) or a
 * guest domain's connection. Holds its transactions and its queue of
 * outgoing replies and watch events; watches live in the shared registry.
 */
import { Op } from "../protocol/messages.js";
import type { Principal } from "../store/perms.js";
import type { Transaction } from "../transactions/transaction.js";
import type { CloseReason, Transport } from "../transport/transport.js";
import { OutputQueue } from "./output.js";

export type ConnectionKind = "socket" | "domain";

/** Where a connection's rights come from (a guest's can change: SET_TARGET, -p). */
export interface Rights {
  privileged(domid: number): boolean;
  target(domid: number): number | null;
}

/**
 * What output waits for (the journal: a reply or event may go out only
 * once the change it follows is durable).
 */
export interface OutputGate {
  /** May output go now? If not, `then` is called once it may. */
  release(then: () => void): boolean;
}

export class Connection {
  readonly transactions = new Map<number, Transaction>();
  private nextTransactionId = 1;
  readonly output = new OutputQueue();
  /** Requests processed (CONTROL stats: requests per second by domain). */
  requests = 0;
  /** The transport took less than offered: the rest waits here until it drains. */
  private full = false;
  closed = false;

  constructor(
    /** Unique, increasing: orders watch delivery like cx's connection list. */
    readonly seq: number,
    readonly kind: ConnectionKind,
    readonly domid: number,
    private readonly rights: Rights,
    private readonly transport: Transport,
    /** Connected to the read-only socket: modifying requests get EACCES. */
    readonly readonly = false,
    private gate: OutputGate | null = null,
  ) {}

  /** What output waits for from now on (the journal, once it starts). */
  setGate(gate: OutputGate | null): void {
    this.gate = gate;
  }
  /** Waiting for the gate (one callback however many flushes asked). */
  private gated = false;

  private socketPrincipal: Principal | null = null;

  get principal(): Principal {
    // A socket client is always dom0.
    if (this.kind === "socket") return (this.socketPrincipal ??= { domid: this.domid, privileged: true, target: null });
    return { domid: this.domid, privileged: this.rights.privileged(this.domid), target: this.rights.target(this.domid) };
  }

  get privileged(): boolean {
    return this.kind === "socket" || this.rights.privileged(this.domid);
  }

  /** Home directory for relative paths: socket clients are dom0. */
  get home(): string {
    return `/local/domain/${this.domid}`;
  }

  /** Next free transaction id: counts up from 1, skipping 0 and ids in use (cx). */
  allocateTransactionId(): number {
    for (;;) {
      const id = this.nextTransactionId;
      this.nextTransactionId = (this.nextTransactionId + 1) >>> 0;
      if (id !== 0 && !this.transactions.has(id)) return id;
    }
  }

  /** The next transaction id to try (state dump). */
  get transactionCursor(): number {
    return this.nextTransactionId;
  }

  set transactionCursor(id: number) {
    this.nextTransactionId = id >>> 0;
  }

  queueReply(type: number, reqId: number, txId: number, payload: Buffer): void {
    this.output.reply(type, reqId, txId, payload);
  }

  /**
   * Queue the watch event `path\0token`, unless an identical one is still
   * waiting to be sent (cx drops such duplicates, except `@` special
   * events). Returns whether it was queued.
   */
  queueEvent(key: string, special: boolean, deadline = 0): boolean {
    return this.output.event(key, special, deadline, Op.WATCH_EVENT);
  }

  /**
   * Hand what is queued to the transport, as much as it takes. While it is
   * full, output stays in our queue, where a duplicate event is still
   * suppressed, as cx suppresses it in its output list.
   */
  flush(): void {
    if (this.closed) {
      this.output.clear();
      return;
    }
    if (this.gated || this.output.bytes === 0) return;
    if (this.gate && !this.gate.release(() => this.ungate())) {
      this.gated = true;
      return;
    }
    while (!this.full && this.output.bytes > 0) {
      const data = this.output.peek();
      const taken = this.transport.write(data);
      this.output.consume(taken);
      if (taken < data.length) this.full = true;
    }
    if (this.output.bytes === 0 && this.transport.writesDone?.()) this.output.recycle();
  }

  private ungate(): void {
    this.gated = false;
    this.flush();
  }

  /** Is the transport full (output held here until it drains)? */
  get writeBlocked(): boolean {
    return this.full;
  }

  /** The transport has drained: output may flow again. */
  unblock(): void {
    this.full = false;
  }

  /** Stop or resume delivering input. */
  setReceiving(on: boolean): void {
    this.transport.setReceiving?.(on);
  }

  /** Drop everything queued (connection reset). */
  discardOutput(): void {
    this.output.clear();
  }

  close(reason?: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.discardOutput();
    this.transport.close(reason);
  }
}
