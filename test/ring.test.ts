/**
 * The ring transport (src/transport/ring/ring-transport.ts) over rings in
 * ordinary memory, with the addon's real copy code: what a guest kernel
 * sees at INTRODUCE, requests and replies through the ring (partial
 * packets, many per signal, replies bigger than the ring), reconnection,
 * broken rings and protocol violations cut off without harm to others, a
 * guest that never reads, and no mapping or event channel left behind.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { SERVER_FEATURES } from "../src/domains/domains.js";
import { encodePacket } from "../src/protocol/serializer.js";
import { harness, type Harness, type Probe } from "./helpers/inproc.js";
import { Field, MemoryHypervisor, Op, Queue, ringsUnavailable, type Guest, type MemoryRingHost } from "./helpers/ring-host.js";

const skip = ringsUnavailable() ?? false;

interface Host {
  h: Harness;
  host: MemoryRingHost;
  dom0: Probe;
  /** Create domain `domid`'s ring and INTRODUCE it from dom0, as xl does. */
  introduce(domid: number, port?: number): Promise<Guest>;
}

function setup(opts: Parameters<typeof harness>[0] = {}): Host {
  const hv = new MemoryHypervisor();
  const h = harness({ hypervisor: hv, ...opts });
  const dom0 = h.socket();
  return {
    h,
    host: hv.rings,
    dom0,
    async introduce(domid, port = 7) {
      const g = hv.rings.createGuest(domid, port);
      assert.equal(dom0.req(Op.INTRODUCE, [String(domid), "1234", String(port)]), "INTRODUCE OK\0");
      await hv.rings.settle();
      return g;
    },
  };
}

/** Send a request from the guest and wait for what comes back. */
async function ask(t: Host, g: Guest, type: Op, args: readonly string[], txId = 0): Promise<string[]> {
  g.send(type, args, txId);
  await t.host.settle();
  return g.replies();
}

test("INTRODUCE maps the ring, advertises the features, empties the queues, connects and signals the guest", { skip }, async () => {
  const t = setup();
  const g = t.host.createGuest(5, 9);
  // A page with leftovers from before (a previous boot's indexes).
  g.page.set(Field.ReqProd, 77);
  g.page.set(Field.ReqCons, 70);
  g.page.set(Field.Connection, 1);
  assert.equal(t.dom0.req(Op.INTRODUCE, ["5", "1234", "9"]), "INTRODUCE OK\0");
  await t.host.settle();
  assert.equal(g.page.get(Field.ServerFeatures), SERVER_FEATURES);
  assert.equal(SERVER_FEATURES, 15, "reconnection, error indicator, watch depth, DOMID_ANY");
  assert.deepEqual([Field.ReqCons, Field.ReqProd, Field.RspCons, Field.RspProd].map((f) => g.page.get(f)), [0, 0, 0, 0]);
  assert.equal(g.page.get(Field.Connection), 0);
  assert.equal(g.page.get(Field.Error), 0);
  assert.ok(g.notified >= 1, "signalled");
  assert.equal(t.host.mapped, 1);
  assert.equal(t.host.bound.size, 1);
});

test("a guest's requests are served through its ring as the guest domain (unprivileged, relative paths at home)", { skip }, async () => {
  const t = setup();
  t.dom0.mkdir("/local/domain/5");
  t.dom0.setPerms("/local/domain/5", ["n5"]);
  const g = await t.introduce(5);
  g.send(Op.WRITE, Buffer.from("data/x\0hello", "latin1"));
  await t.host.settle();
  assert.deepEqual(g.replies(), ["WRITE OK\0"]);
  assert.deepEqual(await ask(t, g, Op.READ, ["/local/domain/5/data/x"]), ["READ hello"]);
  assert.deepEqual(await ask(t, g, Op.READ, ["/tool/xenstored"]), ["ERROR EACCES\0"]);
  assert.deepEqual(await ask(t, g, Op.INTRODUCE, ["6", "0", "1"]), ["ERROR EACCES\0"]);
  assert.equal(t.dom0.perms("/local/domain/5/data/x"), "GET_PERMS n5\0");
});

test("a packet split across signals, and many packets in one signal, are served in order", { skip }, async () => {
  const t = setup();
  const g = await t.introduce(5);
  const packet = encodePacket(Op.GET_DOMAIN_PATH, 41, 0, Buffer.from("5\0"));
  for (const piece of [packet.subarray(0, 3), packet.subarray(3, 17), packet.subarray(17)]) {
    g.sendRaw(piece);
    await t.host.settle();
  }
  const many = Buffer.concat(Array.from({ length: 30 }, (_, i) => encodePacket(Op.GET_DOMAIN_PATH, 100 + i, 0, Buffer.from(`${i}\0`))));
  g.sendRaw(many); // over 700 bytes, signalled once
  await t.host.settle();
  const got = g.received.splice(0);
  assert.deepEqual(
    got.map((p) => p.reqId),
    [41, ...Array.from({ length: 30 }, (_, i) => 100 + i)],
  );
  assert.equal(got[30]!.payload.toString("latin1"), "/local/domain/29\0");
});

