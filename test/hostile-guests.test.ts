/**
 * Hostile guests in the emulated Xen host, against tsxenstored: a broken
 * ring, an oversize packet, a guest that never takes its replies, request
 * and watch floods, a transaction conflict storm, a guest destroyed in the
 * middle of a transaction. Each time the offender gets what cx gives it,
 * the other guests and dom0 are served as usual, nothing of theirs is
 * lost, and the daemon's memory stays bounded. Also the multiplexing of a
 * guest's users on its one ring (tsxs-guest's /dev/xen/xenbus).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { XenStoreClient } from "../src/client/client.js";
import { EmulatedGuest, type GuestClient } from "../src/emu/guest.js";
import { Op, type Packet } from "../src/protocol/messages.js";
import { encodePacket, joinStrings } from "../src/protocol/serializer.js";
import { Field } from "../src/transport/ring/page.js";
import { startTsxenstored, type RunningDaemon } from "./helpers/daemon.js";
import { emulationUnavailable } from "./helpers/emulated.js";
import { tempDir, waitUntil } from "./helpers/proc.js";

const skip = emulationUnavailable() ?? false;

let daemon: RunningDaemon;
let dir: string;
let dom0: XenStoreClient;
const guests: EmulatedGuest[] = [];

before(async () => {
  if (skip) return;
  dir = `${tempDir("tsxs-hostile-")}/host`;
  daemon = await startTsxenstored(["--emulate", dir]);
  dom0 = await XenStoreClient.connect(daemon.socket);
});

after(async () => {
  if (skip) return;
  for (const g of guests) await g.stop();
  dom0.close();
  await daemon.stop();
});

async function guest(domid: number): Promise<EmulatedGuest> {
  const g = await EmulatedGuest.start({ dir, domid, dom0Socket: daemon.socket });
  guests.push(g);
  return g;
}

function text(p: Packet): string {
  return `${Op[p.type]} ${p.payload.toString("latin1")}`;
}

/** A well-behaved guest's round trip still works. */
async function servedNormally(c: GuestClient, domid: number): Promise<void> {
  assert.equal(text(await c.request(Op.GET_DOMAIN_PATH, [String(domid)])), `GET_DOMAIN_PATH /local/domain/${domid}\0`);
  assert.equal(text(await c.request(Op.WRITE, Buffer.from("data/probe\0ok"))), "WRITE OK\0");
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))![1]) / 1024;
}

async function introduced(domid: number): Promise<boolean> {
  return dom0.isDomainIntroduced(domid);
}

test("a guest that corrupts its ring indexes is no longer served (error RINGIDX); the others are; it is released when destroyed", { skip }, async () => {
  const bad = await guest(11);
  const good = await guest(12);
  const c = good.client();
  await servedNormally(bad.client(), 11);
  bad.page.set(Field.ReqProd, bad.page.get(Field.ReqCons) + 5000);
  bad.signal();
  await waitUntil(() => bad.page.get(Field.Error) !== 0, "the error indicator", 5000);
  assert.equal(bad.page.get(Field.Error), 2);
  await servedNormally(c, 12);
  assert.equal(await dom0.readString("/local/domain/12/data/probe"), "ok");
  assert.equal(await introduced(11), true, "the domain stays known");
  const w = await dom0.watch("@releaseDomain");
  await w.next();
  guests.splice(guests.indexOf(bad), 1);
  await bad.stop();
  assert.equal((await w.next()).path, "@releaseDomain");
  await w.close();
  assert.equal(await introduced(11), false);
});

