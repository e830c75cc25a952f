/**
 * The rings of the domains xenstored serves: created when a domain is
 * introduced (its page mapped, its event channel bound), re-bound when it
 * is introduced again, reset, and destroyed when it goes, so that no
 * mapping or port outlives its domain.
 */
import type { RingHost } from "../hypervisor/hypervisor.js";
import type { RingPage } from "../transport/ring/page.js";
import { DomainRing } from "../transport/ring/ring-transport.js";
import type { Endpoint } from "../transport/transport.js";
import type { Notices } from "../util/notices.js";

export interface GuestRingsOptions {
  /** Rings that stop being served are reported here. */
  notices?: Notices;
  /** A response ring was found full (a stall). */
  onFull?: () => void;
}

export class GuestRings {
  private readonly rings = new Map<number, DomainRing>();

  constructor(
    private readonly host: RingHost,
    private readonly endpoint: Endpoint,
    private readonly log: (line: string) => void,
    private readonly opts: GuestRingsOptions = {},
  ) {}

  has(domid: number): boolean {
    return this.rings.has(domid);
  }

  get(domid: number): DomainRing | undefined {
    return this.rings.get(domid);
  }

  get size(): number {
    return this.rings.size;
  }

  /**
   * Serve dom0's own ring (xsd_kva / xsd_port) as `domid`'s; `resume`: as
   * a previous daemon left it (after a restart), instead of afresh.
   */
  attachLocal(domid: number, features: number, resume = false): Error | null {
    const local = this.host.localRing();
    if (local instanceof Error) return local;
    return this.serve(domid, local.page, local.port, features, resume);
  }

  /**
   * Map and bind a domain's ring and serve it: a newly introduced one
   * afresh, or with `resume` one a previous daemon served (after a restart:
   * unanswered requests are read again, waiting replies stay).
   */
  attach(domid: number, frame: string, port: number, features: number, resume = false): Error | null {
    const page = this.host.mapRing(domid, frame);
    if (page instanceof Error) return page;
    return this.serve(domid, page, port, features, resume);
  }

  private serve(domid: number, page: RingPage, port: number, features: number, resume: boolean): Error | null {
    const ring = new DomainRing(domid, page, this.endpoint, { features, log: this.log, notices: this.opts.notices, onFull: this.opts.onFull });
    const bound = this.host.bind(domid, port, () => ring.onEvent());
    if (bound instanceof Error) {
      page.release();
      return bound;
    }
    this.rings.set(domid, ring);
    if (resume) ring.resume(bound);
    else ring.start(bound);
    return null;
  }

  /** INTRODUCE of a known domain: re-bind its event channel (libxl does this on resume). */
  rebind(domid: number, port: number): Error | null {
    const ring = this.rings.get(domid);
    if (!ring) return new Error(`domain ${domid} has no ring`);
    const bound = this.host.bind(domid, port, () => ring.onEvent());
    if (bound instanceof Error) return bound;
    ring.rebind(bound);
    return null;
  }

  /** A fresh connection on an emptied ring (INTRODUCE). */
  reset(domid: number): void {
    this.rings.get(domid)?.reset();
  }

  destroy(domid: number): void {
    const ring = this.rings.get(domid);
    if (!ring) return;
    this.rings.delete(domid);
    ring.destroy();
  }
}
