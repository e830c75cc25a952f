/**
 * A connection's output queue (src/server/output.ts): packets in order
 * however the transport takes them (a ring takes what fits), duplicate
 * events suppressed while one waits, timed-out events dropped unless they
 * started going out, and its dump.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Op } from "../src/protocol/messages.js";
import { PacketParser } from "../src/protocol/parser.js";
import { OutputQueue } from "../src/server/output.js";

function drainInPieces(q: OutputQueue, piece: number): string[] {
  const parser = new PacketParser();
  const out: string[] = [];
  while (q.bytes > 0) {
    const b = q.peek(piece);
    q.consume(b.length);
    for (const p of parser.push(Buffer.from(b))) out.push(`${Op[p.type]} ${p.reqId} ${p.payload.toString("latin1")}`);
  }
  return out;
}

test("packets come out whole and in order, whatever size of pieces the transport takes", () => {
  for (const piece of [1, 7, 16, 100, 1024, 1 << 20]) {
    const q = new OutputQueue();
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) q.event(`/p${i}\0t`, false, 0, Op.WATCH_EVENT);
      else q.reply(Op.READ, i, 0, Buffer.from("v".repeat(i * 13)));
    }
    assert.equal(q.packets, 300);
    const got = drainInPieces(q, piece);
    assert.equal(got.length, 300, `pieces of ${piece}`);
    assert.equal(got[0], "WATCH_EVENT 0 /p0\0t\0");
    assert.equal(got[299], `READ 299 ${"v".repeat(299 * 13)}`);
    assert.equal(q.packets, 0);
  }
});

test("an event identical to one waiting is dropped until that one has gone out; special events never are", () => {
  const q = new OutputQueue();
  assert.equal(q.event("/a\0t", false, 0, Op.WATCH_EVENT), true);
  assert.equal(q.event("/a\0t", false, 0, Op.WATCH_EVENT), false);
  assert.equal(q.event("@releaseDomain\0t", true, 0, Op.WATCH_EVENT), true);
  assert.equal(q.event("@releaseDomain\0t", true, 0, Op.WATCH_EVENT), true);
  // Half of the first one out: it still counts as waiting.
  q.consume(10);
  assert.equal(q.event("/a\0t", false, 0, Op.WATCH_EVENT), false);
  q.consume(q.peek(16 + 5 - 10).length);
  assert.equal(q.event("/a\0t", false, 0, Op.WATCH_EVENT), true);
  assert.equal(q.dropped, 2);
});

test("expired events are dropped, but not replies, events without a deadline, or one already going out", () => {
  const q = new OutputQueue();
  q.event("/first\0t", false, 100, Op.WATCH_EVENT);
  q.reply(Op.READ, 1, 0, Buffer.from("r"));
  q.event("/later\0t", false, 100, Op.WATCH_EVENT);
  q.event("/forever\0t", false, 0, Op.WATCH_EVENT);
  q.event("/young\0t", false, 500, Op.WATCH_EVENT);
  q.consume(3); // the first event has started going out
  assert.equal(q.expire(200), 500, "the next deadline");
  q.consume(16 + "/first\0t\0".length - 3); // the rest of the first event goes out
  assert.deepEqual(
    drainInPieces(q, 1 << 20).map((s) => s.split(" ")[0] + " " + s.split(" ").slice(2).join(" ")),
    ["READ r", "WATCH_EVENT /forever\0t\0", "WATCH_EVENT /young\0t\0"],
    "the event that had started is kept whole",
  );
});

test("a dump holds the rest of a packet going out, then whole packets; restoring it queues the same bytes", () => {
  const q = new OutputQueue();
  q.reply(Op.READ, 1, 0, Buffer.from("hello"));
  q.event("/a\0t", false, 0, Op.WATCH_EVENT);
  q.consume(4);
  const d = q.dump();
  assert.equal(d.head.length, 16 + 5 - 4);
  const r = new OutputQueue();
  r.restore(d.head, d.packets, Op.WATCH_EVENT);
  assert.deepEqual(r.peek(), q.peek());
  assert.equal(r.packets, 2);
  assert.equal(r.event("/a\0t", false, 0, Op.WATCH_EVENT), false, "the restored event is a duplicate target again");
  assert.deepEqual(r.dump(), d);
});
