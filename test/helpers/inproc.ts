/**
 * In-process harness: a daemon with fake transports, so a test sends one
 * request and synchronously gets back exactly the packets it produced, for
 * the requesting connection and every other one. Deterministic: no sockets,
 * no timers.
 */
import assert from "node:assert/strict";
import { EmulatedHypervisor } from "../../src/hypervisor/emulated.js";
import { decodeState, RecordType } from "../../src/state/stream.js";
import { Op, type Packet } from "../../src/protocol/messages.js";
import { PacketParser } from "../../src/protocol/parser.js";
import { encodePacket, joinStrings } from "../../src/protocol/serializer.js";
import { Quotas } from "../../src/quota/quotas.js";
import type { Connection } from "../../src/server/connection.js";
import type { Transport } from "../../src/transport/transport.js";
import { Xenstored, type XenstoredOptions } from "../../src/server/xenstored.js";

export interface Reply {
  type: number;
  reqId: number;
  txId: number;
  /** Payload as latin1 text (NULs kept). */
  body: string;
}

export interface Event {
  path: string;
  token: string;
}

function toReply(p: Packet): Reply {
  return { type: p.type, reqId: p.reqId, txId: p.txId, body: p.payload.toString("latin1") };
}

/** One client connection with everything the daemon sent it. */
export class Probe {
  readonly received: Reply[] = [];
  private readonly parser = new PacketParser(1 << 20);
  private nextReq = 1;
  closed = false;
  /** The peer stopped reading: its transport takes nothing, output waits in the daemon. */
  full = false;
  readonly conn: Connection;

  constructor(
    readonly x: Xenstored,
    open: (t: Transport) => Connection,
  ) {
    this.conn = open({
      write: (d) => {
        if (this.full) return 0;
        this.received.push(...this.parser.push(d).map(toReply));
        return d.length;
      },
      close: () => {
        this.closed = true;
      },
    });
  }

  /** The peer reads again: what waited in the daemon arrives. */
  drain(): Reply[] {
    const before = this.received.length;
    this.full = false;
    this.x.pipeline.drained(this.conn);
    return this.received.slice(before);
  }

  /** Send raw bytes; returns what arrived on this connection as a result. */
  raw(bytes: Buffer): Reply[] {
    const before = this.received.length;
    this.x.pipeline.receive(this.conn, bytes);
    return this.received.slice(before);
  }

  /** Send one request; returns every packet this connection got because of it. */
  send(type: number, payload: Buffer | string | readonly string[], txId = 0, reqId?: number): Reply[] {
    const body = Buffer.isBuffer(payload) ? payload : typeof payload === "string" ? Buffer.from(payload, "latin1") : joinStrings(payload);
    const id = reqId ?? this.nextReq++;
    return this.raw(encodePacket(type, id, txId, body));
  }

  /** Send one request and return just its reply as "TYPE body" text, e.g. "READ v" or "ERROR ENOENT". */
  req(type: number, args: readonly string[] | string | Buffer, txId = 0): string {
    const got = this.send(type, args, txId).filter((r) => r.type !== Op.WATCH_EVENT);
    if (got.length !== 1) throw new Error(`expected one reply, got ${got.length}`);
    return describe(got[0]!);
  }

  /** Watch events received so far (and forget them). */
  events(): Event[] {
    const ev: Event[] = [];
    const rest: Reply[] = [];
    for (const r of this.received) {
      if (r.type === Op.WATCH_EVENT) {
        const [path = "", token = ""] = r.body.split("\0");
        ev.push({ path, token });
      } else rest.push(r);
    }
    this.received.length = 0;
    this.received.push(...rest);
    return ev;
  }

  /** Convenience wrappers returning the reply text. */
  read(path: string, tx = 0): string {
    return this.req(Op.READ, [path], tx);
  }
  write(path: string, value: string, tx = 0): string {
    return this.req(Op.WRITE, Buffer.from(`${path}\0${value}`, "latin1"), tx);
  }
  mkdir(path: string, tx = 0): string {
    return this.req(Op.MKDIR, [path], tx);
  }
  rm(path: string, tx = 0): string {
    return this.req(Op.RM, [path], tx);
  }
  dir(path: string, tx = 0): string {
    return this.req(Op.DIRECTORY, [path], tx);
  }
  perms(path: string, tx = 0): string {
    return this.req(Op.GET_PERMS, [path], tx);
  }
  setPerms(path: string, perms: readonly string[], tx = 0): string {
    return this.req(Op.SET_PERMS, [path, ...perms], tx);
  }
  watch(path: string, token: string): string {
    return this.req(Op.WATCH, [path, token]);
  }
  unwatch(path: string, token: string): string {
    return this.req(Op.UNWATCH, [path, token]);
  }
  /** Start a transaction and return its id. */
  start(): number {
    const r = this.req(Op.TRANSACTION_START, [""]);
    const m = /^TRANSACTION_START (\d+)\0$/.exec(r);
    if (!m) throw new Error(`TRANSACTION_START failed: ${r}`);
    return Number(m[1]);
  }
  end(tx: number, commit = true): string {
    return this.req(Op.TRANSACTION_END, [commit ? "T" : "F"], tx);
  }
}

/** "READ value\0..." style text for a reply. */
export function describe(r: Reply): string {
  return `${Op[r.type] ?? r.type} ${r.body}`;
}

export interface Harness {
  x: Xenstored;
  /** A dom0 Unix-socket client. */
  socket(readonly?: boolean): Probe;
  /** A guest domain's connection (introduces the domain first unless told not to). */
  domain(domid: number, opts?: { introduce?: boolean }): Probe;
}

export function harness(opts: Partial<XenstoredOptions> & { domains?: string } = {}): Harness {
  const x = new Xenstored({
    hypervisor: opts.hypervisor ?? new EmulatedHypervisor(opts.domains ?? null),
    quotas: opts.quotas ?? new Quotas(),
    // Replies here are synchronous; contention management defers some (see contention tests).
    contention: false,
    ...opts,
  });
  return {
    x,
    socket: (readonly = false) => new Probe(x, (t) => x.connect("socket", 0, t, readonly)),
    domain: (domid, o = {}) => {
      // Recorded as introduced without INTRODUCE's reset and event.
      if (o.introduce !== false && !x.domains.introduced(domid)) x.store.commit({ effects: [{ kind: "introduce", domid, mfn: "0", port: 1 }] }, HARNESS_META);
      return new Probe(x, (t) => x.connect("domain", domid, t));
    },
  };
}

/** Commits the harness makes itself (introducing a test's domains). */
const HARNESS_META = { domid: 0, conn: 0, op: "harness", txId: 0 };

export { encodePacket, Op };

/**
 * QEMU's `check_serdes`: the daemon's whole state survives a dump and a
 * restore into a fresh daemon unchanged (the listing generation, a
 * process-wide counter, aside).
 */
export function assertRoundTrip(x: Xenstored, what = "state round trip"): void {
  const normal = (dump: Buffer): unknown[] => decodeState(dump).map((r) => (r.type === RecordType.Global ? { ...r, listingGeneration: 0 } : r));
  const dump = x.dump();
  const fresh = new Xenstored({ hypervisor: x.domains.hypervisor, privDomid: x.domains.privDomid, masterDomid: x.domains.masterDomid, contention: false });
  fresh.restore(dump, () => ({ write: (d) => d.length, close: () => undefined }));
  assert.deepEqual(normal(fresh.dump()), normal(dump), what);
}
