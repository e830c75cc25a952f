/**
 * State dump and restore (the base of crash recovery and live update): a
 * busy daemon's whole state (tree, special ACLs, quotas, domains,
 * connections with held input and queued output, watches, open
 * transactions) round-trips through the record stream unchanged, the
 * restored daemon carries on where the first left off, and a damaged
 * stream is refused without touching the state.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { EmulatedHypervisor } from "../src/hypervisor/emulated.js";
import { Op, type Packet } from "../src/protocol/messages.js";
import { PacketParser } from "../src/protocol/parser.js";
import { encodePacket } from "../src/protocol/serializer.js";
import type { Connection } from "../src/server/connection.js";
import { Xenstored } from "../src/server/xenstored.js";
import { RecordType, StateFormatError, decodeState } from "../src/state/stream.js";
import type { Transport } from "../src/transport/transport.js";
import { harness, type Harness } from "./helpers/inproc.js";
import { rng } from "./helpers/random.js";

/** A transport for a restored connection: collects what it is sent, optionally refusing it. */
class Sink implements Transport {
  readonly packets: Packet[] = [];
  private readonly parser = new PacketParser(1 << 20);
  full = false;
  write(d: Buffer): number {
    if (this.full) return 0;
    this.packets.push(...this.parser.push(d));
    return d.length;
  }
  close(): void {}
}

function busyDaemon(): Harness {
  const h = harness({ domains: "0-1023", privDomid: 7 });
  const c = h.socket();
  const w = h.socket();
  const g5 = h.domain(5);
  const g6 = h.domain(6);
  h.domain(7);
  // Values of every byte, an empty one, a large directory (a HAMT), ACLs
  // with entries for domains that do not exist (kept, never matching).
  c.write("/bytes", Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString("latin1"));
  c.write("/empty", "");
  for (let i = 0; i < 40; i++) c.write(`/big/n${i}`, `v${i}`);
  c.rm("/big/n3");
  c.setPerms("/bytes", ["n5", "r6", "w2000", "b7"]);
  c.setPerms("@releaseDomain", ["n0", "r6"]);
  // Domains: introduced ones, a target, features of one not introduced yet.
  assert.equal(c.req(Op.INTRODUCE, ["9", "77", "3"]), "INTRODUCE OK\0");
  assert.equal(c.req(Op.SET_TARGET, ["9", "5"]), "SET_TARGET OK\0");
  assert.equal(c.req(Op.SET_FEATURE, ["11", "4"]), "SET_FEATURE OK\0");
  // Quotas: global, soft, per domain.
  assert.equal(c.req(Op.SET_QUOTA, ["transactions", "8"]), "SET_QUOTA OK\0");
  assert.equal(c.req(Op.SET_QUOTA, ["soft-memory", "1000000"]), "SET_QUOTA OK\0");
  assert.equal(c.req(Op.SET_QUOTA, ["6", "outstanding", "2"]), "SET_QUOTA OK\0");
  // Watches of every kind.
  c.mkdir("/local/domain/5");
  c.setPerms("/local/domain/5", ["n5"]);
  g5.watch("data", "rel");
  g5.req(Op.WATCH, ["/big", "depth", "1"]);
  w.watch("/", "all");
  w.watch("@releaseDomain", "rd");
  // Open transactions, one with changes.
  const t = c.start();
  c.write("/in-tx", "1", t);
  g5.start();
  // A watcher that stopped reading: events wait in the daemon (one coalesced).
  w.full = true;
  c.write("/big/n1", "again");
  c.write("/big/n1", "and again");
  c.write("/empty", "x");
  // A guest over its outstanding quota: replies queued, requests held, a partial packet.
  g6.full = true;
  g6.send(Op.GET_DOMAIN_PATH, ["6"]);
  g6.send(Op.GET_DOMAIN_PATH, ["6"]);
  g6.send(Op.GET_DOMAIN_PATH, ["8"]);
  g6.raw(encodePacket(Op.READ, 99, 0, Buffer.from("/bytes\0", "latin1")).subarray(0, 10));
  assert.equal(h.x.pipeline.held(g6.conn), 1);
  return h;
}

function restored(from: Xenstored, sinks = new Map<number, Sink>()): Xenstored {
  const x = new Xenstored({ hypervisor: new EmulatedHypervisor("0-1023"), privDomid: 7, contention: false });
  x.restore(from.dump(), (r) => {
    const s = new Sink();
    s.full = true;
    sinks.set(r.seq, s);
    return s;
  });
  return x;
}

/**
 * The records of a dump, for comparing states. The listing generation is
 * a process-wide counter that any tree built since moves on (a restore
 * continues above the dumped one), so it is left out.
 */
function state(dump: Buffer): unknown[] {
  return decodeState(dump).map((r) => (r.type === RecordType.Global ? { ...r, listingGeneration: 0 } : r));
}

function connBySeq(x: Xenstored, seq: number): Connection {
  const c = [...x.connections].find((k) => k.seq === seq);
  assert.ok(c, `connection ${seq}`);
  return c;
}

