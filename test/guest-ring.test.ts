/**
 * The guest's side of the ring (src/emu/guest-ring.ts) signals as Linux's
 * xenbus does, including in the interleavings where a server on another
 * CPU acts between the guest's index reads: a missed signal leaves the
 * other side waiting for ever.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GuestRing } from "../src/emu/guest-ring.js";
import { xenAddon } from "../src/hypervisor/native.js";
import { memoryRing } from "../src/hypervisor/native-ring.js";
import { Op, type Packet } from "../src/protocol/messages.js";
import { encodePacket } from "../src/protocol/serializer.js";
import { Field, Queue, type RingPage } from "../src/transport/ring/page.js";
import { ringsUnavailable } from "./helpers/ring-host.js";

const skip = ringsUnavailable() ?? false;

/** A page whose response-queue reads first let `during` run (the server, meanwhile). */
function interleaved(page: RingPage, during: () => void): RingPage {
  let once = true;
  return {
    consume: (q, max) => {
      const waiting = page.waiting(q);
      if (q === Queue.Responses && once) {
        once = false;
        during();
      }
      return page.consume(q, Math.min(max, waiting));
    },
    peek: (q, from, max) => page.peek(q, from, max),
    produce: (q, d) => page.produce(q, d),
    waiting: (q) => page.waiting(q),
    get: (f) => page.get(f),
    set: (f, v) => page.set(f, v),
    release: () => page.release(),
  };
}

test("a server that fills the response ring while the guest takes a chunk is signalled (xb_read reads the producer again)", { skip }, () => {
  const page = memoryRing(xenAddon()!, Buffer.alloc(4096));
  const reply = encodePacket(Op.READ, 1, 0, Buffer.from("x".repeat(1500)));
  // The server has 600 bytes of an earlier reply queued (its first 600 bytes).
  const first = encodePacket(Op.WRITE, 7, 0, Buffer.from("y".repeat(600 - 16)));
  assert.equal(page.produce(Queue.Responses, first), 600);
  let rest = reply;
  let signals = 0;
  const got: Packet[] = [];
  const ring = new GuestRing(
    // While the guest copies those 600 bytes, the server fills the ring with the start of the next reply.
    interleaved(page, () => {
      const n = page.produce(Queue.Responses, rest);
      rest = rest.subarray(n);
    }),
    () => signals++,
    (p) => got.push(p),
  );
  ring.take();
  assert.ok(signals >= 1, "the guest told the server there is room");
  // The server goes on with the rest when signalled.
  while (rest.length) {
    rest = rest.subarray(page.produce(Queue.Responses, rest));
    ring.take();
  }
  assert.deepEqual(
    got.map((p) => [Op[p.type], p.reqId, p.payload.length]),
    [
      ["WRITE", 7, 584],
      ["READ", 1, 1500],
    ],
  );
  assert.equal(page.get(Field.RspCons), page.get(Field.RspProd));
});

test("a guest signals a request only if the server had consumed everything before it (xb_write)", { skip }, () => {
  const page = memoryRing(xenAddon()!, Buffer.alloc(4096));
  let signals = 0;
  const ring = new GuestRing(page, () => signals++, () => {});
  ring.send(encodePacket(Op.READ, 1, 0, Buffer.from("a\0")));
  assert.equal(signals, 1, "an empty ring: signalled");
  ring.send(encodePacket(Op.READ, 2, 0, Buffer.from("b\0")));
  assert.equal(signals, 1, "the server has not read the first: no signal");
  page.set(Field.ReqCons, page.get(Field.ReqProd));
  ring.send(encodePacket(Op.READ, 3, 0, Buffer.from("c\0")));
  assert.equal(signals, 2, "caught up: signalled");
});