test("a packet announcing more than 4096 bytes: error PROTO; the requests before it take effect (as in cx, their replies are not sent); others unaffected", { skip }, async () => {
  const bad = await guest(13);
  const good = await guest(14);
  const header = Buffer.alloc(16);
  header.writeUInt32LE(Op.WRITE, 0);
  header.writeUInt32LE(9000, 12);
  // The request and the bad header reach the ring together (one produce, one signal).
  const repliesBefore = bad.page.get(Field.RspProd);
  bad.ring.send(Buffer.concat([encodePacket(Op.WRITE, 77, 0, Buffer.from("data/before\0done")), header]));
  await waitUntil(() => bad.page.get(Field.Error) !== 0, "the error indicator", 5000);
  assert.equal(bad.page.get(Field.Error), 3);
  assert.equal(await dom0.readString("/local/domain/13/data/before"), "done");
  assert.equal(bad.page.get(Field.RspProd), repliesBefore, "no reply was sent");
  await servedNormally(good.client(), 14);
});

test("a guest that never takes its replies: at most its outstanding quota waits in the daemon, the rest stays in its ring; others are served", { skip }, async () => {
  const stuck = await guest(15);
  const good = await guest(16);
  // Requests straight onto the ring, replies never taken (the guest ignores its event channel).
  stuck.ring.reading = false;
  for (let i = 0; i < 500; i++) stuck.ring.send(encodePacket(Op.GET_DOMAIN_PATH, 1000 + i, 0, joinStrings(["15"])));
  stuck.signal();
  await waitUntil(() => stuck.ring.waiting > 0, "the guest's ring full", 5000);
  const usage = await dom0.control("quota", "15");
  const outstanding = Number(/outstanding\s+:\s+(\d+)/.exec(usage)![1]);
  assert.ok(outstanding <= 20, `outstanding ${outstanding}`);
  await servedNormally(good.client(), 16);
  assert.equal(await dom0.readString("/local/domain/16/data/probe"), "ok");
});

test("a request flood from one guest: another guest is answered while the flood goes on, and every flooded request is answered in order", { skip }, async () => {
  const flood = await guest(17);
  const quiet = await guest(18);
  const fc = flood.client();
  const qc = quiet.client();
  let floodDone = 0;
  const order: number[] = [];
  const all: Promise<void>[] = [];
  for (let i = 0; i < 20000; i++) {
    all.push(
      fc.request(Op.READ, ["/local/domain/17/name"]).then((p) => {
        assert.equal(text(p), "READ guest17");
        order.push(i);
        floodDone++;
      }),
    );
  }
  const started = floodDone;
  await servedNormally(qc, 18);
  const whenQuietServed = floodDone;
  await Promise.all(all);
  assert.ok(whenQuietServed < 20000, `the quiet guest waited for the whole flood (${started} -> ${whenQuietServed})`);
  assert.equal(floodDone, 20000);
  assert.ok(order.every((v, k) => v === k), "answered in order");
});

test("a watch flood: a guest watching everything it may while dom0 writes 20,000 nodes; its events are bounded by its memory quota, others see theirs", { skip }, async () => {
  const greedy = await guest(19);
  const other = await guest(20);
  const gc = greedy.client();
  greedy.ring.reading = false; // never reads its events
  for (let i = 0; i < 100; i++) void gc.request(Op.WATCH, ["/", `t${i}`]);
  greedy.signal();
  const oc = other.client();
  assert.equal(text(await oc.request(Op.WATCH, ["/local/domain/20/data", "mine"])), "WATCH OK\0");
  const rss0 = rssMiB(daemon.pid);
  await dom0.transaction(async (tx) => {
    for (let i = 0; i < 500; i++) await tx.write(`/flood/n${i}`, "x");
  });
  for (let i = 0; i < 20000; i++) void dom0.write(`/flood/m${i % 2000}`, String(i));
  await dom0.write("/local/domain/20/data/seen", "1");
  await waitUntil(() => oc.events.some((e) => e.startsWith("/local/domain/20/data/seen")), "the other guest's event", 20000);
  const usage = await dom0.control("quota", "19");
  const memory = Number(/memory\s+:\s+(\d+)/.exec(usage)![1]);
  assert.ok(memory < 2.5 * 1024 * 1024 + 8192, `the greedy guest holds ${memory} bytes`);
  assert.ok(rssMiB(daemon.pid) - rss0 < 64, `the daemon grew by ${rssMiB(daemon.pid) - rss0} MiB`);
});

