/**
 * A guest domain in an emulated Xen host: it is created in the host's
 * domain table, owns a real shared ring page and the guest's end of a real
 * event channel, is introduced to whichever xenstored serves the host (over
 * the dom0 socket, as the toolstack does), and talks to it through its ring
 * as a Linux guest kernel does. Its users (in-process, or clients of a Unix
 * socket it serves) share the ring as users of /dev/xen/xenbus do.
 */
import { once } from "node:events";
import { rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join, resolve } from "node:path";
import { XenStoreClient } from "../client/client.js";
import { EMULATION_LIBRARY } from "../hypervisor/emulation.js";
import { xenAddon, type NativeEvtchn, type NativeRing, type XenAddon } from "../hypervisor/native.js";
import { NativeRingPage } from "../hypervisor/native-ring.js";
import type { RingPage } from "../transport/ring/page.js";
import { Op, type Packet } from "../protocol/messages.js";
import { PacketParser } from "../protocol/parser.js";
import { encodePacket, joinStrings } from "../protocol/serializer.js";
import { GuestRing } from "./guest-ring.js";
import { XenbusMux, type MuxClient } from "./mux.js";

export interface GuestOptions {
  /** The emulated host's directory. */
  dir: string;
  domid: number;
  /** The daemon's dom0 socket (default: `<dir>/socket`). */
  dom0Socket?: string;
  /** A toolstack connection to use instead of a connection of the guest's own (left open by `stop`). */
  dom0?: XenStoreClient;
  /** Its name in its home (default `guest<domid>`). */
  name?: string;
  /** Create its home as the toolstack would (default true): /local/domain/<domid> readable by it, its `data` its own. */
  home?: boolean;
  /** The guest owns its home (clients such as test-xenstore write there); default: dom0 does, as with xl. */
  ownHome?: boolean;
  log?: (line: string) => void;
  /** Run once the domain exists and before INTRODUCE (the toolstack's part: its home, its devices). */
  beforeIntroduce?: (dom0: XenStoreClient) => Promise<void>;
}

/** Load the emulation library into this process (once); the addon, or why not. */
export function emulationAddon(dir: string): XenAddon | Error {
  const addon = xenAddon();
  if (!addon) return new Error("the Xen addon (build/Release/tsxs_xen.node) is not built");
  process.env.TSXS_EMU_DIR ??= resolve(dir);
  if (process.env.TSXS_EMU_DIR !== resolve(dir)) return new Error(`this process already uses the emulated host ${process.env.TSXS_EMU_DIR}`);
  const why = addon.load(EMULATION_LIBRARY);
  return why === null ? addon : new Error(why);
}

/** An in-process user of the guest's ring: a request/reply API plus its watch events. */
export class GuestClient implements MuxClient {
  private nextReq = 1;
  private readonly waiting = new Map<number, (p: Packet) => void>();
  private readonly parser = new PacketParser();
  /** Watch events received, `path\0token` each, until taken. */
  readonly events: string[] = [];
  onEvent: ((path: string, token: string) => void) | null = null;

  constructor(private readonly mux: XenbusMux) {
    mux.attach(this);
  }

  deliver(packet: Buffer): void {
    for (const p of this.parser.push(packet)) {
      if (p.type === Op.WATCH_EVENT) {
        const [path = "", token = ""] = p.payload.toString("latin1").split("\0");
        if (this.onEvent) this.onEvent(path, token);
        else this.events.push(`${path}\0${token}`);
        continue;
      }
      const done = this.waiting.get(p.reqId);
      this.waiting.delete(p.reqId);
      done?.(p);
    }
  }

  kill(): void {
    this.mux.detach(this);
  }

  /** Send one request; resolves with its reply packet (an ERROR reply is a reply too). */
  request(type: number, args: readonly string[] | Buffer, txId = 0): Promise<Packet> {
    const reqId = this.nextReq++;
    const payload = Buffer.isBuffer(args) ? args : joinStrings(args);
    return new Promise((resolvePacket) => {
      this.waiting.set(reqId, resolvePacket);
      this.mux.received(this, encodePacket(type, reqId, txId, payload));
    });
  }

  close(): void {
    this.mux.detach(this);
  }
}

export class EmulatedGuest {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private stopped = false;

  private constructor(
    readonly domid: number,
    readonly port: number,
    private readonly addon: XenAddon,
    private readonly evtchn: NativeEvtchn,
    private readonly ringMap: NativeRing,
    /** The ring page itself, for tests that misbehave as a hostile guest would. */
    readonly page: RingPage,
    readonly ring: GuestRing,
    readonly mux: XenbusMux,
    private readonly dom0: XenStoreClient,
    private readonly ownDom0: boolean,
    private readonly homeMade: boolean,
    private readonly log: (line: string) => void,
  ) {}

