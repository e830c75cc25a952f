/**
 * The domains xenstored knows: introduced guests (with their event channel,
 * ring frame and feature bits), the device-model targets set by SET_TARGET,
 * and the "shutdown already reported" state RESUME re-arms.
 */
import { FEATURE_DOMID_ANY, FEATURE_WATCHDEPTH } from "../protocol/messages.js";
import type { Hypervisor } from "./hypervisor.js";

/** Features this server offers (GET_FEATURE); ERROR arrives with guest rings. */
export const SERVER_FEATURES = FEATURE_WATCHDEPTH | FEATURE_DOMID_ANY;

export interface Domain {
  readonly domid: number;
  introduced: boolean;
  /** Event channel port and ring frame given to INTRODUCE. */
  port: number;
  mfn: string;
  /** cx `shutdown`: @releaseDomain already fired for this shutdown. */
  shutdown: boolean;
  /** Features offered to this domain (settable before it is introduced). */
  features: number;
  /** SET_TARGET: this domain acts with the rights of `target`. */
  target: number | null;
}

export class DomainRegistry {
  private readonly domains = new Map<number, Domain>();

  constructor(
    readonly hypervisor: Hypervisor,
    /** Called when a domain record is created (per-domain quota defaults). */
    private readonly onCreate: (domid: number) => void = () => {},
    /** The domain whose xenstore connection is the host's own (dom0). */
    readonly masterDomid = 0,
  ) {}

  get(domid: number): Domain | undefined {
    return this.domains.get(domid);
  }

  introduced(domid: number): Domain | undefined {
    const d = this.domains.get(domid);
    return d && d.introduced ? d : undefined;
  }

  /** The domain record, created on first mention if the hypervisor knows it. */
  findOrCreate(domid: number): Domain | undefined {
    let d = this.domains.get(domid);
    if (!d && this.hypervisor.domainExists(domid)) d = this.create(domid);
    return d;
  }

  private create(domid: number): Domain {
    const d: Domain = { domid, introduced: false, port: 0, mfn: "0", shutdown: false, features: SERVER_FEATURES, target: null };
    this.domains.set(domid, d);
    this.onCreate(domid);
    return d;
  }

  /**
   * Record an INTRODUCE. Returns true when the domain is newly introduced
   * (fire @introduceDomain), false when it only re-binds its event channel.
   */
  introduce(domid: number, mfn: string, port: number): boolean {
    const d = this.domains.get(domid) ?? this.create(domid);
    d.port = port;
    if (d.introduced) return false;
    d.introduced = true;
    d.mfn = mfn;
    d.shutdown = false;
    return true;
  }

  /** Forget a domain entirely (RELEASE or death). */
  remove(domid: number): void {
    this.domains.delete(domid);
    for (const d of this.domains.values()) if (d.target === domid) d.target = null;
  }

  all(): IterableIterator<Domain> {
    return this.domains.values();
  }
}
