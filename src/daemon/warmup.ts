/**
 * Warm-up before serving: a fresh Node.js process runs the request path in
 * its interpreter until the JIT has seen enough of it, so the first guests
 * of a host's boot would pay several times the CPU of later ones (measured:
 * ~125 µs per request in the first 50 guests of a cold daemon, ~10 µs
 * warm). The daemon therefore serves, before its sockets accept, a
 * toolstack creating, using and destroying guests the way libxl and a
 * guest's drivers do, on a scratch daemon of its own (in memory, emulated
 * domains) that is thrown away afterwards. The real store never sees it.
 */
import { EmulatedHypervisor } from "../hypervisor/emulated.js";
import { Op } from "../protocol/messages.js";
import { PacketParser } from "../protocol/parser.js";
import { encodePacket, joinStrings } from "../protocol/serializer.js";
import { Xenstored } from "../server/xenstored.js";
import { ColdSubtreeCompactor } from "../store/compactor.js";
import type { Peer } from "../transport/transport.js";

/** Guests alive at once on the scratch daemon (more than a flat directory holds). */
const LIVE = 40;

export interface WarmUpResult {
  readonly guests: number;
  readonly requests: number;
  readonly ms: number;
}

/** A client of an in-process daemon that gets each reply back synchronously (also bench/inproc-boot.ts). */
export class ScratchClient {
  private readonly parser = new PacketParser(1 << 20);
  private readonly peer: Peer;
  private payloads: Buffer[] = [];
  private nextId = 1;
  requests = 0;

  constructor(x: Xenstored, kind: "socket" | "domain", domid: number) {
    this.peer = x.endpoint.connect(
      { kind, domid, readonly: false },
      {
        write: (d) => {
          for (const p of this.parser.push(d)) if (p.type !== Op.WATCH_EVENT) this.payloads.push(p.payload);
          return d.length;
        },
        close: () => {},
      },
    );
  }

  /** One request; its reply's payload. */
  req(op: Op, args: readonly string[], tx = 0): Buffer {
    this.requests++;
    this.payloads = [];
    this.peer.received(encodePacket(op, this.nextId++, tx, joinStrings(args)));
    return this.payloads[0] ?? Buffer.alloc(0);
  }

  write(path: string, value: string, tx = 0): void {
    this.requests++;
    this.peer.received(encodePacket(Op.WRITE, this.nextId++, tx, Buffer.from(`${path}\0${value}`, "latin1")));
  }

  close(): void {
    this.peer.closed();
  }
}

/**
 * Create, use and destroy up to `guests` guests on a scratch daemon, for at
 * most `budgetMs` (a slow machine, such as dom0 under emulation, stops
 * early rather than delaying its boot); what was done.
 */
export function warmUp(guests: number, budgetMs = 1000): WarmUpResult {
  const started = performance.now();
  const x = new Xenstored({ hypervisor: new EmulatedHypervisor() });
  const toolstack = new ScratchClient(x, "socket", 0);
  const backend = new ScratchClient(x, "socket", 0);
  // The scratch store's cold subtrees are packed as the real store's are, so
  // the code that reads and changes packed nodes is compiled too.
  const compactor = new ColdSubtreeCompactor();
  let requests = 0;
  let made = 0;
  for (let i = 0; i < guests && performance.now() - started < budgetMs; i++, made++) {
    // LIVE guests at a time: directories grow past their flat size as a host's do.
    const domid = 1 + (i % (LIVE + 10));
    const home = `/local/domain/${domid}`;
    const be = `/local/domain/0/backend/vif/${domid}/0`;
    const fe = `${home}/device/vif/0`;
    // The toolstack's creation transaction (libxl__domain_make, the device's).
    const tx = Number(toolstack.req(Op.TRANSACTION_START, [""]).toString("latin1").replace(/\0$/, ""));
    for (const dir of [home, `${home}/device`, be, fe]) {
      toolstack.req(Op.MKDIR, [dir], tx);
      toolstack.req(Op.SET_PERMS, [dir, "n0", `r${domid}`], tx);
    }
    toolstack.req(Op.MKDIR, [`${home}/control`], tx);
    toolstack.req(Op.SET_PERMS, [`${home}/control`, `n${domid}`, "r0"], tx);
    toolstack.write(`${home}/name`, `guest${domid}`, tx);
    toolstack.write(`${home}/domid`, String(domid), tx);
    toolstack.write(`${be}/frontend`, fe, tx);
    toolstack.write(`${be}/state`, "1", tx);
    toolstack.write(`${fe}/backend`, be, tx);
    toolstack.write(`${fe}/state`, "1", tx);
    toolstack.req(Op.TRANSACTION_END, ["T"], tx);
    toolstack.req(Op.INTRODUCE, [String(domid), String(0x100000 + domid), "1"]);
    // The backend driver and the guest's frontend negotiate through watches.
    backend.req(Op.WATCH, [`${be}/state`, "be"]);
    const guest = new ScratchClient(x, "domain", domid);
    guest.req(Op.WATCH, [`${fe}/state`, "fe"]);
    guest.req(Op.READ, [`${home}/name`]);
    guest.req(Op.DIRECTORY, [`${home}/device`]);
    guest.write(`${home}/control/feature-poweroff`, "1");
    guest.req(Op.GET_PERMS, [fe]);
    backend.write(`${be}/state`, "2");
    guest.write(`${fe}/state`, "4");
    backend.write(`${be}/state`, "4");
    guest.req(Op.UNWATCH, [`${fe}/state`, "fe"]);
    backend.req(Op.UNWATCH, [`${be}/state`, "be"]);
    requests += guest.requests;
    guest.close();
    // Guests booted a while ago are read and changed in their packed form.
    if (i % 8 === 7) compactor.pass(x.store.root, 50);
    if (i >= LIVE) {
      const old = 1 + ((i - LIVE) % (LIVE + 10));
      const oldHome = `/local/domain/${old}`;
      toolstack.req(Op.READ, [`${oldHome}/name`]);
      toolstack.write(`${oldHome}/memory-target`, String(i));
      // Destruction: the toolstack removes the trees and releases the domain.
      toolstack.req(Op.RM, [`/local/domain/0/backend/vif/${old}/0`]);
      toolstack.req(Op.RM, [oldHome]);
      toolstack.req(Op.RELEASE, [String(old)]);
    }
  }
  requests += toolstack.requests + backend.requests;
  toolstack.close();
  backend.close();
  return { guests: made, requests, ms: performance.now() - started };
}
