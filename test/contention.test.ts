import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Op } from "../src/protocol/messages.js";
import { harness, type Probe } from "./helpers/inproc.js";

/** Make /counter hot: one transaction fails on it. */
function heat(a: Probe, b: Probe): void {
  const tx = a.start();
  a.read("/counter", tx);
  b.write("/counter", "heated");
  assert.equal(a.end(tx), "ERROR EAGAIN\0");
  b.write("/counter", "0");
}

test("on a hot node, a second reader waits for the holder's end, then reads the fresh value and commits", async () => {
  const h = harness({ contention: { hotMs: 10_000, maxWaitMs: 5_000 } });
  const [a, b, c] = [h.socket(), h.socket(), h.socket()];
  c.write("/counter", "0");
  heat(a, c);
  const ta = a.start();
  const tb = b.start();
  assert.equal(a.read("/counter", ta), "READ 0", "first reader holds the node");
  assert.deepEqual(b.send(Op.READ, ["/counter"], tb), [], "second reader is not answered yet");
  assert.equal(h.x.pipeline.held(b.conn), 1);
  a.write("/counter", "1", ta);
  assert.equal(a.end(ta), "TRANSACTION_END OK\0");
  await sleep(5);
  assert.equal(b.received.pop()?.body, "1", "answered after the holder committed, with its value");
  b.write("/counter", "2", tb);
  assert.equal(b.end(tb), "TRANSACTION_END OK\0", "no conflict: it read after the commit");
  assert.equal(c.read("/counter"), "READ 2");
  assert.equal(h.x.contention.waits, 1);
});

test("the wait is bounded: a holder that never ends delays a reader by at most maxWaitMs", async () => {
  const h = harness({ contention: { hotMs: 10_000, maxWaitMs: 20 } });
  const [a, b, c] = [h.socket(), h.socket(), h.socket()];
  c.write("/counter", "0");
  heat(a, c);
  const ta = a.start();
  const tb = b.start();
  a.read("/counter", ta);
  const t0 = Date.now();
  assert.deepEqual(b.send(Op.READ, ["/counter"], tb), []);
  await sleep(60);
  assert.equal(b.received.pop()?.body, "0");
  assert.ok(Date.now() - t0 < 1000);
  // Requests after the waiting one keep their order.
  assert.equal(b.write("/counter", "9", tb), "WRITE OK\0");
});

test("nodes without recent conflicts are never delayed, nor reads outside transactions", () => {
  const h = harness({ contention: { hotMs: 10_000, maxWaitMs: 5_000 } });
  const [a, b] = [h.socket(), h.socket()];
  a.write("/cool", "x");
  const ta = a.start();
  const tb = b.start();
  assert.equal(a.read("/cool", ta), "READ x");
  assert.equal(b.read("/cool", tb), "READ x", "not hot");
  heat(a, b);
  const tc = a.start();
  a.read("/counter", tc);
  assert.equal(b.read("/counter"), "READ 0", "plain reads never wait");
});

test("a holder that goes away (connection closed, RESET_WATCHES) releases its waiters", async () => {
  const h = harness({ contention: { hotMs: 10_000, maxWaitMs: 5_000 } });
  const [a, b, c] = [h.socket(), h.socket(), h.socket()];
  c.write("/counter", "0");
  heat(a, c);
  const ta = a.start();
  const tb = b.start();
  a.read("/counter", ta);
  assert.deepEqual(b.send(Op.READ, ["/counter"], tb), []);
  assert.equal(a.req(Op.RESET_WATCHES, ""), "RESET_WATCHES OK\0");
  await sleep(5);
  assert.equal(b.received.pop()?.body, "0");
  const td = c.start();
  assert.deepEqual(c.send(Op.READ, ["/counter"], td), [], "b holds it now");
  h.x.connections.disconnect(b.conn);
  await sleep(5);
  assert.equal(c.received.pop()?.body, "0");
});
