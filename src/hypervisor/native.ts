/**
 * The Xen addon (native/xen.c), typed. Loaded on first use; absent when it
 * did not build, in which case there is no ring support.
 */
import { addonLoader } from "../util/addon.js";

/** An opaque mapped ring page. */
export type NativeRing = { readonly __ring: unique symbol };
/** An opaque event channel handle. */
export type NativeEvtchn = { readonly __evtchn: unique symbol };

export interface XenAddon {
  /** Resolve the Xen calls (from `emulation` if given) and open the handles: null, or why not. */
  load(emulation?: string): string | null;
  /** What loaded: 1 grant maps, 2 foreign maps, 4 domain state. */
  features(): number;
  /** The daemon's handle, or (emulated host only) a new one acting as domain `asDomid`; -errno on failure. */
  evtchnOpen(asDomid?: number): NativeEvtchn | number;
  bindInterdomain(h: NativeEvtchn, domid: number, remotePort: number): number;
  /** A new port `remoteDomid` may bind to (a guest's end of its xenstore channel). */
  bindUnbound(h: NativeEvtchn, remoteDomid: number): number;
  bindVirq(h: NativeEvtchn, virq: number): number;
  unbind(h: NativeEvtchn, port: number): number;
  notify(h: NativeEvtchn, port: number): number;
  watchEvents(h: NativeEvtchn, callback: (ports: number[]) => void): number;
  /** Stop delivering the handle's events; `close` also closes a handle evtchnOpen(domid) opened. */
  closeEvents(h: NativeEvtchn, close: boolean): void;
  /** The emulated host's domain table: "create", "state" (e.g. "shutdown"), "destroy"; -ENOSYS on Xen. */
  emuDomain(op: "create" | "state" | "destroy", domid: number, state?: string): number;
  mapGrant(domid: number): NativeRing | number;
  mapForeign(domid: number, frame: number): NativeRing | number;
  mapFile(path: string): NativeRing | number;
  ringOfBuffer(buffer: Buffer): NativeRing;
  unmap(ring: NativeRing): void;
  ringGet(ring: NativeRing, field: number): number;
  ringSet(ring: NativeRing, field: number, value: number): number;
  ringConsume(ring: NativeRing, queue: number, max: number): Buffer | null;
  /** Copy from free-running index `from` on without publishing; null if the indexes are inconsistent or `from` is outside. */
  ringPeek(ring: NativeRing, queue: number, from: number, max: number): Buffer | null;
  ringProduce(ring: NativeRing, queue: number, data: Buffer): number;
  ringState(ring: NativeRing, queue: number): number;
  /** -1 no such domain, -2 unknown, else flags: 1 exists, 2 shut down, 4 dying. */
  domainInfo(domid: number): number;
}

export const xenAddon = addonLoader<XenAddon>("tsxs_xen");