test("a request the guest adds while the daemon is reading its ring is not left there (the guest signals only an empty ring)", { skip }, async () => {
  const t = setup();
  const g = await t.introduce(5);
  let added = false;
  t.host.duringConsume = (domid) => {
    if (added || domid !== 5) return;
    added = true;
    // Written after the daemon read the indexes: Linux sees an unconsumed
    // ring, so it does not signal.
    g.send(Op.GET_DOMAIN_PATH, ["second"], 0, 2);
  };
  g.send(Op.GET_DOMAIN_PATH, ["first"], 0, 1);
  await t.host.settle();
  assert.deepEqual(
    g.received.splice(0).map((p) => [p.reqId, p.payload.toString("latin1")]),
    [
      [1, "/local/domain/0\0"],
      [2, "/local/domain/0\0"],
    ],
  );
});

test("a reply bigger than the ring goes out piece by piece as the guest takes it", { skip }, async () => {
  const t = setup();
  for (let i = 0; i < 140; i++) t.dom0.write(`/big/child-with-a-long-name-${i}`, "");
  const g = await t.introduce(5);
  t.dom0.setPerms("/big", ["r5"]);
  const reply = await ask(t, g, Op.DIRECTORY, ["/big"]);
  assert.equal(reply.length, 1);
  assert.ok(reply[0]!.length > 3 * 1024, "a 3.5 KiB listing through a 1 KiB ring");
  assert.equal(reply[0]!.split("\0").length, 141);
});

test("a guest that stops reading its ring: replies wait in the daemon up to its outstanding quota, then its requests stay in its ring; others are served", { skip }, async () => {
  const t = setup();
  const g = await t.introduce(5);
  const other = await t.introduce(6, 8);
  g.reading = false;
  for (let i = 0; i < 200; i++) g.send(Op.GET_DOMAIN_PATH, ["5"]);
  await t.host.settle();
  const conn = [...t.h.x.connections].find((c) => c.domid === 5)!;
  assert.equal(conn.output.packets >= 20, true, "the outstanding quota's worth queued");
  assert.ok(g.waitingToSend > 0 || g.page.waiting(Queue.Requests) > 0, "the rest stays with the guest");
  assert.deepEqual(await ask(t, other, Op.GET_DOMAIN_PATH, ["6"]), ["GET_DOMAIN_PATH /local/domain/6\0"]);
  assert.equal(t.dom0.read("/tool/xenstored"), "READ ");
  // Reading again, it gets every reply, in order.
  g.reading = true;
  g.take();
  await t.host.settle();
  assert.equal(g.received.length, 200);
});

test("a body written while the server finds only its header is read: after publishing its index the server looks again (the guest did not signal)", { skip }, async () => {
  const t = setup();
  const g = await t.introduce(5);
  const packet = encodePacket(Op.GET_DOMAIN_PATH, 1, 0, Buffer.from("5\0"));
  let peeks = 0;
  // The server's second look finds nothing past the header; just then the guest
  // writes the body, and as the server had not yet moved its index, does not signal (xb_write).
  t.host.duringConsume = (domid) => {
    if (domid !== 5 || ++peeks !== 2) return;
    t.host.duringConsume = null;
    g.sendRaw(packet.subarray(16));
  };
  g.sendRaw(packet.subarray(0, 16));
  await t.host.settle();
  assert.deepEqual(g.replies(), ["GET_DOMAIN_PATH /local/domain/5\0"]);
});

test("a request leaves the ring only once its reply is in the response queue (a successor daemon could read it again)", { skip }, async () => {
  const t = setup();
  const g = await t.introduce(5);
  g.reading = false;
  // Replies of 32 bytes: 32 fill the 1024-byte response queue, 8 wait in the daemon.
  for (let i = 0; i < 40; i++) g.send(Op.GET_DOMAIN_PATH, ["5"]);
  await t.host.settle();
  const prod = g.page.get(Field.ReqProd);
  const cons = g.page.get(Field.ReqCons);
  assert.equal(prod, 40 * (16 + 2));
  // The 32 answered requests are consumed; the 8 whose replies wait in the daemon are not.
  assert.equal(cons, 32 * (16 + 2));
  g.reading = true;
  g.take();
  await t.host.settle();
  assert.equal(g.received.length, 40);
  assert.equal(g.page.get(Field.ReqCons), prod);
});

