/**
 * What the daemon asks of the hypervisor: does a domain exist, is it shut
 * down or dying, and, where there are rings (real Xen, or the emulated
 * host), mapping a guest's ring page, binding its event channel, dom0's
 * own ring, and being told when domains change state (VIRQ_DOM_EXC).
 */
import type { EventPort, RingPage } from "../transport/ring/page.js";

export interface DomainState {
  /** Shut down or crashed (@releaseDomain fires once per shutdown). */
  readonly shutdown: boolean;
  /** Being destroyed: its xenstore connection and nodes go. */
  readonly dying: boolean;
}

/** dom0's own ring: the page the kernel shares (/proc/xen/xsd_kva) and its event channel (/proc/xen/xsd_port). */
export interface LocalRing {
  readonly page: RingPage;
  readonly port: number;
}

export interface RingHost {
  /** dom0's ring, or null when there is none to serve (its error says why). */
  localRing(): LocalRing | Error;
  /** Map a guest's ring page (grant reference 1, else the frame INTRODUCE gave). */
  mapRing(domid: number, frame: string): RingPage | Error;
  /** Bind to the guest's end `remotePort`; `onEvent` runs on each event on it. */
  bind(domid: number, remotePort: number, onEvent: () => void): EventPort | Error;
  /** Call `onChange` whenever some domain changed state (VIRQ_DOM_EXC). */
  watchDomains(onChange: () => void): void;
  /** Stop delivering events (shutdown). */
  close(): void;
}

export interface Hypervisor {
  /** For the start-up line: what this is. */
  readonly description: string;
  domainExists(domid: number): boolean;
  /** A domain's state; null when it does not exist (any more). */
  domainState(domid: number): DomainState | null;
  /** Ring support; null without rings (domains are emulated, clients use the socket). */
  readonly rings: RingHost | null;
}
