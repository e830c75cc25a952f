/**
 * Raw protocol connections to a live daemon, for the differential harness:
 * send a packet, then collect everything that arrives until its reply.
 */
import { createConnection, type Socket } from "node:net";
import { Op, type Packet } from "../../src/protocol/messages.js";
import { PacketParser } from "../../src/protocol/parser.js";
import { encodePacket } from "../../src/protocol/serializer.js";

export class RawConn {
  private readonly parser = new PacketParser(1 << 20);
  private readonly inbox: Packet[] = [];
  private wake: (() => void) | null = null;
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      try {
        for (const p of this.parser.push(d)) this.inbox.push(p);
      } catch {
        socket.destroy();
      }
      this.wake?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on("error", () => undefined);
  }

  /** Connect; retries while the daemon's listen backlog is full (EAGAIN on Unix sockets). */
  static async open(path: string): Promise<RawConn> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await new Promise((resolve, reject) => {
          const s = createConnection({ path }, () => {
            s.off("error", reject);
            resolve(new RawConn(s));
          });
          s.once("error", reject);
        });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN" || attempt > 200) throw e;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  sendRaw(bytes: Buffer): void {
    if (!this.closed) this.socket.write(bytes);
  }

  send(type: number, reqId: number, txId: number, payload: Buffer): void {
    this.sendRaw(encodePacket(type, reqId, txId, payload));
  }

  /**
   * Packets up to and including the first non-event with `reqId`; null
   * when the connection closed (or nothing came within `timeoutMs`) first.
   * Whatever arrived is still returned through `drain`.
   */
  async until(reqId: number, timeoutMs = 5000): Promise<{ reply: Packet | null; before: Packet[] }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((p) => p.type !== Op.WATCH_EVENT && p.reqId === reqId);
      if (i >= 0) {
        const before = this.inbox.splice(0, i + 1);
        const reply = before.pop()!;
        return { reply, before };
      }
      if (this.closed) return { reply: null, before: this.inbox.splice(0) };
      const left = deadline - Date.now();
      if (left <= 0) return { reply: null, before: this.inbox.splice(0) };
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          r();
        };
      });
    }
  }

  /** Whatever has arrived and not been taken. */
  drain(): Packet[] {
    return this.inbox.splice(0);
  }

  close(): void {
    this.socket.destroy();
  }
}