test("a guest asking to reconnect gets a fresh connection: its watches and transactions are gone, the ring is empty and connected", { skip }, async () => {
  const t = setup();
  t.dom0.mkdir("/local/domain/5");
  t.dom0.setPerms("/local/domain/5", ["n5"]);
  const g = await t.introduce(5);
  assert.deepEqual(await ask(t, g, Op.WATCH, ["data", "tok"]), ["WATCH OK\0", "WATCH_EVENT data\0tok\0"]);
  const started = await ask(t, g, Op.TRANSACTION_START, [""]);
  assert.match(started[0]!, /^TRANSACTION_START \d+\0$/);
  g.page.set(Field.Connection, 1);
  t.host.signal(5);
  await t.host.settle();
  assert.equal(g.page.get(Field.Connection), 0);
  assert.deepEqual([Field.ReqCons, Field.ReqProd, Field.RspCons, Field.RspProd].map((f) => g.page.get(f)), [0, 0, 0, 0]);
  t.dom0.write("/local/domain/5/data", "changed");
  await t.host.settle();
  assert.deepEqual(g.replies(), [], "the watch is gone");
  assert.deepEqual(await ask(t, g, Op.TRANSACTION_END, ["T"], 1), ["ERROR ENOENT\0"], "the transaction is gone");
  assert.deepEqual(await ask(t, g, Op.READ, ["data"]), ["READ changed"], "served again");
});

test("inconsistent ring indexes: the error indicator says so and the ring is no longer served; the domain stays until released; others are unaffected", { skip }, async () => {
  const t = setup();
  const g = await t.introduce(5);
  const other = await t.introduce(6, 8);
  const w = t.h.socket();
  w.watch("@releaseDomain", "r");
  w.events();
  g.page.set(Field.ReqProd, g.page.get(Field.ReqCons) + 2000);
  t.host.signal(5);
  await t.host.settle();
  assert.equal(g.page.get(Field.Error), 2, "XENSTORE_ERROR_RINGIDX");
  assert.equal(t.dom0.req(Op.IS_DOMAIN_INTRODUCED, ["5"]), "IS_DOMAIN_INTRODUCED T\0");
  assert.equal([...t.h.x.connections].some((c) => c.domid === 5), false, "its connection is gone");
  assert.deepEqual(await ask(t, other, Op.GET_DOMAIN_PATH, ["6"]), ["GET_DOMAIN_PATH /local/domain/6\0"]);
  assert.equal(t.dom0.req(Op.RELEASE, ["5"]), "RELEASE OK\0");
  assert.deepEqual(w.events(), [{ path: "@releaseDomain", token: "r" }]);
  // A broken response ring is caught too.
  other.page.set(Field.RspCons, other.page.get(Field.RspProd) + 5000);
  other.send(Op.GET_DOMAIN_PATH, ["6"]);
  await t.host.settle();
  assert.equal(other.page.get(Field.Error), 2);
});

test("a packet announcing more than 4096 bytes: XENSTORE_ERROR_PROTO, requests before it answered, then nothing; a reconnect recovers", { skip }, async () => {
  const t = setup();
  const g = await t.introduce(5);
  const bad = Buffer.alloc(16);
  bad.writeUInt32LE(Op.READ, 0);
  bad.writeUInt32LE(5000, 12);
  g.sendRaw(Buffer.concat([encodePacket(Op.GET_DOMAIN_PATH, 1, 0, Buffer.from("5\0")), bad]));
  await t.host.settle();
  assert.equal(g.page.get(Field.Error), 3);
  assert.deepEqual(await ask(t, g, Op.GET_DOMAIN_PATH, ["5"]), [], "no longer served");
  g.page.set(Field.Connection, 1);
  t.host.signal(5);
  await t.host.settle();
  assert.equal(g.page.get(Field.Error), 0);
  assert.deepEqual(await ask(t, g, Op.GET_DOMAIN_PATH, ["5"]), ["GET_DOMAIN_PATH /local/domain/5\0"]);
});

test("a flooding guest is served a bounded batch per turn: another guest's request is answered within the first turns", { skip }, async () => {
  const t = setup();
  const flood = await t.introduce(5);
  const quiet = await t.introduce(6, 8);
  for (let i = 0; i < 5000; i++) flood.send(Op.GET_DOMAIN_PATH, ["5"]);
  quiet.send(Op.GET_DOMAIN_PATH, ["6"]);
  await t.host.settle();
  assert.equal(quiet.received.length, 1);
  assert.equal(flood.received.length, 5000, "the flood is served too, in order");
  assert.deepEqual(
    flood.received.slice(0, 3).map((p) => p.reqId),
    [1, 2, 3],
  );
});

