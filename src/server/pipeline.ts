/**
 * The request pipeline: bytes from a connection's transport are framed
 * into packets, held while the client is not to be served (its output is
 * full, or it has too many requests outstanding), processed one at a time
 * (reply first, then the watch events the request raised), and flushed to
 * the transports once per batch.
 *
 * Fairness: a connection is served at most `BATCH` requests per turn; the
 * rest waits for its next turn, after every other connection with input
 * has had one, so one flooding client delays only itself.
 */
import { HEADER_SIZE, Op, PAYLOAD_MAX, XsError, opName, type Packet, type XsErrno } from "../protocol/messages.js";
import { OversizePacketError, PacketParser } from "../protocol/parser.js";
import { encode } from "../protocol/serializer.js";
import { absolutize } from "../store/path.js";
import type { Connection } from "./connection.js";
import { decode, dispatch, type DecodedRequest } from "./dispatch.js";
import type { Services } from "./services.js";

/** cx keeps replies up to this size in the request's buffer, without a memory quota check. */
const SMALL_REPLY = 16;
const ENOMEM_REPLY = Buffer.from("ENOMEM\0", "latin1");

/** Requests served per connection per turn. */
const BATCH = 256;
/**
 * Requests a connection may have waiting before we stop reading it: its
 * further input stays in the kernel (a socket buffer, a ring), so a client
 * sending faster than it is served costs the daemon a bounded amount.
 */
const MAX_WAITING = 4 * BATCH;

/** What the pipeline sends a trace (-T). */
export type TraceHook = (conn: Connection, direction: "IN" | "OUT", packet: Packet) => void;

export interface PipelineOptions {
  trace?: TraceHook | undefined;
  /** Hot-node contention management (on by default). */
  manageContention?: boolean;
  /** Seconds an unsent watch event to an unprivileged domain is kept (cx -w watch-event); 0: for ever. */
  watchEventTimeout?: number;
  /**
   * Unread output a privileged client may have queued before it is cut
   * off: bytes and packets. (Unprivileged domains are bounded by their
   * quotas and the watch-event timeout instead.)
   */
  outputLimit?: { bytes: number; packets: number };
}

export const DEFAULT_OUTPUT_LIMIT = { bytes: 8 * 1024 * 1024, packets: 65536 };

interface Held {
  readonly packet: Packet;
  decoded?: DecodedRequest | null;
}

interface InputState {
  readonly parser: PacketParser;
  readonly inbox: Held[];
  /** Index of the next request in `inbox`. */
  next: number;
  /** The client sent an oversize header: close once the requests before it are done. */
  closing: boolean;
  /** Input delivery is stopped (the client is not being served). */
  paused: boolean;
}

export class Pipeline {
  private readonly inputs = new Map<Connection, InputState>();
  /** Connections with queued output to flush after the current batch. */
  private readonly dirty = new Set<Connection>();
  /** Connections with input left after their turn, in turn order. */
  private readonly turns = new Set<Connection>();
  private turnScheduled = false;
  /** Shutting down: nothing more is processed. */
  private stopped = false;
  /** Connections holding events that expire, and the timer that expires them. */
  private readonly timed = new Set<Connection>();
  /** Unprivileged connections not served because their domain is over its hard memory quota. */
  private readonly stalled = new Set<Connection>();
  /** Domains over their soft memory quota, with when that was last logged (cx logs at most every 10 s). */
  private readonly softReported = new Map<number, number>();
  private expiryTimer: NodeJS.Timeout | null = null;
  private readonly trace: TraceHook | undefined;
  private readonly manageContention: boolean;
  private readonly eventTimeoutMs: number;
  private readonly outputLimit: { bytes: number; packets: number };

  constructor(
    private readonly svc: Services,
    opts: PipelineOptions = {},
  ) {
    this.trace = opts.trace;
    this.manageContention = opts.manageContention ?? true;
    this.eventTimeoutMs = (opts.watchEventTimeout ?? 20) * 1000;
    this.outputLimit = opts.outputLimit ?? DEFAULT_OUTPUT_LIMIT;
    svc.connections.onClose((c) => {
      this.inputs.delete(c);
      this.dirty.delete(c);
      this.turns.delete(c);
      this.timed.delete(c);
      this.stalled.delete(c);
    });
  }

