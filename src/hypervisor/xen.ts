/**
 * Xen as the daemon sees it, through the addon (native/xen.c) and the Xen
 * libraries it loads: guests' ring pages and event channels, dom0's own
 * ring (/proc/xen/xsd_kva, /proc/xen/xsd_port), VIRQ_DOM_EXC, and domain
 * state. The same class drives the emulated host, whose library provides
 * the same calls.
 */
import { existsSync, readFileSync } from "node:fs";
import { strtol } from "../util/cparse.js";
import type { EventPort, RingPage } from "../transport/ring/page.js";
import type { DomainState, Hypervisor, LocalRing, RingHost } from "./hypervisor.js";
import { xenAddon, type NativeEvtchn, type XenAddon } from "./native.js";
import { NativeRingPage } from "./native-ring.js";

/** Where Xen shows itself in dom0 (Linux; tools/xenstored/osdep.h). */
export interface XenPaths {
  readonly capabilities: string;
  readonly evtchn: string;
  readonly xsdKva: string;
  readonly xsdPort: string;
}

export const LINUX_XEN_PATHS: XenPaths = {
  capabilities: "/proc/xen/capabilities",
  evtchn: "/dev/xen/evtchn",
  xsdKva: "/proc/xen/xsd_kva",
  xsdPort: "/proc/xen/xsd_port",
};

/** xen.h: the virtual interrupt for "a domain changed state". */
const VIRQ_DOM_EXC = 3;

/** Is this a Xen host's dom0 (xenfs mounted, the event channel device there)? */
export function xenPresent(paths: XenPaths = LINUX_XEN_PATHS): boolean {
  return existsSync(paths.capabilities) && existsSync(paths.evtchn);
}

const RUNNING: DomainState = { shutdown: false, dying: false };

function errnoError(what: string, rc: number): Error {
  return new Error(`${what}: ${rc < 0 ? `errno ${-rc}` : "failed"}`);
}

export class XenHypervisor implements Hypervisor, RingHost {
  /** Local port → what to do when it fires. */
  private readonly handlers = new Map<number, () => void>();
  readonly description: string;

  private constructor(
    private readonly addon: XenAddon,
    private readonly evtchn: NativeEvtchn,
    private readonly paths: XenPaths,
    private readonly log: (line: string) => void,
    what: string,
  ) {
    const f = addon.features();
    const maps = [f & 1 ? "grant" : "", f & 2 ? "foreign" : ""].filter(Boolean).join(" and ") || "no";
    this.description = `${what}: guests' rings by ${maps} mapping${f & 4 ? "" : ", no domain state (domains are never found dead)"}`;
    addon.watchEvents(evtchn, (ports) => this.dispatch(ports));
  }

  /** Open Xen (or the emulated host's library `emulation`); an Error says why not. */
  static open(opts: { emulation?: string; name?: string; paths?: XenPaths; log?: (line: string) => void } = {}): XenHypervisor | Error {
    const addon = xenAddon();
    if (!addon) return new Error("the Xen addon (build/Release/tsxs_xen.node) is not built");
    const why = addon.load(opts.emulation);
    if (why !== null) return new Error(why);
    const evtchn = addon.evtchnOpen();
    if (typeof evtchn === "number") return new Error(`the event channel handle: errno ${-evtchn}`);
    return new XenHypervisor(addon, evtchn, opts.paths ?? LINUX_XEN_PATHS, opts.log ?? (() => {}), opts.name ?? (opts.emulation ? "emulated Xen" : "Xen"));
  }

  private dispatch(ports: number[]): void {
    for (const p of ports) {
      const handler = this.handlers.get(p);
      if (!handler) continue;
      try {
        handler();
      } catch (e) {
        // An event handler's bug must not take the daemon down.
        this.log(`internal error handling event channel ${p}: ${(e as Error).stack ?? e}`);
      }
    }
  }

  get rings(): RingHost {
    return this;
  }

  domainExists(domid: number): boolean {
    const info = this.addon.domainInfo(domid);
    return info >= 0 || info === -2;
  }

  domainState(domid: number): DomainState | null {
    const info = this.addon.domainInfo(domid);
    if (info === -2) return RUNNING;
    if (info < 0) return null;
    return { shutdown: (info & 2) !== 0, dying: (info & 4) !== 0 };
  }

  localRing(): LocalRing | Error {
    let text: string;
    try {
      text = readFileSync(this.paths.xsdPort, "latin1");
    } catch (e) {
      return new Error(`${this.paths.xsdPort}: ${(e as Error).message}`);
    }
    const port = Number(strtol(text.trim(), 0).value);
    if (!(port > 0)) return new Error(`${this.paths.xsdPort}: no event channel port in "${text.trim()}"`);
    const ring = this.addon.mapFile(this.paths.xsdKva);
    if (typeof ring === "number") return errnoError(`mapping ${this.paths.xsdKva}`, ring);
    return { page: new NativeRingPage(this.addon, ring), port };
  }

  mapRing(domid: number, frame: string): RingPage | Error {
    const granted = this.addon.mapGrant(domid);
    if (typeof granted !== "number") return new NativeRingPage(this.addon, granted);
    // No grant reference 1 (or no grant device): map the frame INTRODUCE named, as oxenstored does.
    if (this.addon.features() & 2) {
      const mfn = Number(BigInt.asUintN(64, strtol(frame, 0).value));
      const foreign = this.addon.mapForeign(domid, mfn);
      if (typeof foreign !== "number") return new NativeRingPage(this.addon, foreign);
      return errnoError(`mapping domain ${domid}'s ring (grant: errno ${-granted}; frame ${frame})`, foreign);
    }
    return errnoError(`mapping domain ${domid}'s ring by grant`, granted);
  }

  bind(domid: number, remotePort: number, onEvent: () => void): EventPort | Error {
    const local = this.addon.bindInterdomain(this.evtchn, domid, remotePort);
    if (local < 0) return errnoError(`binding domain ${domid}'s event channel ${remotePort}`, local);
    this.handlers.set(local, onEvent);
    const { addon, handlers, evtchn } = this;
    let open = true;
    return {
      local,
      notify: () => {
        if (open) addon.notify(evtchn, local);
      },
      close: () => {
        if (!open) return;
        open = false;
        handlers.delete(local);
        addon.unbind(evtchn, local);
      },
    };
  }

  watchDomains(onChange: () => void): void {
    const port = this.addon.bindVirq(this.evtchn, VIRQ_DOM_EXC);
    if (port < 0) {
      this.log(`cannot bind VIRQ_DOM_EXC (errno ${-port}): domains will not be found dead`);
      return;
    }
    this.handlers.set(port, onChange);
  }

  close(): void {
    this.addon.closeEvents(this.evtchn, false);
  }
}
