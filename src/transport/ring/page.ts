/**
 * A xenstore ring page (xs_wire.h, docs/misc/xenstore-ring.txt) as the
 * ring transport uses it: two 1024-byte queues with free-running indexes,
 * and the signalling fields. Implementations do the copies with the
 * barriers the protocol needs (native/xen.c); JavaScript never reads the
 * shared memory itself.
 */

export const RING_SIZE = 1024;

/** The two queues: requests (guest → server) and responses (server → guest). */
export const enum Queue {
  Requests = 0,
  Responses = 1,
}

/** The page's 32-bit fields (native/xen.c `enum ring_field`). */
export const enum Field {
  ReqCons = 0,
  ReqProd = 1,
  RspCons = 2,
  RspProd = 3,
  ServerFeatures = 4,
  Connection = 5,
  Error = 6,
  EvtchnPort = 7,
}

/** `connection` values. */
export const CONNECTED = 0;
export const RECONNECT = 1;

/** `error` values: why the server stopped serving the ring. */
export const enum RingError {
  None = 0,
  /** Communication problems (we also use it for a client far behind on its output). */
  Comm = 1,
  /** Inconsistent producer or consumer index. */
  RingIdx = 2,
  /** Protocol violation: a packet longer than 4096 bytes. */
  Proto = 3,
}

export interface RingPage {
  /** Take up to `max` bytes from a queue; null when its indexes are inconsistent. */
  consume(queue: Queue, max: number): Buffer | null;
  /**
   * Copy up to `max` bytes of a queue from free-running index `from` on,
   * publishing nothing; null when its indexes are inconsistent or `from`
   * lies outside them.
   */
  peek(queue: Queue, from: number, max: number): Buffer | null;
  /** Put as much of `data` as fits into a queue; -1 when its indexes are inconsistent. */
  produce(queue: Queue, data: Buffer): number;
  /** Bytes waiting in a queue; -1 when its indexes are inconsistent. */
  waiting(queue: Queue): number;
  get(field: Field): number;
  set(field: Field, value: number): void;
  /** Give the page back (unmap); the page is unusable afterwards. */
  release(): void;
}

/** A bound event channel: the local end of a guest's (or dom0's) xenstore channel. */
export interface EventPort {
  readonly local: number;
  notify(): void;
  /** Unbind. */
  close(): void;
}
