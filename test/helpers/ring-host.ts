/**
 * An in-process stand-in for the hypervisor's ring interface: each guest's
 * ring page is ordinary memory, copied by the same addon code as a mapped
 * page (native/xen.c), and event channels are queued notifications that
 * `settle()` delivers. Lets tests drive the daemon's ring transport as a
 * guest kernel would, deterministically, and count mappings and ports.
 */
import { Field, Queue, type EventPort, type RingPage } from "../../src/transport/ring/page.js";
import type { DomainState, Hypervisor, LocalRing, RingHost } from "../../src/hypervisor/hypervisor.js";
import { xenAddon } from "../../src/hypervisor/native.js";
import { memoryRing } from "../../src/hypervisor/native-ring.js";
import { GuestRing } from "../../src/emu/guest-ring.js";
import { encodePacket, joinStrings } from "../../src/protocol/serializer.js";
import { Op, type Packet } from "../../src/protocol/messages.js";

/** Why ring tests cannot run (the addon did not build), or null. */
export function ringsUnavailable(): string | null {
  return xenAddon() ? null : "the Xen addon (build/Release/tsxs_xen.node) is not built";
}

/** A guest's side of its ring: what its kernel's xenbus does, request by request (src/emu/guest-ring.ts). */
export class Guest {
  readonly buffer = Buffer.alloc(4096);
  /** The guest's view of the page (the same memory as the server's). */
  readonly page: RingPage;
  readonly received: Packet[] = [];
  private readonly ring: GuestRing;
  notified = 0;
  /** Why the guest gave up on its ring (as a kernel's xenbus does on bad indexes), if it did. */
  broken: string | null = null;
  state: DomainState | null = { shutdown: false, dying: false };
  private nextReq = 1;

  constructor(
    readonly domid: number,
    /** The guest's end of its xenstore event channel. */
    readonly port: number,
    host: MemoryRingHost,
  ) {
    this.page = memoryRing(xenAddon()!, this.buffer);
    this.ring = new GuestRing(
      this.page,
      () => host.signal(domid),
      (p) => this.received.push(p),
      (why) => {
        this.broken = why;
      },
    );
  }

  /** Stop (false) or resume taking replies (a guest that never reads its ring). */
  get reading(): boolean {
    return this.ring.reading;
  }
  set reading(on: boolean) {
    this.ring.reading = on;
  }

  /** Queue raw bytes for the request ring; they go in as space allows. */
  sendRaw(bytes: Buffer): void {
    this.ring.send(bytes);
  }

  send(type: number, args: readonly string[] | Buffer, txId = 0, reqId = this.nextReq++): number {
    const payload = Buffer.isBuffer(args) ? args : joinStrings(args);
    this.sendRaw(encodePacket(type, reqId, txId, payload));
    return reqId;
  }

  /** The server signalled. */
  onNotify(): void {
    this.notified++;
    this.ring.onEvent();
  }

  /** Take what the server produced now. */
  take(): void {
    this.ring.take();
  }

  /** Replies and events received, as "TYPE body" text (and forget them). */
  replies(): string[] {
    return this.received.splice(0).map((p) => `${Op[p.type] ?? p.type} ${p.payload.toString("latin1")}`);
  }

  get waitingToSend(): number {
    return this.ring.waiting;
  }
}

interface Binding {
  readonly domid: number;
  readonly onEvent: () => void;
}

export class MemoryRingHost implements RingHost {
  readonly guests = new Map<number, Guest>();
  /** Server-side pages mapped and not yet released. */
  mapped = 0;
  /** Local ports bound and not yet closed. */
  readonly bound = new Map<number, Binding>();
  private nextPort = 100;
  private queue: (() => void)[] = [];
  private domainChange: (() => void) | null = null;
  /** dom0's own ring, if the test gives it one. */
  local: Guest | null = null;
  /**
   * Runs inside the server's read of a request queue, after it has read the
   * indexes and before it publishes its consumer index: what a guest on
   * another CPU can do at that moment.
   */
  duringConsume: ((domid: number) => void) | null = null;