  /** Create the domain, its ring and event channel, and have the daemon introduce it. */
  static async start(opts: GuestOptions): Promise<EmulatedGuest> {
    const { domid } = opts;
    const log = opts.log ?? (() => {});
    const addon = emulationAddon(opts.dir);
    if (addon instanceof Error) throw addon;
    const created = addon.emuDomain("create", domid);
    if (created < 0) throw new Error(created === -17 ? `domain ${domid} already exists in ${opts.dir}` : `creating domain ${domid}: errno ${-created}`);
    const undo: (() => void)[] = [() => addon.emuDomain("destroy", domid)];
    try {
      const evtchn = addon.evtchnOpen(domid);
      if (typeof evtchn === "number") throw new Error(`an event channel handle for domain ${domid}: errno ${-evtchn}`);
      undo.push(() => addon.closeEvents(evtchn, true));
      const port = addon.bindUnbound(evtchn, 0);
      if (port < 0) throw new Error(`an event channel for domain ${domid}: errno ${-port}`);
      const map = addon.mapFile(join(resolve(opts.dir), `domains/${domid}/page`));
      if (typeof map === "number") throw new Error(`mapping domain ${domid}'s ring page: errno ${-map}`);
      undo.push(() => addon.unmap(map));
      const page = new NativeRingPage(addon, map);
      let mux: XenbusMux | null = null;
      const ring = new GuestRing(
        page,
        () => addon.notify(evtchn, port),
        (p) => mux?.fromRing(p),
        (why) => log(`domain ${domid}: ${why}`),
      );
      mux = new XenbusMux((bytes) => ring.send(bytes));
      addon.watchEvents(evtchn, () => ring.onEvent());
      const dom0 = opts.dom0 ?? (await XenStoreClient.connect(opts.dom0Socket ?? join(resolve(opts.dir), "socket")));
      const ownDom0 = !opts.dom0;
      if (ownDom0) undo.push(() => dom0.close());
      const home = opts.home ?? true;
      if (home) await makeHome(dom0, domid, opts.name ?? `guest${domid}`, opts.ownHome ?? false);
      await opts.beforeIntroduce?.(dom0);
      // As the toolstack: the frame is the page's (any will do here), the port the guest's end.
      await dom0.introduce(domid, domid, port);
      return new EmulatedGuest(domid, port, addon, evtchn, map, page, ring, mux, dom0, ownDom0, home, log);
    } catch (e) {
      for (const u of undo.reverse()) u();
      throw e;
    }
  }

  /** Signal the daemon on the guest's event channel. */
  signal(): void {
    this.addon.notify(this.evtchn, this.port);
  }

  /** A user of the ring in this process. */
  client(): GuestClient {
    return new GuestClient(this.mux);
  }

  /** Serve `path`: each client connecting there talks to the daemon as this domain, through its ring. */
  async serve(path: string): Promise<void> {
    rmSync(path, { force: true });
    const server = createServer((s) => this.accept(s));
    this.server = server;
    server.listen(path);
    await once(server, "listening");
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    const client: MuxClient = {
      deliver: (packet) => {
        if (!socket.destroyed) socket.write(packet);
      },
      kill: () => socket.destroy(),
    };
    this.mux.attach(client);
    socket.on("data", (chunk: Buffer) => this.mux.received(client, chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      this.sockets.delete(socket);
      this.mux.detach(client);
    });
  }

  /** The guest shuts down (the daemon fires @releaseDomain); it still exists until `stop`. */
  shutdown(): void {
    this.addon.emuDomain("state", this.domid, "shutdown");
  }

  /** The domain is destroyed: its users are cut off, its home removed, the daemon told (VIRQ_DOM_EXC). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
    if (this.homeMade) {
      // Bounded: a daemon that does not answer must not keep the domain alive.
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((r) => (timer = setTimeout(() => r(this.log(`removing domain ${this.domid}'s home: no answer`)), 3000)));
      try {
        await Promise.race([this.dom0.rm(`/local/domain/${this.domid}`), gaveUp]);
      } catch (e) {
        this.log(`removing domain ${this.domid}'s home: ${(e as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
    this.addon.emuDomain("destroy", this.domid);
    this.addon.closeEvents(this.evtchn, true);
    this.addon.unmap(this.ringMap);
    if (this.ownDom0) this.dom0.close();
  }
}

/** The part of a guest's home the toolstack writes before INTRODUCE (a small libxl `libxl__domain_make`). */
async function makeHome(dom0: XenStoreClient, domid: number, name: string, own: boolean): Promise<void> {
  const home = `/local/domain/${domid}`;
  await dom0.transaction(async (tx) => {
    await tx.mkdir(home);
    await tx.setPerms(home, own ? [`n${domid}`] : [`n0`, `r${domid}`]);
    await tx.write(`${home}/domid`, String(domid));
    await tx.write(`${home}/name`, name);
    for (const own of ["data", "control", "device", "error", "drivers", "attr", "feature"]) {
      await tx.mkdir(`${home}/${own}`);
      await tx.setPerms(`${home}/${own}`, [`n${domid}`]);
    }
  });
}