test("a busy daemon's state round-trips through a dump unchanged", () => {
  const h = busyDaemon();
  const first = h.x.dump();
  const x2 = restored(h.x);
  assert.deepEqual(state(x2.dump()), state(first));
  // And once more, from the restored one.
  assert.deepEqual(state(restored(x2).dump()), state(first));
  const kinds = new Map<number, number>();
  for (const r of decodeState(first)) kinds.set(r.type, (kinds.get(r.type) ?? 0) + 1);
  assert.deepEqual(
    [...kinds.keys()].sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7, 8],
    "every record type is exercised",
  );
});

test("the restored daemon carries on: same answers, queued output and held requests go out, watches fire, open transactions fail with EAGAIN", () => {
  const h = busyDaemon();
  const seqs = { c: 1, w: 2, g5: 3, g6: 4 };
  const sinks = new Map<number, Sink>();
  const x = restored(h.x, sinks);
  const reply = (p: Packet): string => `${Op[p.type]} ${p.payload.toString("latin1")}`;
  const run = (seq: number, type: Op, args: string[], txId = 0): string[] => {
    const s = sinks.get(seq)!;
    const before = s.packets.length;
    s.full = false;
    x.pipeline.receive(connBySeq(x, seq), encodePacket(type, 1, txId, Buffer.from(args.map((a) => `${a}\0`).join(""), "latin1")));
    return s.packets.slice(before).map(reply);
  };
  assert.deepEqual(run(seqs.c, Op.READ, ["/big/n1"]), ["READ and again"]);
  assert.deepEqual(run(seqs.c, Op.GET_PERMS, ["/bytes"]), ["GET_PERMS n5\0r6\0w2000\0b7\0"]);
  assert.deepEqual(run(seqs.c, Op.GET_PERMS, ["@releaseDomain"]), ["GET_PERMS n0\0r6\0"]);
  assert.deepEqual(run(seqs.c, Op.GET_QUOTA, ["6", "outstanding"]), ["GET_QUOTA 2\0"]);
  assert.deepEqual(run(seqs.c, Op.IS_DOMAIN_INTRODUCED, ["9"]), ["IS_DOMAIN_INTRODUCED T\0"]);
  assert.deepEqual(run(seqs.c, Op.GET_FEATURE, ["11"]), ["GET_FEATURE 4\0"]);
  // The open transaction is gone in all but its id: committing it is a conflict.
  assert.deepEqual(run(seqs.c, Op.TRANSACTION_END, ["T"], 1), ["ERROR EAGAIN\0"]);
  // The watcher gets what waited for it, then new events.
  const w = sinks.get(seqs.w)!;
  w.full = false;
  x.pipeline.drained(connBySeq(x, seqs.w));
  assert.deepEqual(
    w.packets.splice(0).map(reply),
    ["WATCH_EVENT /big/n1\0all\0", "WATCH_EVENT /empty\0all\0"],
    "the two /big/n1 events were one while waiting",
  );
  run(seqs.c, Op.WRITE, ["/empty", "y"]);
  assert.deepEqual(w.packets.splice(0).map(reply), ["WATCH_EVENT /empty\0all\0"]);
  // The guest over its quota: its queued replies, then its held request, then the rest of the partial one.
  const g6 = sinks.get(seqs.g6)!;
  g6.full = false;
  x.pipeline.drained(connBySeq(x, seqs.g6));
  assert.deepEqual(g6.packets.splice(0).map(reply), ["GET_DOMAIN_PATH /local/domain/6\0", "GET_DOMAIN_PATH /local/domain/6\0", "GET_DOMAIN_PATH /local/domain/8\0"]);
  x.pipeline.receive(connBySeq(x, seqs.g6), encodePacket(Op.READ, 99, 0, Buffer.from("/bytes\0", "latin1")).subarray(10));
  assert.deepEqual(g6.packets.splice(0).map((p) => [p.reqId, Op[p.type]]), [[99, "READ"]]);
  // A relative watch still reports relative paths.
  sinks.get(seqs.g5)!.full = false;
  run(seqs.c, Op.WRITE, ["/local/domain/5/data/k", "1"]);
  assert.deepEqual(sinks.get(seqs.g5)!.packets.splice(0).map(reply), ["WATCH_EVENT data/k\0rel\0"]);
});

test("a damaged dump is refused with StateFormatError and the state is left as it was", () => {
  const good = busyDaemon().x.dump();
  const target = harness({ domains: "0-1023" });
  target.socket().write("/keep", "me");
  const before = target.x.dump();
  const rand = rng(1234);
  const tries: Buffer[] = [Buffer.alloc(0), Buffer.from("tsxstate"), good.subarray(0, good.length - 8)];
  for (let i = 0; i < 300; i++) {
    const b = Buffer.from(good);
    const n = 1 + Math.floor(rand() * 4);
    for (let k = 0; k < n; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    tries.push(i % 3 === 0 ? b.subarray(0, Math.floor(rand() * b.length)) : b);
  }
  let refused = 0;
  for (const t of tries) {
    try {
      target.x.restore(t, () => new Sink());
      target.x.restore(before, () => new Sink());
    } catch (e) {
      assert.ok(e instanceof StateFormatError, `${(e as Error).stack}`);
      refused++;
      assert.deepEqual(state(target.x.dump()), state(before), "a refused dump changes nothing");
    }
  }
  assert.ok(refused > tries.length / 2, `${refused} of ${tries.length} damaged dumps refused`);
});
