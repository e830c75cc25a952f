/**
 * The Xen addon's ring code (native/xen.c) over ordinary memory: the
 * copies both ways, wrap-around of the free-running indexes, the index
 * check (prod - cons > 1024 is refused), the signalling fields, and
 * loading without a hypervisor (an error, never a crash).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { xenAddon } from "../src/hypervisor/native.js";
import { memoryRing } from "../src/hypervisor/native-ring.js";
import { Field, Queue } from "../src/transport/ring/page.js";
import { ringsUnavailable } from "./helpers/ring-host.js";

const skip = ringsUnavailable() ?? false;

function pair(): { server: ReturnType<typeof memoryRing>; guest: ReturnType<typeof memoryRing>; buf: Buffer } {
  const addon = xenAddon()!;
  const buf = Buffer.alloc(4096);
  return { server: memoryRing(addon, buf), guest: memoryRing(addon, buf), buf };
}

test("bytes go through both queues in order; a queue holds at most 1024 bytes", { skip }, () => {
  const { server, guest } = pair();
  assert.equal(guest.produce(Queue.Requests, Buffer.alloc(1500, 7)), 1024, "only what fits");
  assert.equal(guest.produce(Queue.Requests, Buffer.from("x")), 0, "full");
  assert.equal(server.waiting(Queue.Requests), 1024);
  assert.deepEqual(server.consume(Queue.Requests, 1000), Buffer.alloc(1000, 7));
  assert.equal(server.consume(Queue.Requests, 4096)!.length, 24);
  assert.equal(server.consume(Queue.Requests, 4096)!.length, 0, "empty");
  assert.equal(server.produce(Queue.Responses, Buffer.from("reply")), 5);
  assert.deepEqual(guest.consume(Queue.Responses, 100), Buffer.from("reply"));
  assert.deepEqual(
    [Field.ReqCons, Field.ReqProd, Field.RspCons, Field.RspProd].map((f) => server.get(f)),
    [1024, 1024, 5, 5],
  );
});

test("indexes wrap around 2^32 and the data around the end of the ring", { skip }, () => {
  const { server, guest } = pair();
  const near = 0xffffffff - 300;
  for (const f of [Field.ReqCons, Field.ReqProd]) server.set(f, near);
  const data = Buffer.from(Array.from({ length: 900 }, (_, i) => i % 251));
  assert.equal(guest.produce(Queue.Requests, data), 900);
  assert.equal(server.get(Field.ReqProd), (near + 900) >>> 0, "the producer index wrapped");
  assert.equal(server.waiting(Queue.Requests), 900);
  assert.deepEqual(server.consume(Queue.Requests, 2000), data);
  assert.equal(server.get(Field.ReqCons), (near + 900) >>> 0);
});

test("inconsistent indexes are refused on either side, without copying anything", { skip }, () => {
  const { server, guest } = pair();
  server.set(Field.ReqProd, 5000);
  assert.equal(server.consume(Queue.Requests, 100), null);
  assert.equal(server.waiting(Queue.Requests), -1);
  assert.equal(server.get(Field.ReqCons), 0, "the consumer index did not move");
  guest.set(Field.RspCons, 2000);
  assert.equal(server.produce(Queue.Responses, Buffer.from("x")), -1);
  assert.equal(server.get(Field.RspProd), 0);
});

test("the signalling fields read and write at their xs_wire.h offsets", { skip }, () => {
  const { server, buf } = pair();
  server.set(Field.ServerFeatures, 15);
  server.set(Field.Connection, 1);
  server.set(Field.Error, 2);
  server.set(Field.EvtchnPort, 77);
  assert.deepEqual([2064, 2068, 2072, 2076].map((o) => buf.readUInt32LE(o)), [15, 1, 2, 77]);
  buf.writeUInt32LE(123, 2052);
  assert.equal(server.get(Field.ReqProd), 123);
});

test("a released page is unusable, not a crash; bad arguments throw", { skip }, () => {
  const { server } = pair();
  server.release();
  assert.equal(server.consume(Queue.Requests, 10), null);
  assert.equal(server.produce(Queue.Responses, Buffer.from("x")), -1);
  assert.equal(server.get(Field.ReqCons), -1);
  const addon = xenAddon()!;
  assert.throws(() => addon.ringOfBuffer(Buffer.alloc(100)), TypeError);
  assert.throws(() => addon.ringGet({} as never, 0), TypeError);
});

test("without a hypervisor, loading says why, and the calls that need it answer -ENODEV", { skip }, () => {
  const addon = xenAddon()!;
  const why = addon.load("/nonexistent/libxen-none.so");
  assert.equal(typeof why, "string");
  assert.equal(addon.evtchnOpen(), -19);
  assert.equal(addon.evtchnOpen(3), -19);
  assert.equal(addon.mapGrant(1), -19);
  assert.equal(addon.domainInfo(1), -2);
});