  /**
   * Start framing a connection's input; `held` is input carried over from
   * a state dump, held until the connection next gets a turn.
   */
  attach(conn: Connection, held?: Buffer): void {
    const st: InputState = { parser: new PacketParser(), inbox: [], next: 0, closing: false, paused: false };
    this.inputs.set(conn, st);
    if (!held) return;
    let packets: Packet[];
    try {
      packets = st.parser.push(held);
    } catch (e) {
      if (!(e instanceof OversizePacketError)) throw e;
      packets = e.parsed;
      st.closing = true;
    }
    for (const p of packets) st.inbox.push({ packet: p });
  }

  /** A connection's unprocessed input as bytes: held requests, then a partial packet (state dump). */
  heldInput(conn: Connection): Buffer {
    const st = this.inputs.get(conn);
    if (!st) return Buffer.alloc(0);
    const parts = st.inbox.slice(st.next).map((h) => encode(h.packet));
    parts.push(st.parser.pendingBytes());
    return Buffer.concat(parts);
  }

  /** Serve a connection whose input was restored. */
  resume(conn: Connection): void {
    this.pump(conn);
  }

  /** Bytes arrived from a client: frame them and process what is complete. */
  receive(conn: Connection, chunk: Buffer): void {
    const st = this.inputs.get(conn);
    if (!st || st.closing) return;
    let packets: Packet[];
    try {
      packets = st.parser.push(chunk);
    } catch (e) {
      if (!(e instanceof OversizePacketError)) throw e;
      // cx: a client announcing more than 4096 bytes is dropped (only it),
      // after carrying out the requests it sent before that header.
      this.svc.log(`connection ${conn.seq}: ${e.message}; closing it`);
      this.svc.notices.emit("warn", "connection-closed", { conn: conn.seq, kind: conn.kind, domid: conn.domid, reason: "oversize-packet", detail: e.message });
      packets = e.parsed;
      st.closing = true;
    }
    for (const p of packets) st.inbox.push({ packet: p });
    this.pump(conn);
  }

  /** The transport can take output again: resume processing held input. */
  drained(conn: Connection): void {
    if (!this.inputs.has(conn)) return;
    conn.unblock();
    // What went out may be what held the client back (its outstanding replies).
    conn.flush();
    this.pump(conn);
  }

  /** Let a connection go on (a contention wait ended). */
  wake(conn: Connection): void {
    this.pump(conn);
  }

  /** Requests waiting because the client is not being served. */
  held(conn: Connection): number {
    const st = this.inputs.get(conn);
    return st ? st.inbox.length - st.next : 0;
  }

  /** Shutting down: process nothing more (what is already queued still goes out). */
  stop(): void {
    this.stopped = true;
  }

  /** Shutting down: hand every connection's held output to its transport, however full. */
  releaseHeldOutput(): void {
    for (const c of this.svc.connections) {
      c.unblock();
      c.flush();
    }
  }

  /**
   * Is the client not to be served now? A privileged client (a socket, or
   * dom0's ring) is not while its transport is full; an unprivileged
   * domain is not while it has `outstanding` replies and events queued
   * (cx `domain_can_read`), whether or not its ring has room.
   */
  private blocked(conn: Connection): boolean {
    if (conn.privileged) return conn.writeBlocked;
    const q = this.svc.quotas.limit("outstanding", conn.domid);
    if (q !== 0 && conn.output.packets >= q) {
      // cx writes each reply as it goes: what fits in the ring is not outstanding.
      conn.flush();
      if (conn.output.packets >= q) return true;
    }
    if (this.overMemory(conn.domid, 0)) {
      if (!this.stalled.has(conn)) {
        this.stalled.add(conn);
        this.svc.stats.memoryStalls++;
        this.svc.log(`Domain ${conn.domid} exceeds hard memory quota, Xenstore interface to domain stalled`);
        this.quotaHit(conn.domid, "stalled");
      }
      return true;
    }
    return false;
  }

