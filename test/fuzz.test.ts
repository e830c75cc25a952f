/**
 * Seeded fuzzing of the request pipeline: random ops (valid, invalid and
 * unknown types), arguments drawn from a grammar of good and bad paths,
 * values, permissions, domids and tokens, random NUL placement, random and
 * stale transaction ids, from dom0, read-only and guest connections.
 *
 * Whatever arrives, the daemon must not throw, must answer every request
 * exactly once with its own req_id and tx_id (the request's type or ERROR
 * with an errno name), may close only a connection that sent an oversize
 * packet or whose domain was released, and must keep its ownership
 * tallies consistent with the tree (CONTROL check).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Op } from "../src/protocol/messages.js";
import { encodePacket } from "../src/protocol/serializer.js";
import { assertRoundTrip, harness, type Harness, type Probe, type Reply } from "./helpers/inproc.js";
import { rng } from "./helpers/random.js";

/** FUZZ_SEEDS=1,2,3 and FUZZ_STEPS=N for longer runs; 20 seeds by default. */
const SEEDS = process.env.FUZZ_SEEDS ? process.env.FUZZ_SEEDS.split(",").map(Number) : Array.from({ length: 20 }, (_, i) => i + 1);
const STEPS = Number(process.env.FUZZ_STEPS ?? 6000);

const PATHS = [
  "/", "/a", "/a/b", "/a/b/c", "/a/d", "a", "a/b", "b", "", "//", "/a/", "/a//b", "/a b", "/\x01", "/\xfc",
  "@introduceDomain", "@releaseDomain", "@other", "@", "/local/domain/1", "/local/domain/1/data",
  "/local/domain/2/x", "/local/domain/3", "/tool/xenstored", "data/x", "/vm/1/name",
];
const VALID_PATHS = ["/a", "/a/b", "/a/b/c", "/a/d", "a", "a/b", "/local/domain/1/data", "/local/domain/2/x", "data/y"];
const PERMS = ["n0", "r1", "w2", "b3", "n1", "r2", "n2", "b1", "n", "x1", "n-1", "r99999", "n0x", "", "r0"];
const NUMBERS = ["0", "1", "2", "3", "-1", "65535", "junk", "", "1x", " 1", "4294967297", "32752"];
const TOKENS = ["t", "tok", "", "\xff", "0"];
const CONTROL = ["check", "help", "quota", "quota-soft", "junk", "memreport", "live-update"];
const QUOTAS = ["nodes", "watches", "transactions", "outstanding", "transaction-nodes", "node-size", "path-max", "permissions", "junk"];
const OPS = [...Array.from({ length: 27 }, (_, i) => i), 27, 99, 20];

interface Client {
  name: string;
  open(): Probe;
  probe: Probe;
  /** Transaction ids this client believes open. */
  txs: number[];
  /** Its domain, for guest connections. */
  domid?: number;
}

