/**
 * Many clients over one guest ring, as Linux's /dev/xen/xenbus multiplexes
 * its users (drivers/xen/xenbus/xenbus_dev_frontend.c): each request gets
 * a ring-wide request id and its reply goes back to its client with the
 * client's own id; each watch is registered under a token of its own, and
 * its events go to its client with the client's token; a client that goes
 * away has its watches removed and its transactions ended (aborted).
 */
import { Op, type Packet } from "../protocol/messages.js";
import { PacketParser } from "../protocol/parser.js";
import { encodePacket, joinStrings } from "../protocol/serializer.js";
import { splitStrings } from "../protocol/payload.js";

/** One user of the ring: where its replies and events go. */
export interface MuxClient {
  deliver(packet: Buffer): void;
  /** The client sent something unframeable: close it. */
  kill(): void;
}

interface InFlight {
  readonly client: MuxClient | null;
  readonly reqId: number;
  readonly type: number;
  /** A WATCH's registration, kept only if the daemon accepts it. */
  readonly watch?: WatchEntry | undefined;
  /** The registration an UNWATCH removes, once the daemon has. */
  readonly unwatch?: WatchEntry | undefined;
  readonly txEnd?: number | undefined;
}

interface WatchEntry {
  readonly client: MuxClient;
  readonly path: string;
  readonly token: string;
  readonly ringToken: string;
}

interface ClientState {
  readonly parser: PacketParser;
  readonly watches: Set<WatchEntry>;
  readonly transactions: Set<number>;
}

export class XenbusMux {
  private nextReq = 1;
  private nextWatch = 1;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly watchesByToken = new Map<string, WatchEntry>();
  private readonly clients = new Map<MuxClient, ClientState>();

  /** `send` puts bytes on the ring. */
  constructor(private readonly send: (bytes: Buffer) => void) {}

  attach(client: MuxClient): void {
    this.clients.set(client, { parser: new PacketParser(), watches: new Set(), transactions: new Set() });
  }

  /** Bytes from a client. */
  received(client: MuxClient, chunk: Buffer): void {
    const st = this.clients.get(client);
    if (!st) return;
    let packets: Packet[];
    try {
      packets = st.parser.push(chunk);
    } catch {
      client.kill();
      return;
    }
    for (const p of packets) this.request(client, st, p);
  }

  private ringId(): number {
    const id = this.nextReq;
    this.nextReq = (this.nextReq + 1) >>> 0 || 1;
    return id;
  }

  private request(client: MuxClient, st: ClientState, p: Packet): void {
    const id = this.ringId();
    let payload = p.payload;
    let watch: WatchEntry | undefined;
    let unwatch: WatchEntry | undefined;
    let txEnd: number | undefined;
    if (p.type === Op.WATCH || p.type === Op.UNWATCH) {
      const args = splitStrings(p.payload);
      if (args.length >= 2) {
        const [path, token, ...rest] = args as [string, string, ...string[]];
        let ringToken: string;
        if (p.type === Op.WATCH) {
          ringToken = `${(this.nextWatch++).toString(16).toUpperCase().padStart(16, "0")}`;
          watch = { client, path, token, ringToken };
        } else {
          unwatch = [...st.watches].find((w) => w.path === path && w.token === token);
          // Unknown to us: a token the daemon knows nothing of, so it answers ENOENT.
          ringToken = unwatch ? unwatch.ringToken : `-${token}`;
        }
        payload = joinStrings([path, ringToken, ...rest]);
      }
    } else if (p.type === Op.TRANSACTION_END && p.txId !== 0) {
      txEnd = p.txId;
    }
    this.inFlight.set(id, { client, reqId: p.reqId, type: p.type, watch, unwatch, txEnd });
    this.send(encodePacket(p.type, id, p.txId, payload));
  }

  /** A packet from the ring. */
  fromRing(p: Packet): void {
    if (p.type === Op.WATCH_EVENT) {
      const [path = "", ringToken = ""] = splitStrings(p.payload);
      const w = this.watchesByToken.get(ringToken);
      if (w) w.client.deliver(encodePacket(Op.WATCH_EVENT, 0, 0, joinStrings([path, w.token])));
      return;
    }
    const req = this.inFlight.get(p.reqId);
    if (!req) return;
    this.inFlight.delete(p.reqId);
    const st = req.client ? this.clients.get(req.client) : undefined;
    const ok = p.type !== Op.ERROR;
    if (req.type === Op.WATCH && req.watch && ok && st) {
      st.watches.add(req.watch);
      this.watchesByToken.set(req.watch.ringToken, req.watch);
    } else if (req.unwatch && ok && st) {
      st.watches.delete(req.unwatch);
      this.watchesByToken.delete(req.unwatch.ringToken);
    } else if (req.type === Op.TRANSACTION_START && ok && st) {
      st.transactions.add(Number.parseInt(p.payload.toString("latin1"), 10));
    } else if (req.txEnd !== undefined && st) {
      st.transactions.delete(req.txEnd);
    }
    if (req.client && st) req.client.deliver(encodePacket(p.type, req.reqId, p.txId, p.payload));
  }

  /** A client went away: its watches and transactions go too (Linux xenbus_file_release). */
  detach(client: MuxClient): void {
    const st = this.clients.get(client);
    if (!st) return;
    this.clients.delete(client);
    for (const w of st.watches) {
      this.watchesByToken.delete(w.ringToken);
      const id = this.ringId();
      this.inFlight.set(id, { client: null, reqId: 0, type: Op.UNWATCH });
      this.send(encodePacket(Op.UNWATCH, id, 0, joinStrings([w.path, w.ringToken])));
    }
    for (const tx of st.transactions) {
      const id = this.ringId();
      this.inFlight.set(id, { client: null, reqId: 0, type: Op.TRANSACTION_END });
      this.send(encodePacket(Op.TRANSACTION_END, id, tx, joinStrings(["F"])));
    }
  }
}