  /**
   * Would an unprivileged domain with `more` bytes be at or over its hard
   * memory quota (cx `domain_chk_quota`)? Also logs the soft quota.
   */
  private overMemory(domid: number, more: number): boolean {
    const { quotas, memory, log } = this.svc;
    const hard = quotas.limit("memory", domid);
    const soft = quotas.limit("memory", domid, "soft");
    if (hard === 0 && soft === 0) return false;
    const used = memory.of(domid) + more;
    if (soft !== 0) {
      const last = this.softReported.get(domid);
      if (used >= soft && last === undefined) {
        this.softReported.set(domid, Date.now());
        log(`Domain ${domid} exceeds soft memory quota`);
        this.svc.notices.emit("warn", "quota-hit", { domid, quota: "memory", kind: "soft", limit: soft, used, action: "warned" });
      } else if (used < soft && last !== undefined && Date.now() - last >= 10_000) {
        this.softReported.delete(domid);
        log(`Domain ${domid} below soft memory quota again`);
      }
    }
    return hard !== 0 && used >= hard;
  }

  /** A domain reached its hard memory quota; `action`: what it cost the domain. */
  private quotaHit(domid: number, action: string): void {
    const { notices, quotas, memory } = this.svc;
    if (notices.heard) notices.emit("warn", "quota-hit", { domid, quota: "memory", kind: "hard", limit: quotas.limit("memory", domid), used: memory.of(domid), action });
  }

  /** Process queued requests while the client keeps up, for one turn; then flush output. */
  private pump(conn: Connection): void {
    const st = this.inputs.get(conn);
    if (!st || this.stopped) return;
    const { connections } = this.svc;
    // Everything a read delivered is processed before output is flushed:
    // one write per connection per batch, not per request.
    let served = 0;
    while (st.next < st.inbox.length && !this.blocked(conn) && connections.has(conn)) {
      if (served === BATCH) {
        this.laterTurn(conn);
        break;
      }
      const held = st.inbox[st.next]!;
      held.decoded ??= decode(held.packet);
      if (this.mustWait(conn, held)) break;
      st.next++;
      this.process(conn, held.packet, held.decoded);
      served++;
    }
    if (st.next === st.inbox.length) {
      st.inbox.length = 0;
      st.next = 0;
    } else if (st.next > BATCH) {
      st.inbox.splice(0, st.next);
      st.next = 0;
    }
    // After an oversize header: as cx, the requests before it take effect
    // but the connection is gone before their replies go out.
    if (st.closing && st.next === st.inbox.length) connections.disconnect(conn, "protocol");
    // A client we do not serve, or that is far ahead of us, keeps its
    // further input (in its socket buffer, or its ring).
    const waiting = st.inbox.length - st.next;
    const pause = waiting > 0 && (this.blocked(conn) || waiting >= MAX_WAITING);
    if (pause !== st.paused && connections.has(conn)) {
      st.paused = pause;
      conn.setReceiving(!pause);
    }
    this.flushAll();
  }

