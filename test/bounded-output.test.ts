/**
 * Output for clients that stop reading is bounded, and its memory goes
 * back: a privileged client (a dom0 socket) whose unread replies and
 * events pass 65,536 packets or 8 MiB is cut off; events to an
 * unprivileged domain that stay unsent past the watch-event timeout (cx
 * -w) are dropped; a client sending faster than it is served is read no
 * further until it is caught up with.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Op } from "../src/protocol/messages.js";
import { encodePacket } from "../src/protocol/serializer.js";
import { DEFAULT_OUTPUT_LIMIT } from "../src/server/pipeline.js";
import { harness } from "./helpers/inproc.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Live memory after a full collection: the JS heap and the buffers outside it. */
function liveBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Write `n` nodes `/slow/<prefix><i>` through one client, pipelined. */
function writeMany(h: ReturnType<typeof harness>, prefix: string, n: number): void {
  const c = h.socket();
  for (let i = 0; i < n; i += 250) {
    const batch: Buffer[] = [];
    for (let k = i; k < Math.min(n, i + 250); k++) batch.push(encodePacket(Op.WRITE, k, 0, Buffer.from(`/slow/${prefix}${k}\0v${k}`, "latin1")));
    assert.equal(c.raw(Buffer.concat(batch)).length, Math.min(n, i + 250) - i, "one turn serves them all");
  }
}

/** What writing 100,000 nodes costs with nobody watching (names differ from the other run's, so both pay for their own). */
function withoutWatcher(): number {
  const h = harness();
  const before = liveBytes();
  writeMany(h, "b", 100_000);
  const cost = liveBytes() - before;
  assert.equal(h.x.store.tallies.total(), 100_000 + 4);
  return cost;
}

test("a dom0 client watching / that stops reading is cut off at 65,536 unread packets; the writer carries on, and the memory comes back", () => {
  const lines: string[] = [];
  const h = harness({ log: (l) => lines.push(l) });
  const w = h.socket();
  assert.equal(w.watch("/", "t"), "WATCH OK\0");
  w.full = true;
  const tree = withoutWatcher();
  const baseline = liveBytes();
  let peak = 0;
  const c = h.socket();
  for (let i = 0; i < 100_000; i++) {
    assert.equal(c.write(`/slow/a${i}`, `v${i}`), "WRITE OK\0");
    if (!w.closed) peak = Math.max(peak, w.conn.output.packets);
  }
  assert.equal(w.closed, true, "the watcher was cut off");
  assert.equal(peak, DEFAULT_OUTPUT_LIMIT.packets, "its queue held at most the bound");
  assert.equal(h.x.stats.cutOff, 1);
  assert.match(lines.join("\n"), /connection \d+ \(socket of domain 0\) closed: 65537 replies and events \(\d+ bytes\) not read/);
  // What the watcher's queue held is gone with it (the tree of 100,000 nodes stays).
  const after = liveBytes();
  assert.ok(after - baseline < tree + 2 * 1024 * 1024, `after: ${after - baseline} bytes more live than before; the tree alone: ${tree}`);
});

test("the byte bound applies too: large events cut a non-reading client off at 8 MiB", () => {
  const h = harness();
  const w = h.socket();
  w.watch("/big", "t");
  w.full = true;
  const c = h.socket();
  const name = "x".repeat(2000);
  let i = 0;
  while (!w.closed && i < 10_000) {
    assert.ok(w.conn.output.bytes <= DEFAULT_OUTPUT_LIMIT.bytes);
    c.write(`/big/${name}${i++}`, "");
  }
  assert.equal(w.closed, true);
  assert.ok(i < 5000, `cut off after ${i} events of ~2 KiB`);
});

test("events to a guest that leaves them unsent past the watch-event timeout are dropped (cx -w); the guest's own replies are not", async () => {
  const h = harness({ domains: "0-100", watchEventTimeout: 0.05 });
  const c = h.socket();
  c.mkdir("/local/domain/5");
  c.setPerms("/local/domain/5", ["n5"]);
  const g = h.domain(5);
  assert.equal(g.watch("/local/domain/5", "t"), "WATCH OK\0");
  g.events();
  g.full = true;
  c.write("/local/domain/5/a", "1");
  c.write("/local/domain/5/b", "1");
  g.send(Op.GET_DOMAIN_PATH, ["5"], 0, 77);
  assert.equal(g.conn.output.packets, 3);
  await new Promise((r) => setTimeout(r, 1300));
  assert.equal(g.conn.output.packets, 1, "the events timed out");
  assert.equal(h.x.stats.eventsDropped, 2);
  assert.deepEqual(
    g.drain().map((r) => [r.reqId, Op[r.type]]),
    [[77, "GET_DOMAIN_PATH"]],
  );
  // Events sent in time are delivered as usual.
  c.write("/local/domain/5/c", "1");
  assert.deepEqual(g.events(), [{ path: "/local/domain/5/c", token: "t" }]);
});

test("dom0 clients are never subject to the watch-event timeout", async () => {
  const h = harness({ watchEventTimeout: 0.05 });
  const w = h.socket();
  w.watch("/d", "t");
  w.events();
  w.full = true;
  const c = h.socket();
  c.write("/d/a", "1");
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(
    w.drain().map((r) => r.body),
    ["/d/a\0t\0"],
  );
});

test("a client far ahead of the daemon is read no further until it is caught up with; others are served in between", async () => {
  const h = harness();
  const other = h.socket();
  let paused = 0;
  let resumed = 0;
  let replies = 0;
  const conn = h.x.connect("socket", 0, {
    write: (d) => {
      for (let off = 0; off < d.length; off += 16 + d.readUInt32LE(off + 12)) replies++;
      return d.length;
    },
    setReceiving: (on) => (on ? resumed++ : paused++),
    close: () => undefined,
  });
  const many = Buffer.concat(Array.from({ length: 5000 }, (_, i) => encodePacket(Op.READ, i, 0, Buffer.from("/\0"))));
  h.x.pipeline.receive(conn, many);
  assert.equal(replies, 256, "one turn's worth served at once");
  assert.equal(paused, 1, "reading stopped while thousands wait");
  assert.equal(other.read("/tool/xenstored"), "READ ", "another client is served meanwhile");
  while (h.x.pipeline.held(conn) > 0) await new Promise((r) => setImmediate(r));
  assert.equal(replies, 5000);
  assert.equal(resumed, 1, "reading resumed once caught up");
});
