/**
 * The domains xenstored knows: introduced guests (with their event channel,
 * ring frame and feature bits), the device-model targets set by SET_TARGET,
 * the "shutdown already reported" state RESUME re-arms, and which domains
 * are privileged. Records change only through commit effects (`apply`).
 */
import { FEATURE_DOMID_ANY, FEATURE_ERROR, FEATURE_RECONNECTION, FEATURE_WATCHDEPTH } from "../protocol/messages.js";
import { RecordType, type DomainRecord } from "../state/stream.js";
import type { Effect } from "../store/store.js";
import type { Hypervisor } from "../hypervisor/hypervisor.js";

/**
 * Features this server offers (GET_FEATURE, and a ring's `server_features`
 * at INTRODUCE): cx 4.22's (the error indicator, watch depth, DOMID_ANY)
 * plus ring reconnection, which oxenstored offers too.
 */
export const SERVER_FEATURES = FEATURE_RECONNECTION | FEATURE_ERROR | FEATURE_WATCHDEPTH | FEATURE_DOMID_ANY;

export interface Domain {
  readonly domid: number;
  introduced: boolean;
  /** Event channel port (the guest's end) and ring frame given to INTRODUCE. */
  port: number;
  mfn: string;
  /** cx `shutdown`: @releaseDomain already fired for this shutdown. */
  shutdown: boolean;
  /** Features offered to this domain (settable before it is introduced). */
  features: number;
  /** SET_TARGET: this domain acts with the rights of `target`. */
  target: number | null;
}

export type DomainEffect = Exclude<Effect, { kind: "quota" }>;

export interface DomainOptions {
  /** Control domain besides dom0 (cx -p/--priv-domid). */
  privDomid?: number;
  /** The domain this xenstored belongs to, whose ring is the host's own (cx -m/--master-domid). */
  masterDomid?: number;
  /** A domain record was created (per-domain quota defaults). */
  onCreate?: (domid: number) => void;
  /** A domain record was removed (release, death). */
  onRemove?: (domid: number) => void;
}

export class DomainRegistry {
  private readonly domains = new Map<number, Domain>();
  readonly privDomid: number;
  readonly masterDomid: number;
  private readonly onCreate: (domid: number) => void;
  private readonly onRemove: (domid: number) => void;

  constructor(
    readonly hypervisor: Hypervisor,
    opts: DomainOptions = {},
  ) {
    this.privDomid = opts.privDomid ?? 0;
    this.masterDomid = opts.masterDomid ?? 0;
    this.onCreate = opts.onCreate ?? (() => {});
    this.onRemove = opts.onRemove ?? (() => {});
  }

  /** Is this domid a control domain (cx `domid_is_unprivileged` negated)? */
  isPrivileged(domid: number): boolean {
    return domid === 0 || domid === this.privDomid;
  }

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

  /** Apply a committed change of a domain record. */
  apply(e: DomainEffect): void {
    switch (e.kind) {
      case "introduce": {
        const d = this.domains.get(e.domid) ?? this.create(e.domid);
        d.port = e.port;
        if (!d.introduced) {
          d.introduced = true;
          d.mfn = e.mfn;
          d.shutdown = false;
        }
        break;
      }
      case "release":
        if (this.domains.delete(e.domid)) this.onRemove(e.domid);
        for (const d of this.domains.values()) if (d.target === e.domid) d.target = null;
        break;
      case "features":
        (this.domains.get(e.domid) ?? this.create(e.domid)).features = e.features;
        break;
      case "target":
        this.domains.get(e.domid)!.target = e.target;
        break;
      case "shutdown":
        this.domains.get(e.domid)!.shutdown = e.shutdown;
        break;
    }
  }

  all(): IterableIterator<Domain> {
    return this.domains.values();
  }

  dump(): DomainRecord[] {
    return [...this.domains.values()].map((d) => ({ type: RecordType.Domain, ...d }));
  }

  /** Replace every record (state restore; quotas are restored on their own). */
  restore(records: readonly DomainRecord[]): void {
    this.domains.clear();
    for (const r of records) {
      const { domid, introduced, port, mfn, shutdown, features, target } = r;
      this.domains.set(domid, { domid, introduced, port, mfn, shutdown, features, target });
    }
  }
}
