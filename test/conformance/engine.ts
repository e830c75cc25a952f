/**
 * The differential engine: drive a reference daemon (cx or ox) and
 * tsxenstored with identical request streams over several connections and
 * compare every reply and every watch event, step by step.
 *
 * Event capture is deterministic without sleeping: after each step every
 * connection sends a sentinel request (GET_DOMAIN_PATH, which changes
 * nothing) and the events that arrive before its reply belong to the step.
 */
import { Op, type Packet } from "../../src/protocol/messages.js";
import { RawConn } from "./driver.js";

export interface Step {
  /** Connection index. */
  conn: number;
  type: number;
  payload: Buffer;
  /** Transaction: a literal id, or the index of the step that started it. */
  tx?: number | { ref: number };
  /** Send these bytes verbatim instead of a framed request (no reply expected beyond a close). */
  raw?: Buffer;
  /** Not a request: something the host does to a guest (emulated hosts only). */
  action?: GuestAction;
  note?: string;
}

/** A guest's domain is destroyed (and released by the daemon), or made again with the same domid. */
export interface GuestAction {
  readonly kind: "destroy" | "restart";
}

export interface Daemon {
  readonly name: string;
  /** dom0's socket. */
  readonly socket: string;
  /** Where connection `i` talks (a guest's socket, in an emulated host); default `socket`. */
  socketFor?(i: number): string;
  /** Carry out a guest action on connection `i`'s guest; resolves once the daemon has seen it. */
  act?(i: number, action: GuestAction): Promise<void>;
  stop(): Promise<void>;
}

export type Launcher = () => Promise<Daemon>;

/** What one daemon did in one step. */
export interface Observation {
  reply: string;
  /** Events per connection, "path|token". */
  events: string[][];
}

const SENTINEL = Buffer.from("0\0", "latin1");
const BOGUS_TX = 0x7eadbeef;

export function formatPayload(p: Buffer): string {
  let out = "";
  for (const b of p) out += b === 0 ? "|" : b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
  return out;
}

/** A reply as compared; a tx_id that does not echo the request's (`sentTx`) shows. */
export function formatReply(p: Packet, sentTx?: number): string {
  let body = formatPayload(p.payload);
  // The DIRECTORY_PART generation is opaque: only its presence is compared.
  if (p.type === Op.DIRECTORY_PART) body = body.replace(/^\d+\|/, "<gen>|");
  const tx = sentTx !== undefined && p.txId !== sentTx ? ` <tx_id ${p.txId}, sent ${sentTx}>` : "";
  return `${Op[p.type] ?? p.type} ${body}${tx}`;
}

/** An event as compared (with its header's req_id and tx_id when not zero). */
function formatEvent(p: Packet): string {
  const ids = p.reqId !== 0 || p.txId !== 0 ? ` <req_id ${p.reqId} tx_id ${p.txId}>` : "";
  return formatPayload(p.payload).replace(/\|$/, "") + ids;
}

/** Events, and any reply nobody asked for (which must not exist), in arrival order. */
function unsolicited(packets: Packet[]): string[] {
  return packets.map((p) => (p.type === Op.WATCH_EVENT ? formatEvent(p) : `STRAY ${formatReply(p)}`));
}

/** One daemon with N open connections, and the transaction ids its steps got. */
export class Session {
  readonly conns: RawConn[] = [];
  private nextReq = 1000;
  /** Step index → transaction id this daemon returned. */
  readonly txIds = new Map<number, number>();

  private constructor(readonly daemon: Daemon) {}

  static async open(daemon: Daemon, n: number): Promise<Session> {
    const s = new Session(daemon);
    for (let i = 0; i < n; i++) s.conns.push(await RawConn.open(s.socketOf(i)));
    return s;
  }

  resolveTx(tx: Step["tx"]): number {
    if (tx === undefined) return 0;
    if (typeof tx === "number") return tx;
    return this.txIds.get(tx.ref) ?? BOGUS_TX;
  }