test("INTRODUCE again re-binds the event channel and resets the connection; RELEASE unmaps and unbinds: nothing left after 1,000 cycles", { skip }, async () => {
  const t = setup();
  const g = await t.introduce(5);
  assert.equal(t.dom0.req(Op.INTRODUCE, ["5", "1234", "7"]), "INTRODUCE OK\0");
  await t.host.settle();
  assert.equal(t.host.bound.size, 1, "the old port unbound, the new bound");
  assert.deepEqual(await ask(t, g, Op.GET_DOMAIN_PATH, ["5"]), ["GET_DOMAIN_PATH /local/domain/5\0"]);
  for (let i = 0; i < 1000; i++) {
    const domid = 10 + (i % 50);
    t.host.createGuest(domid, 3);
    assert.equal(t.dom0.req(Op.INTRODUCE, [String(domid), "0", "3"]), "INTRODUCE OK\0");
    assert.equal(t.dom0.req(Op.RELEASE, [String(domid)]), "RELEASE OK\0");
  }
  await t.host.settle();
  assert.equal(t.host.mapped, 1, "only domain 5's page is mapped");
  assert.equal(t.host.bound.size, 1, "only domain 5's port is bound");
  assert.equal(t.dom0.req(Op.RELEASE, ["5"]), "RELEASE OK\0");
  assert.equal(t.host.mapped, 0);
  assert.equal(t.host.bound.size, 0);
});

test("INTRODUCE of a domain whose ring cannot be mapped or bound answers EINVAL and leaves nothing behind", { skip }, async () => {
  const t = setup();
  assert.equal(t.dom0.req(Op.INTRODUCE, ["5", "0", "7"]), "ERROR EINVAL\0", "no page for domain 5");
  t.host.createGuest(6, 8);
  assert.equal(t.dom0.req(Op.INTRODUCE, ["6", "0", "9"]), "ERROR EINVAL\0", "the guest has no port 9");
  assert.equal(t.dom0.req(Op.IS_DOMAIN_INTRODUCED, ["6"]), "IS_DOMAIN_INTRODUCED F\0");
  assert.equal(t.host.mapped, 0);
  assert.equal(t.host.bound.size, 0);
});

test("VIRQ_DOM_EXC: a shut down guest fires @releaseDomain once (again after RESUME); a dying one is released with its nodes", { skip }, async () => {
  const t = setup();
  const g = await t.introduce(5);
  t.dom0.mkdir("/local/domain/5");
  t.dom0.setPerms("/local/domain/5", ["n5"]);
  const w = t.h.socket();
  w.watch("@releaseDomain", "r");
  w.watch("/local/domain/5", "home");
  w.events();
  t.host.changeDomain(5, { shutdown: true, dying: false });
  await t.host.settle();
  assert.deepEqual(w.events(), [{ path: "@releaseDomain", token: "r" }]);
  t.host.changeDomain(5, { shutdown: true, dying: false });
  await t.host.settle();
  assert.deepEqual(w.events(), [], "once per shutdown");
  assert.equal(t.dom0.req(Op.RESUME, ["5"]), "RESUME OK\0");
  t.host.changeDomain(5, { shutdown: true, dying: false });
  await t.host.settle();
  assert.deepEqual(w.events(), [{ path: "@releaseDomain", token: "r" }], "again after RESUME");
  t.host.changeDomain(5, { shutdown: true, dying: true });
  await t.host.settle();
  assert.deepEqual(w.events(), [
    { path: "/local/domain/5", token: "home" },
    { path: "@releaseDomain", token: "r" },
  ]);
  assert.equal(t.dom0.req(Op.IS_DOMAIN_INTRODUCED, ["5"]), "IS_DOMAIN_INTRODUCED F\0");
  assert.equal(t.dom0.read("/local/domain/5"), "ERROR ENOENT\0");
  assert.equal(t.host.mapped, 0);
  assert.equal(t.host.bound.size, 0);
  assert.equal(g.page.get(Field.Connection), 0);
});

test("dom0's own ring (xsd_kva) is served as domain 0, privileged", { skip }, async () => {
  const t = setup();
  t.host.local = t.host.createGuest(0, 11);
  assert.equal(t.h.x.attachLocalRing(), null);
  await t.host.settle();
  const k = t.host.local;
  assert.equal(k.page.get(Field.ServerFeatures), SERVER_FEATURES);
  k.send(Op.WRITE, Buffer.from("/dom0/by-kernel\x001", "latin1"));
  await t.host.settle();
  assert.deepEqual(k.replies(), ["WRITE OK\0"]);
  assert.deepEqual(await ask(t, k, Op.READ, ["name"]), ["ERROR ENOENT\0"], "relative to /local/domain/0");
  assert.deepEqual(await ask(t, k, Op.GET_DOMAIN_PATH, ["3"]), ["GET_DOMAIN_PATH /local/domain/3\0"]);
  assert.equal(t.dom0.read("/dom0/by-kernel"), "READ 1");
});