  /** A guest with a fresh page and the guest's end `port` of its event channel. */
  createGuest(domid: number, port = 7): Guest {
    const g = new Guest(domid, port, this);
    this.guests.set(domid, g);
    return g;
  }

  localRing(): LocalRing | Error {
    if (!this.local) return new Error("no local ring in this test");
    return { page: this.serverPage(this.local), port: this.local.port };
  }

  private serverPage(g: Guest): RingPage {
    const page = memoryRing(xenAddon()!, g.buffer);
    this.mapped++;
    let released = false;
    return {
      consume: (q, max) => {
        const hook = this.duringConsume;
        if (!hook || q !== Queue.Requests) return page.consume(q, max);
        const seen = page.waiting(q);
        hook(g.domid);
        return seen < 0 ? null : page.consume(q, Math.min(max, seen));
      },
      peek: (q, from, max) => {
        const hook = this.duringConsume;
        if (!hook || q !== Queue.Requests) return page.peek(q, from, max);
        const seen = page.waiting(q);
        const cons = page.get(Field.ReqCons);
        hook(g.domid);
        // What was there when the indexes were read (the guest may have added more since).
        return seen < 0 ? null : page.peek(q, from, Math.min(max, (cons + seen - from) >>> 0));
      },
      produce: (q, d) => page.produce(q, d),
      waiting: (q) => page.waiting(q),
      get: (f) => page.get(f),
      set: (f, v) => page.set(f, v),
      release: () => {
        if (released) throw new Error("ring page released twice");
        released = true;
        this.mapped--;
      },
    };
  }

  mapRing(domid: number): RingPage | Error {
    const g = this.guests.get(domid);
    if (!g) return new Error(`no ring for domain ${domid}`);
    return this.serverPage(g);
  }

  bind(domid: number, remotePort: number, onEvent: () => void): EventPort | Error {
    const g = domid === 0 && this.local ? this.local : this.guests.get(domid);
    if (!g || g.port !== remotePort) return new Error(`domain ${domid} has no unbound port ${remotePort}`);
    const local = this.nextPort++;
    this.bound.set(local, { domid, onEvent });
    let open = true;
    return {
      local,
      notify: () => {
        if (open) this.queue.push(() => g.onNotify());
      },
      close: () => {
        if (!open) throw new Error("event channel closed twice");
        open = false;
        this.bound.delete(local);
      },
    };
  }

  /** A guest signalled its channel: the daemon's handler runs on the next delivery. */
  signal(domid: number): void {
    for (const b of this.bound.values()) if (b.domid === domid) this.queue.push(() => b.onEvent());
  }

  watchDomains(onChange: () => void): void {
    this.domainChange = onChange;
  }

  /** A domain changed state (VIRQ_DOM_EXC). */
  changeDomain(domid: number, state: DomainState | null): void {
    const g = this.guests.get(domid);
    if (g) g.state = state;
    this.queue.push(() => this.domainChange?.());
  }

  close(): void {}

  /** Deliver notifications (and let the daemon's deferred work run) until nothing moves. */
  async settle(): Promise<void> {
    for (let idle = 0; idle < 3; ) {
      const batch = this.queue;
      this.queue = [];
      for (const f of batch) f();
      await new Promise((r) => setImmediate(r));
      idle = batch.length === 0 && this.queue.length === 0 ? idle + 1 : 0;
    }
  }
}

/** A hypervisor with in-memory rings: every domid below 1024 exists unless a test says otherwise. */
export class MemoryHypervisor implements Hypervisor {
  readonly description = "in-memory rings (tests)";
  constructor(readonly rings: MemoryRingHost = new MemoryRingHost()) {}

  domainState(domid: number): DomainState | null {
    const g = this.rings.guests.get(domid);
    if (g) return g.state;
    return domid < 1024 ? { shutdown: false, dying: false } : null;
  }

  domainExists(domid: number): boolean {
    return this.domainState(domid) !== null;
  }
}

export { Field, Op, Queue };