test("a transaction conflict storm between guests: every committed increment counts, dom0's transactions still commit", { skip }, async () => {
  await dom0.write("/local/domain/21/data/c", "0");
  await dom0.write("/shared", "");
  const a = await guest(21);
  const b = await guest(22);
  await dom0.setPerms("/local/domain/21/data/c", ["n21", "b22"]);
  const inc = async (c: GuestClient, n: number): Promise<number> => {
    let done = 0;
    while (done < n) {
      const start = await c.request(Op.TRANSACTION_START, [""]);
      const tx = Number.parseInt(start.payload.toString("latin1"), 10);
      const v = await c.request(Op.READ, ["/local/domain/21/data/c"], tx);
      await c.request(Op.WRITE, Buffer.from(`/local/domain/21/data/c\0${Number(v.payload.toString("latin1")) + 1}`), tx);
      const end = await c.request(Op.TRANSACTION_END, ["T"], tx);
      if (end.type !== Op.ERROR) done++;
    }
    return done;
  };
  const d0 = dom0.transaction(async (tx) => {
    await tx.write("/shared/dom0", "committed");
  });
  const [x, y] = await Promise.all([inc(a.client(), 100), inc(b.client(), 100), d0]);
  assert.equal(x! + y!, 200);
  assert.equal(await dom0.readString("/local/domain/21/data/c"), "200");
  assert.equal(await dom0.readString("/shared/dom0"), "committed");
});

test("a guest destroyed in the middle of a transaction: nothing of it is committed, @releaseDomain fires, its nodes go", { skip }, async () => {
  const g = await guest(23);
  const c = g.client();
  const start = await c.request(Op.TRANSACTION_START, [""]);
  const tx = Number.parseInt(start.payload.toString("latin1"), 10);
  assert.equal(text(await c.request(Op.WRITE, Buffer.from("data/half\0done"), tx)), "WRITE OK\0");
  assert.equal(text(await c.request(Op.WRITE, Buffer.from("data/own\0yes"))), "WRITE OK\0");
  const w = await dom0.watch("@releaseDomain");
  await w.next();
  guests.splice(guests.indexOf(g), 1);
  await g.stop();
  assert.equal((await w.next()).path, "@releaseDomain");
  await w.close();
  assert.equal(await dom0.tryRead("/local/domain/23/data/half"), null);
  assert.equal(await dom0.tryRead("/local/domain/23/data/own"), null, "its own nodes were removed");
  assert.equal(await introduced(23), false);
});

test("a guest's users share its ring: the same request ids and watch tokens stay apart; a user that goes loses its watches and transactions", { skip }, async () => {
  const g = await guest(24);
  const u1 = g.client();
  const u2 = g.client();
  assert.equal(text(await u1.request(Op.WATCH, ["data", "same"])), "WATCH OK\0");
  assert.equal(text(await u2.request(Op.WATCH, ["data", "same"])), "WATCH OK\0", "no EEXIST: each user has its own watch");
  await waitUntil(() => u1.events.length === 1 && u2.events.length === 1, "the initial events", 5000);
  u1.events.length = 0;
  u2.events.length = 0;
  const tx = Number.parseInt((await u1.request(Op.TRANSACTION_START, [""])).payload.toString("latin1"), 10);
  await u1.request(Op.WRITE, Buffer.from("data/in-tx\0v"), tx);
  u1.close();
  await dom0.write("/local/domain/24/data/after", "1");
  await waitUntil(() => u2.events.length === 1, "u2's event", 5000);
  assert.deepEqual(u2.events, ["data/after\0same"]);
  assert.deepEqual(u1.events, [], "u1's watch went with it");
  assert.equal(await dom0.tryRead("/local/domain/24/data/in-tx"), null, "u1's transaction was aborted");
  const usage = await dom0.control("quota", "24");
  assert.match(usage, /watches\s+:\s+1\n/);
  assert.match(usage, /transactions\s+:\s+0\n/);
});