  private socketOf(i: number): string {
    return this.daemon.socketFor?.(i) ?? this.daemon.socket;
  }

  /** A closed connection is reopened when a step uses it again (on both daemons alike). */
  private async conn(i: number): Promise<RawConn> {
    if (this.conns[i]!.closed) this.conns[i] = await RawConn.open(this.socketOf(i));
    return this.conns[i]!;
  }

  async run(step: Step, index: number): Promise<Observation> {
    const events: string[][] = this.conns.map(() => []);
    if (step.action) {
      if (!this.daemon.act) throw new Error(`${this.daemon.name} has no guests to act on`);
      await this.daemon.act(step.conn, step.action);
      if (step.action.kind === "restart") this.conns[step.conn]!.close();
      await this.collect(events);
      return { reply: `${step.action.kind} done`, events };
    }
    const c = await this.conn(step.conn);
    const reqId = this.nextReq++;
    let reply: string;
    if (step.raw) {
      // The bytes, then a sentinel on the same connection: every reply the
      // bytes caused comes before the sentinel's, unless the daemon closed.
      c.sendRaw(step.raw);
      c.send(Op.GET_DOMAIN_PATH, reqId, 0, SENTINEL);
      const r = await c.until(reqId);
      const replies = r.before.filter((p) => p.type !== Op.WATCH_EVENT).map((p) => formatReply(p));
      reply = [...replies, r.reply ? "" : c.closed ? "CLOSED" : "TIMEOUT"].filter(Boolean).join(" ; ") || "NO-REPLY";
      events[step.conn]!.push(...r.before.filter((p) => p.type === Op.WATCH_EVENT).map(formatEvent));
    } else {
      const sentTx = this.resolveTx(step.tx);
      c.send(step.type, reqId, sentTx, step.payload);
      const r = await c.until(reqId);
      if (!r.reply) reply = c.closed ? "CLOSED" : "TIMEOUT";
      else {
        reply = formatReply(r.reply, sentTx);
        if (step.type === Op.TRANSACTION_START && r.reply.type === Op.TRANSACTION_START) {
          this.txIds.set(index, Number(r.reply.payload.toString("latin1").replace(/\0.*$/s, "")));
        }
      }
      events[step.conn]!.push(...unsolicited(r.before));
    }
    await this.collect(events);
    return { reply, events };
  }

  /** Sentinel round: attribute every event still in flight to the current step. */
  async collect(events: string[][]): Promise<void> {
    await Promise.all(
      this.conns.map(async (c, i) => {
        if (c.closed) return;
        const id = this.nextReq++;
        c.send(Op.GET_DOMAIN_PATH, id, 0, SENTINEL);
        const r = await c.until(id);
        events[i]!.push(...unsolicited(r.before));
      }),
    );
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}

/** Everything in a tree, for comparing final states: "path = value (perms)" lines in order. */
export async function dumpTree(socket: string, root = "/"): Promise<string[]> {
  const c = await RawConn.open(socket);
  let id = 1;
  const ask = async (type: number, path: string): Promise<Packet | null> => {
    const rid = id++;
    c.send(type, rid, 0, Buffer.from(`${path}\0`, "latin1"));
    return (await c.until(rid)).reply;
  };
  const out: string[] = [];
  const stack = [root];
  while (stack.length) {
    const path = stack.pop()!;
    const v = await ask(Op.READ, path);
    const p = await ask(Op.GET_PERMS, path);
    const d = await ask(Op.DIRECTORY, path);
    out.push(`${path} = ${v ? formatReply(v) : "?"} (${p ? formatReply(p) : "?"})`);
    if (d && d.type === Op.DIRECTORY) {
      const kids = d.payload.toString("latin1").split("\0").filter(Boolean);
      out.push(`${path} children: ${kids.join(",")}`);
      for (let i = kids.length - 1; i >= 0; i--) stack.push(path === "/" ? `/${kids[i]}` : `${path}/${kids[i]}`);
    }
  }
  c.close();
  return out;
}
