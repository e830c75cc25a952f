/**
 * The guest's side of a xenstore ring, as a Linux guest kernel drives it
 * (drivers/xen/xenbus/xenbus_comms.c): requests go into the request queue
 * as space allows, signalling only when the server had consumed
 * everything before (`xb_write`); replies and events are taken from the
 * response queue in contiguous chunks, signalling when the queue was full
 * once the chunk is taken (`xb_read`). Packets are framed and handed on whole.
 */
import type { Packet } from "../protocol/messages.js";
import { PacketParser } from "../protocol/parser.js";
import { Field, Queue, RING_SIZE, type RingPage } from "../transport/ring/page.js";

export class GuestRing {
  private readonly parser = new PacketParser();
  private readonly pending: Buffer[] = [];
  private broken = false;
  /** Whether the guest takes what the server sends (a guest may stop, as a hostile one does). */
  reading = true;

  constructor(
    private readonly page: RingPage,
    private readonly signal: () => void,
    private readonly onPacket: (p: Packet) => void,
    private readonly onBroken: (why: string) => void = () => {},
  ) {}

  /** Queue bytes for the server; they go into the ring as space allows. */
  send(bytes: Buffer): void {
    this.pending.push(bytes);
    this.push();
  }

  /** The server signalled: take what it sent, then send what waits. */
  onEvent(): void {
    if (this.reading) this.take();
    this.push();
  }

  /** Bytes still waiting for room in the ring. */
  get waiting(): number {
    let n = 0;
    for (const b of this.pending) n += b.length;
    return n;
  }

  /** Move what fits into the request queue (`xb_write`). */
  push(): void {
    while (!this.broken && this.pending.length) {
      const head = this.pending[0]!;
      const prod = this.page.get(Field.ReqProd);
      const n = this.page.produce(Queue.Requests, head);
      if (n < 0) return this.fail("inconsistent request ring indexes");
      if (n === 0) break;
      if (n === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(n);
      if (prod <= this.page.get(Field.ReqCons)) this.signal();
    }
  }

  /** Take what the response queue holds (`xb_read`). */
  take(): void {
    while (!this.broken) {
      const waiting = this.page.waiting(Queue.Responses);
      if (waiting < 0) return this.fail("inconsistent response ring indexes");
      if (waiting === 0) return;
      const cons = this.page.get(Field.RspCons);
      const data = this.page.consume(Queue.Responses, Math.min(waiting, RING_SIZE - (cons % RING_SIZE)));
      if (data === null) return this.fail("inconsistent response ring indexes");
      // As xb_read: the producer index read again after our consumer index went
      // out, so a server that filled the ring meanwhile (and waits for room) is told.
      if (((this.page.get(Field.RspProd) - cons) >>> 0) >= RING_SIZE) this.signal();
      let packets: Packet[];
      try {
        packets = this.parser.push(data);
      } catch {
        return this.fail("a reply longer than 4096 bytes");
      }
      for (const p of packets) this.onPacket(p);
    }
  }

  private fail(why: string): void {
    this.broken = true;
    this.onBroken(why);
  }
}