function generator(rand: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chance = (p: number): boolean => rand() < p;
  const bytes = (n: number): string => String.fromCharCode(...Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const path = (): string => {
    const r = rand();
    if (r < 0.04) return `/${"a".repeat(1 + Math.floor(rand() * 3500))}`;
    if (r < 0.08) return `/a/${"b/".repeat(Math.floor(rand() * 200))}c`;
    return r < 0.6 ? pick(VALID_PATHS) : pick(PATHS);
  };
  const value = (): string => {
    const r = rand();
    if (r < 0.3) return "";
    if (r < 0.9) return bytes(Math.floor(rand() * 40));
    return bytes(Math.floor(rand() * 4200));
  };
  const typical = (op: number): string[] => {
    switch (op) {
      case Op.CONTROL:
        return chance(0.5) ? [pick(CONTROL)] : [pick(CONTROL), pick(NUMBERS)];
      case Op.WRITE:
        return [path(), value()];
      case Op.SET_PERMS:
        return [path(), ...Array.from({ length: Math.floor(rand() * 4) }, () => pick(PERMS))];
      case Op.WATCH:
        return chance(0.8) ? [path(), pick(TOKENS)] : [path(), pick(TOKENS), pick(NUMBERS)];
      case Op.UNWATCH:
        return [path(), pick(TOKENS)];
      case Op.TRANSACTION_START:
        return [""];
      case Op.TRANSACTION_END:
        return [pick(["T", "T", "T", "F", "", "X"])];
      case Op.INTRODUCE:
        return [pick(NUMBERS), pick(NUMBERS), pick(NUMBERS)];
      case Op.RELEASE:
      case Op.GET_DOMAIN_PATH:
      case Op.IS_DOMAIN_INTRODUCED:
      case Op.RESUME:
      case Op.GET_FEATURE:
        return [pick(NUMBERS)];
      case Op.SET_TARGET:
      case Op.SET_FEATURE:
        return [pick(NUMBERS), pick(NUMBERS)];
      case Op.GET_QUOTA:
        return chance(0.5) ? [] : [pick(NUMBERS), pick(QUOTAS)];
      case Op.SET_QUOTA:
        return chance(0.3) ? [pick(QUOTAS), pick(NUMBERS)] : [pick(NUMBERS), pick(QUOTAS), pick(NUMBERS)];
      case Op.DIRECTORY_PART:
        return [path(), pick(NUMBERS)];
      case Op.RESET_WATCHES:
        return [];
      default:
        return [path()];
    }
  };
  /** A payload: the op's usual arguments, sometimes scrambled, NUL placement random. */
  const payload = (op: number): Buffer => {
    let args = chance(0.85) ? typical(op) : Array.from({ length: Math.floor(rand() * 4) }, () => pick([path(), value(), pick(NUMBERS)]));
    if (chance(0.05)) args = [...args, pick(TOKENS)];
    if (chance(0.05)) args = args.slice(1);
    let text = args.join("\0");
    if (chance(0.8)) text += "\0";
    if (chance(0.03)) text += "\0";
    return Buffer.from(text, "latin1");
  };
  return { pick, chance, payload };
}

/** Replies by op and outcome, printed with FUZZ_STATS=1 to see what the grammar reaches. */
const stats = new Map<string, number>();

function fuzz(seed: number, steps: number): void {
  const rand = rng(seed);
  const g = generator(rand);
  const h: Harness = harness({ domains: "0-9" });
  const clients: Client[] = [
    { name: "dom0", open: () => h.socket(), probe: null as unknown as Probe, txs: [] },
    { name: "dom0 second", open: () => h.socket(), probe: null as unknown as Probe, txs: [] },
    { name: "read-only", open: () => h.socket(true), probe: null as unknown as Probe, txs: [] },
    { name: "guest 1", open: () => h.domain(1), probe: null as unknown as Probe, txs: [], domid: 1 },
    { name: "guest 2", open: () => h.domain(2), probe: null as unknown as Probe, txs: [], domid: 2 },
  ];
  for (const c of clients) c.probe = c.open();
  let reqId = 1;
  for (let step = 0; step < steps; step++) {
    const c = g.pick(clients);
    if (c.probe.closed) {
      c.probe = c.open();
      c.txs = [];
    }
    const op = g.pick(OPS);
    const body = g.payload(op);
    const r = rand();
    const txId = r < 0.45 || c.txs.length === 0 ? (r < 0.05 ? Math.floor(rand() * 2 ** 32) : 0) : g.pick(c.txs);
    const id = (reqId = (reqId + 1) >>> 0);
    const where = `seed ${seed} step ${step}: ${c.name} ${Op[op] ?? op} tx ${txId} ${JSON.stringify(body.toString("latin1").slice(0, 120))}`;
    const before = clients.map((o) => o.probe.received.length);
    let got: Reply[];
    try {
      got = c.probe.raw(encodePacket(op, id, txId, body));
    } catch (e) {
      assert.fail(`${where}: threw ${(e as Error).stack}`);
    }
    const oversize = body.length > 4096;
    if (c.probe.closed) {
      const releasedSelf = c.domid !== undefined && !h.x.domains.introduced(c.domid);
      assert.ok(oversize || releasedSelf, `${where}: connection closed`);
      continue;
    }
    assert.ok(!oversize, `${where}: oversize request left the connection open`);
    const replies = got.filter((p) => p.type !== Op.WATCH_EVENT);
    assert.equal(replies.length, 1, `${where}: ${replies.length} replies`);
    const reply = replies[0]!;
    assert.equal(reply.reqId, id, `${where}: req_id`);
    assert.equal(reply.txId, txId, `${where}: tx_id`);
    if (reply.type === Op.ERROR) assert.match(reply.body, /^E[A-Z0-9]+\0$/, `${where}: error body`);
    else assert.equal(reply.type, op, `${where}: reply type`);
    const outcome = `${Op[op] ?? op} ${reply.type === Op.ERROR ? reply.body.slice(0, -1) : "ok"}`;
    stats.set(outcome, (stats.get(outcome) ?? 0) + 1);
    if (op === Op.TRANSACTION_START && reply.type === op) c.txs.push(Number(reply.body.replace("\0", "")));
    if (op === Op.TRANSACTION_END && txId !== 0) c.txs = c.txs.filter((t) => t !== txId);
    if (op === Op.RESET_WATCHES && reply.type === op) c.txs = [];
    // Other connections get watch events only, well formed.
    clients.forEach((o, i) => {
      if (o.probe.closed) return;
      const fresh = o === c ? got : o.probe.received.slice(before[i]);
      for (const p of fresh) if (p.type === Op.WATCH_EVENT) assert.match(p.body, /^[^\0]*\0[^\0]*\0$/, `${where}: event to ${o.name}`);
      if (o !== c) assert.deepEqual(fresh.filter((p) => p.type !== Op.WATCH_EVENT), [], `${where}: a reply reached ${o.name}`);
      o.probe.received.length = 0;
    });
    if (step % 500 === 499) {
      assert.ok(h.x.store.tallies.check(h.x.store.root), `${where}: ownership tallies`);
      assertRoundTrip(h.x, `${where}: state round trip`);
    }
  }
  assert.ok(h.x.store.tallies.check(h.x.store.root), `seed ${seed}: ownership tallies at the end`);
  const last = h.socket();
  assert.match(last.req(Op.GET_PERMS, ["/"]), /^GET_PERMS [a-z]\d+\0/, `seed ${seed}: the daemon still answers`);
}

test(`fuzzed requests never crash the daemon, each gets one well-formed reply, tallies stay consistent (${SEEDS.length} seeds x ${STEPS})`, () => {
  for (const seed of SEEDS) fuzz(seed, STEPS);
  if (process.env.FUZZ_STATS) for (const k of [...stats.keys()].sort()) console.log(`${k}: ${stats.get(k)}`);
});
