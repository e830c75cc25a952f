/**
 * A guest's xenstore ring as a transport: requests taken from the ring
 * page's request queue, replies and events put into its response queue,
 * the event channel signalled after each (cx `readchn`/`writechn`). One per
 * introduced domain (and dom0's own); it outlives the connections it
 * carries, so a guest can reconnect:
 *
 * - start (INTRODUCE, or dom0 at start-up): advertise the server features,
 *   empty both queues, set the connection state CONNECTED, signal, and
 *   open a connection for the domain;
 * - a guest that sets the connection state to RECONNECT gets a fresh
 *   connection: queues emptied, its watches, transactions, partial packets
 *   and queued output gone (docs/misc/xenstore-ring.txt);
 * - a broken ring (inconsistent indexes), an oversize packet, or a
 *   connection cut off by the daemon: the error indicator is set and the
 *   ring is no longer served (cx `ignore_connection`), but it stays mapped,
 *   so the domain stays known (@releaseDomain fires when it dies) and may
 *   still reconnect;
 * - the domain's release or death destroys it (unbind, unmap).
 *
 * Back-pressure: while the daemon does not serve the domain, requests stay
 * in the ring, so a flooding guest fills its own ring and nothing else.
 */
import type { CloseReason, Endpoint, Peer, Transport } from "../transport.js";
import { CONNECTED, Field, Queue, RECONNECT, RING_SIZE, RingError, type EventPort, type RingPage } from "./page.js";

export interface RingOptions {
  /** Server features to advertise (bits are only ever added, never cleared). */
  features: number;
  log?: (line: string) => void;
}

export class DomainRing implements Transport {
  private peer: Peer | null = null;
  private port: EventPort | null = null;
  private receiving = true;
  /** A write took less than offered: tell the peer once the guest makes room. */
  private short = false;
  /** Why the ring is not served (null: it is). */
  private ignored: RingError | null = null;
  private destroyed = false;
  /** A resumed pull waits for the current turn to end. */
  private pullQueued = false;

  constructor(
    readonly domid: number,
    private readonly page: RingPage,
    private readonly endpoint: Endpoint,
    private readonly opts: RingOptions,
  ) {}

  /** Start serving the ring, signalled through `port`. */
  start(port: EventPort): void {
    this.port = port;
    this.page.set(Field.ServerFeatures, (this.page.get(Field.ServerFeatures) | this.opts.features) >>> 0);
    this.reset();
  }

  /** INTRODUCE again for a known domain: its event channel was re-created (libxl on resume). */
  rebind(port: EventPort): void {
    this.port?.close();
    this.port = port;
  }

  /**
   * A fresh connection on an empty ring (cx `domain_conn_reset` at
   * INTRODUCE; a guest's reconnection request).
   */
  reset(): void {
    if (this.destroyed) return;
    this.dropPeer();
    const p = this.page;
    p.set(Field.ReqCons, 0);
    p.set(Field.ReqProd, 0);
    p.set(Field.RspCons, 0);
    p.set(Field.RspProd, 0);
    p.set(Field.Error, RingError.None);
    p.set(Field.Connection, CONNECTED);
    this.ignored = null;
    this.short = false;
    this.receiving = true;
    this.peer = this.endpoint.connect({ kind: "domain", domid: this.domid, readonly: false }, this);
    this.port?.notify();
  }

  /** The event channel fired: the guest wrote, read, or asks to reconnect. */
  onEvent(): void {
    if (this.destroyed) return;
    if (this.page.get(Field.Connection) === RECONNECT) {
      this.opts.log?.(`domain ${this.domid}: ring reconnected`);
      this.reset();
      return;
    }
    if (this.ignored !== null || !this.peer) return;
    if (this.short) {
      this.short = false;
      this.peer.drained();
    }
    this.pull();
  }

  /**
   * Hand the guest's requests to the daemon while it is taking them, until
   * the ring is empty. Emptying it matters: a guest signals a new request
   * only if we had consumed everything before it (Linux `xb_write`), so a
   * request added while we were reading would otherwise wait for ever.
   */
  private pull(): void {
    while (this.receiving && this.peer && this.ignored === null) {
      const data = this.page.consume(Queue.Requests, RING_SIZE);
      if (data === null) {
        this.fail(RingError.RingIdx, "inconsistent request ring indexes");
        return;
      }
      if (data.length === 0) return;
      // Room for more: the guest may be waiting for it.
      this.port?.notify();
      this.peer.received(data);
    }
  }

  write(data: Buffer): number {
    if (this.destroyed || this.ignored !== null) return data.length;
    const n = this.page.produce(Queue.Responses, data);
    if (n < 0) {
      this.fail(RingError.RingIdx, "inconsistent response ring indexes");
      return data.length;
    }
    if (n > 0) this.port?.notify();
    if (n < data.length) this.short = true;
    return n;
  }

  setReceiving(on: boolean): void {
    this.receiving = on;
    // Requests left in the ring meanwhile (their event has come and gone).
    if (on && !this.pullQueued) {
      this.pullQueued = true;
      queueMicrotask(() => {
        this.pullQueued = false;
        if (!this.destroyed) this.pull();
      });
    }
  }

  /** The daemon dropped the connection; with a reason, the ring is no longer served. */
  close(reason?: CloseReason): void {
    this.peer = null;
    if (reason && !this.destroyed && this.ignored === null) {
      const error = reason === "protocol" ? RingError.Proto : RingError.Comm;
      this.ignored = error;
      this.page.set(Field.Error, error);
      this.port?.notify();
    }
  }

  /** The ring is broken: stop serving it, tell the guest, drop its connection (cx `ignore_connection`). */
  private fail(error: RingError, why: string): void {
    if (this.ignored !== null) return;
    this.opts.log?.(`domain ${this.domid}: ${why}; ring no longer served`);
    this.ignored = error;
    this.page.set(Field.Error, error);
    this.port?.notify();
    // Not from inside a write the daemon is making: its connection goes once that is done.
    const peer = this.peer;
    this.peer = null;
    if (peer) queueMicrotask(() => peer.closed());
  }

  private dropPeer(): void {
    const peer = this.peer;
    this.peer = null;
    peer?.closed();
  }

  /** Is the ring served? (diagnostics, tests) */
  get serving(): boolean {
    return !this.destroyed && this.ignored === null && this.peer !== null;
  }

  /** The domain is gone: unbind its event channel and unmap its page. */
  destroy(): void {
    if (this.destroyed) return;
    this.dropPeer();
    this.destroyed = true;
    this.port?.close();
    this.port = null;
    this.page.release();
  }
}
