/**
 * A connection's output queue (src/server/output.ts): packets in order
 * however the transport takes them (a ring takes what fits), duplicate
 * events suppressed while one waits, timed-out events dropped unless they
 * started going out, and its dump; its memory written again only once the
 * transport is done with what it took.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { Op } from "../src/protocol/messages.js";
import { PacketParser } from "../src/protocol/parser.js";
import { encodePacket } from "../src/protocol/serializer.js";
import { Connection } from "../src/server/connection.js";
import { OutputQueue } from "../src/server/output.js";
import type { Transport } from "../src/transport/transport.js";
import { startTsxenstored } from "./helpers/daemon.js";

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

test("a drained queue writes its spare chunk again only once recycled, and only for a small packet while empty", () => {
  const q = new OutputQueue();
  q.reply(Op.READ, 1, 0, Buffer.from("first"));
  const first = q.peek();
  const firstBytes = Buffer.from(first);
  q.consume(first.length);
  // Not recycled: what the transport was handed stays as it was.
  q.reply(Op.READ, 2, 0, Buffer.from("second"));
  assert.deepEqual(first, firstBytes);
  const second = q.peek();
  q.consume(second.length);
  q.recycle();
  q.reply(Op.READ, 3, 0, Buffer.from("third"));
  const third = q.peek();
  q.consume(third.length);
  q.recycle();
  q.reply(Op.READ, 4, 0, Buffer.from("fourth"));
  const fourth = q.peek();
  assert.equal(fourth.buffer, third.buffer, "the spare chunk again");
  assert.equal(fourth.byteOffset, third.byteOffset, "from its start");
  assert.deepEqual(drainInPieces(q, 1 << 20), ["READ 4 fourth"]);
  // Recycling with output waiting, or a packet larger than the spare, leaves the spare alone.
  q.recycle();
  q.reply(Op.READ, 5, 0, Buffer.from("x".repeat(300)));
  assert.notEqual(q.peek().buffer, third.buffer);
  q.recycle();
  assert.deepEqual(drainInPieces(q, 1 << 20), [`READ 5 ${"x".repeat(300)}`]);
  q.recycle();
  q.event("/a\0t", false, 0, Op.WATCH_EVENT);
  q.reply(Op.READ, 6, 0, Buffer.from("sixth"));
  assert.equal(q.peek().buffer, third.buffer);
  assert.equal(q.packets, 2);
  assert.deepEqual(drainInPieces(q, 7), ["WATCH_EVENT 0 /a\0t\0", "READ 6 sixth"]);
  assert.equal(q.event("/a\0t", false, 0, Op.WATCH_EVENT), true, "the event that went out is no longer waiting");
});

test("a connection reuses its output memory only when its transport says it is done with what it took", () => {
  const rights = { privileged: () => true, target: () => null };
  for (const done of [undefined, false, true]) {
    const handed: Buffer[] = [];
    const transport: Transport = {
      write: (d) => {
        handed.push(d);
        return d.length;
      },
      close: () => {},
      ...(done === undefined ? {} : { writesDone: () => done }),
    };
    const conn = new Connection(1, "socket", 0, rights, transport);
    const sent: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      conn.queueReply(Op.READ, i, 0, Buffer.from(`reply ${i}`));
      if (i % 3 === 0) conn.queueReply(Op.WRITE, i, 0, Buffer.from("OK\0"));
      conn.flush();
      sent.push(Buffer.from(handed[handed.length - 1]!));
    }
    // The spare chunk comes with the first recycling (after the first flush).
    const reused = handed.filter((b, i) => i > 1 && b.buffer === handed[1]!.buffer && b.byteOffset === handed[1]!.byteOffset).length;
    if (done) {
      assert.equal(reused, 48, "each flush writes the same memory");
    } else {
      assert.equal(reused, 0);
      assert.deepEqual(handed, sent, "nothing handed over was written again");
    }
    const parser = new PacketParser();
    const replies = sent.flatMap((b) => parser.push(b)).map((p) => `${p.reqId} ${p.payload.toString("latin1")}`);
    assert.equal(replies.length, 50 + 17);
    assert.equal(replies[replies.length - 1], "49 reply 49");
  }
});

test("over a Unix socket, replies a client reads late are intact: memory Node still holds for the socket is not written again", { timeout: 60_000 }, async () => {
  const d = await startTsxenstored();
  try {
    const sock = connect(d.socket);
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.pause();
    const values = Array.from({ length: 10 }, (_, k) => `v${k}-${"abcdefgh".repeat(k)}`);
    const n = 5000;
    sock.write(Buffer.concat(values.map((v, k) => encodePacket(Op.WRITE, n + k, 0, Buffer.from(`/t/${k}\0${v}`, "latin1")))));
    // One request at a time, so that the daemon answers each on its own (a
    // reply in its queue's small chunk, handed over as it is); unread, the
    // replies soon fill the socket, and the daemon's later writes wait in Node.
    for (let i = 0; i < n; i++) {
      sock.write(encodePacket(Op.READ, i, 0, Buffer.from(`/t/${i % 10}\0`)));
      if (i % 4 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    await new Promise((r) => setTimeout(r, 200));
    const parser = new PacketParser(1 << 20);
    const reads: string[] = [];
    let got = 0;
    await new Promise<void>((resolve) => {
      // Until every reply is in, or nothing more comes (damaged replies may never add up).
      let quiet = setTimeout(resolve, 2000);
      sock.on("data", (chunk: Buffer) => {
        clearTimeout(quiet);
        quiet = setTimeout(resolve, 2000);
        try {
          for (const p of parser.push(chunk)) {
            got++;
            if (p.type === Op.READ) reads[p.reqId] = p.payload.toString("latin1");
          }
        } catch {
          resolve();
        }
        if (got === n + values.length) {
          clearTimeout(quiet);
          resolve();
        }
      });
      sock.resume();
    });
    sock.destroy();
    assert.equal(got, n + values.length, "every reply, once");
    for (let i = 0; i < n; i++) assert.equal(reads[i], values[i % 10], `reply ${i}`);
  } finally {
    await d.stop();
  }
});