  private laterTurn(conn: Connection): void {
    this.turns.add(conn);
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => {
      this.turnScheduled = false;
      const now = [...this.turns];
      this.turns.clear();
      for (const c of now) this.pump(c);
    });
  }

  /** Is this a transaction's first read of a hot node another transaction holds? */
  private mustWait(conn: Connection, held: Held): boolean {
    const d = held.decoded;
    if (!this.manageContention || !d || d.op !== Op.READ || held.packet.txId === 0) return false;
    const tx = conn.transactions.get(held.packet.txId);
    if (!tx || d.args === null || d.args.startsWith("@")) return false;
    const path = absolutize(d.args, conn.home);
    if (tx.hasAccessed(path)) return false;
    return this.svc.contention.mustWait(conn, tx, path);
  }

  /** Handle one request: reply first, then the events it caused. */
  process(conn: Connection, packet: Packet, decoded: DecodedRequest | null = decode(packet)): void {
    const { svc } = this;
    const { counters } = svc;
    const started = counters.sample() ? performance.now() : 0;
    svc.stats.requests++;
    conn.requests++;
    this.trace?.(conn, "IN", packet);
    let type: number = packet.type;
    let payload: Buffer;
    let errno: XsErrno | null = null;
    try {
      payload = dispatch(svc, conn, packet, decoded);
      if (payload.length > PAYLOAD_MAX) throw new XsError("E2BIG");
    } catch (e) {
      svc.events.discard();
      if (!(e instanceof XsError)) {
        // A handler bug must never take the daemon down: answer EIO (as ox).
        svc.log(`internal error handling ${opName(packet.type)}: ${(e as Error).stack ?? e}`);
        svc.notices.emit("error", "internal-error", { conn: conn.seq, domid: conn.domid, op: opName(packet.type), error: String((e as Error).stack ?? e) });
      }
      type = Op.ERROR;
      errno = e instanceof XsError ? e.errno : "EIO";
      payload = Buffer.from(`${errno}\0`, "latin1");
    }
    if (!svc.connections.has(conn)) {
      counters.count(packet.type, errno);
      return; // released itself
    }
    // A larger reply to a domain over its memory quota is refused (cx send_reply).
    if (!conn.privileged && payload.length > SMALL_REPLY && this.overMemory(conn.domid, HEADER_SIZE + payload.length)) {
      type = Op.ERROR;
      errno = "ENOMEM";
      payload = ENOMEM_REPLY;
      this.quotaHit(conn.domid, "reply-refused");
    }
    counters.count(packet.type, errno);
    if (started) counters.time(packet.type, performance.now() - started);
    conn.queueReply(type, packet.reqId, packet.txId, payload);
    this.dirty.add(conn);
    this.trace?.(conn, "OUT", { type, reqId: packet.reqId, txId: packet.txId, payload });
    this.deliverRaised();
  }

  /** After a change made outside any request (a domain died): its events go out now. */
  settle(): void {
    this.deliverRaised();
    this.flushAll();
  }

  /** Queue the events raised so far to their watchers (after the reply that raised them). */
  deliverRaised(): void {
    const { svc } = this;
    if (!svc.events.pending) return;
    const now = this.eventTimeoutMs ? performance.now() : 0;
    for (const ev of svc.events.take()) {
      const owner = ev.owner;
      if (!svc.connections.has(owner)) continue;
      const deadline = this.eventTimeoutMs && !owner.privileged ? now + this.eventTimeoutMs : 0;
      // An event that would take a domain over its memory quota is dropped (cx send_event).
      if (!owner.privileged && this.overMemory(owner.domid, HEADER_SIZE + ev.key.length + 1)) {
        svc.stats.eventsDropped++;
        this.quotaHit(owner.domid, "event-dropped");
        continue;
      }
      if (!owner.queueEvent(ev.key, ev.special, deadline)) {
        svc.stats.eventsDropped++;
        continue;
      }
      svc.stats.events++;
      svc.events.delivered(owner, ev.key);
      this.dirty.add(owner);
      if (deadline) this.expireLater(owner);
      this.trace?.(owner, "OUT", { type: Op.WATCH_EVENT, reqId: 0, txId: 0, payload: Buffer.from(`${ev.key}\0`, "latin1") });
    }
  }

  /** Flush every connection with new output; cut off privileged clients far behind. */
  flushAll(): void {
    const { connections, stats } = this.svc;
    // Domains back under their memory quota are served again.
    for (const c of this.stalled) {
      if (this.overMemory(c.domid, 0)) continue;
      this.stalled.delete(c);
      this.svc.log(`Domain ${c.domid} below hard memory quota again`);
      this.laterTurn(c);
    }
    for (const c of this.dirty) {
      c.flush();
      if (c.privileged && (c.output.bytes > this.outputLimit.bytes || c.output.packets > this.outputLimit.packets)) {
        this.svc.log(
          `connection ${c.seq} (${c.kind} of domain ${c.domid}) closed: ${c.output.packets} replies and events (${c.output.bytes} bytes) not read`,
        );
        stats.cutOff++;
        this.svc.notices.emit("warn", "connection-closed", {
          conn: c.seq,
          kind: c.kind,
          domid: c.domid,
          reason: "output-overflow",
          detail: `${c.output.packets} replies and events (${c.output.bytes} bytes) not read`,
        });
        connections.disconnect(c, "overrun");
      }
    }
    this.dirty.clear();
  }

  /** Make sure the events queued to `conn` with a deadline are dropped once it passes. */
  private expireLater(conn: Connection): void {
    this.timed.add(conn);
    if (this.expiryTimer) return;
    this.expiryTimer = setInterval(() => this.expire(), Math.min(1000, this.eventTimeoutMs)).unref();
  }

  private expire(): void {
    const now = performance.now();
    for (const c of this.timed) {
      const before = c.output.dropped;
      if (c.output.expire(now) === 0) this.timed.delete(c);
      this.svc.stats.eventsDropped += c.output.dropped - before;
    }
    if (this.timed.size === 0 && this.expiryTimer) {
      clearInterval(this.expiryTimer);
      this.expiryTimer = null;
    }
  }
}
