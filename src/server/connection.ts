/**
 * One client of the daemon: a Unix socket client (dom0, privileged) or a
 * guest domain's connection. Holds its transactions and its queue of
 * outgoing replies and watch events; watches live in the shared registry.
 */
import { encodePacket } from "../protocol/serializer.js";
import { Op } from "../protocol/messages.js";
import type { Principal } from "../store/perms.js";
import type { Transaction } from "../transactions/transaction.js";

/** Where a connection's bytes go. */
export interface Transport {
  /** Deliver bytes; false asks the daemon to stop reading this client until `drained`. */
  write(data: Buffer): boolean;
  /** Stop the client (protocol violation, release). */
  close(): void;
  /**
   * Replies and events handed over but not yet consumed by the peer, for
   * the `outstanding` quota (guest rings). Sockets leave this to `write`'s
   * back-pressure signal.
   */
  outstanding?(): number;
}

export type ConnectionKind = "socket" | "domain";

interface Outgoing {
  readonly data: Buffer;
  /** Watch events: their "path\0token" key, for duplicate suppression. */
  readonly eventKey: string | null;
}

export class Connection {
  readonly transactions = new Map<number, Transaction>();
  private nextTransactionId = 1;
  private readonly queue: Outgoing[] = [];
  /** Keys of the (non-special) watch events waiting in `queue`. */
  private readonly queuedEvents = new Set<string>();
  closed = false;

  constructor(
    /** Unique, increasing: orders watch delivery like cx's connection list. */
    readonly seq: number,
    readonly kind: ConnectionKind,
    readonly domid: number,
    private readonly privilegedFn: () => boolean,
    private readonly targetFn: () => number | null,
    private readonly transport: Transport,
    /** Connected to the read-only socket: modifying requests get EACCES. */
    readonly readonly = false,
  ) {}

  private socketPrincipal: Principal | null = null;

  get principal(): Principal {
    // A socket client is always dom0; a guest's rights can change (SET_TARGET, -p).
    if (this.kind === "socket") return (this.socketPrincipal ??= { domid: this.domid, privileged: true, target: null });
    return { domid: this.domid, privileged: this.privilegedFn(), target: this.targetFn() };
  }

  get privileged(): boolean {
    return this.privilegedFn();
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

  queueReply(type: number, reqId: number, txId: number, payload: Buffer | string): void {
    this.queue.push({ data: encodePacket(type, reqId, txId, payload), eventKey: null });
  }

  /**
   * Queue the watch event `path\0token`, unless an identical one is still
   * waiting to be sent (cx drops such duplicates, except `@` special
   * events). Returns the packet queued, or null when dropped.
   */
  queueEvent(key: string, special: boolean): Buffer | null {
    if (!special) {
      if (this.queuedEvents.has(key)) return null;
      this.queuedEvents.add(key);
    }
    const data = encodePacket(Op.WATCH_EVENT, 0, 0, `${key}\0`);
    this.queue.push({ data, eventKey: special ? null : key });
    return data;
  }

  /** Replies and events not yet consumed by the peer (outstanding quota). */
  outstanding(): number {
    return this.queue.length + (this.transport.outstanding?.() ?? 0);
  }

  /** Replies and events waiting in our queue. */
  get pending(): number {
    return this.queue.length;
  }

  /** The transport asked us to wait for it to drain: output stays queued here (and deduplicated). */
  private blocked = false;

  /**
   * Hand everything queued to the transport; false if it wants us to slow
   * down. While it does, output stays in our queue, where a duplicate event
   * is still suppressed, as cx suppresses it in its output list.
   */
  flush(): boolean {
    if (this.closed) {
      this.discardOutput();
      return true;
    }
    if (this.blocked) return false;
    this.queuedEvents.clear();
    if (this.queue.length === 0) return true;
    const data = this.queue.length === 1 ? this.queue[0]!.data : Buffer.concat(this.queue.map((o) => o.data));
    this.queue.length = 0;
    this.blocked = !this.transport.write(data);
    return !this.blocked;
  }

  /** Is the transport full (output held here until it drains)? */
  get writeBlocked(): boolean {
    return this.blocked;
  }

  /** The transport has drained: output may flow again. */
  unblock(): void {
    this.blocked = false;
  }

  /** Drop everything queued (connection reset). */
  discardOutput(): void {
    this.queue.length = 0;
    this.queuedEvents.clear();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.discardOutput();
    this.transport.close();
  }
}
