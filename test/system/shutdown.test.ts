/**
 * bin/tsxenstored shutting down on SIGTERM/SIGINT with requests in flight:
 * every processed request answered (small and large replies) before a
 * clean close, events held for a watcher that stopped reading delivered,
 * and idle clients that never close not waited for.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { XenStoreClient } from "../../src/client/index.js";
import { Op } from "../../src/protocol/messages.js";
import { PacketParser } from "../../src/protocol/parser.js";
import { encodePacket } from "../../src/protocol/serializer.js";
import { cleanUpAfterAll, readIfExists, startForeground, tempDir, waitUntil, withTimeout } from "../helpers/proc.js";

cleanUpAfterAll();

/**
 * Write `n` pipelined requests in one go (small enough to fit in the socket
 * buffer at once), send `sig` to the daemon as soon as they have all been
 * written, and collect everything it sends back until it closes the
 * connection. Requests are WRITEs of small values, or, with `bigReplies`,
 * READs of one 4000-byte node (so the replies far outgrow the socket buffers).
 */
async function burstThenSignal(sig: NodeJS.Signals, n: number, bigReplies: boolean): Promise<void> {
  const dir = tempDir();
  const trace = join(dir, "trace.log");
  const d = await startForeground(["-T", trace], { dir });
  const big = "x".repeat(4000);
  if (bigReplies) {
    const c = await XenStoreClient.connect(join(dir, "socket"));
    await c.write("/big", big);
    c.close();
  }
  const request = (i: number): Buffer =>
    bigReplies ? encodePacket(Op.READ, i + 1, 0, Buffer.from("/big\0", "latin1")) : encodePacket(Op.WRITE, i + 1, 0, Buffer.from(`/pipe/${i + 1}\0value-${i + 1}`, "latin1"));
  const expected = bigReplies ? { type: Op.READ, payload: big } : { type: Op.WRITE, payload: "OK\0" };
  const requests = Buffer.concat(Array.from({ length: n }, (_, i) => request(i)));
  const chunks: Buffer[] = [];
  let error: Error | null = null;
  const s: Socket = connect(join(dir, "socket"));
  await new Promise<void>((resolve, reject) => {
    s.once("connect", resolve);
    s.once("error", reject);
  });
  s.on("data", (c: Buffer) => chunks.push(c));
  s.on("error", (e) => (error = e));
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  try {
    await withTimeout(new Promise<void>((r) => s.write(requests, () => r())), 10000, `writing ${requests.length} bytes of requests`);
    // Every request has been written: signal at once.
    d.child.kill(sig);
    await withTimeout(closed, 10000, "the daemon to close the connection");
    const { code, signal } = await withTimeout(d.exited, 10000, "the daemon to exit");
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, d.stderr());
  } finally {
    s.destroy();
    await d.stop("SIGKILL");
  }
  const parser = new PacketParser();
  const replies = parser.push(Buffer.concat(chunks));
  const lines = (readIfExists(trace) ?? "").split("\n");
  const processed = lines.filter((l) => (bigReplies ? /^IN conn\d+ .* READ \(\/big \)$/ : /^IN conn\d+ .* WRITE \(\/pipe\//).test(l)).length;
  const answered = lines.filter((l) => (bigReplies ? /^OUT conn\d+ .* READ \(x+\)$/ : /^OUT conn\d+ .* WRITE \(OK \)$/).test(l)).length;
  const summary = `${replies.length} complete replies and ${parser.buffered} stray bytes received; ${processed} of the ${n} requests processed per the trace`;
  assert.equal(parser.buffered, 0, `a truncated packet at the end: ${summary}`);
  assert.deepEqual(
    replies.map((p, i) => (p.type === expected.type && p.reqId === i + 1 && p.payload.toString("latin1") === expected.payload ? null : { i, type: p.type, reqId: p.reqId })).filter((x) => x),
    [],
    "replies in order, each as expected",
  );
  assert.equal(answered, processed, `the trace shows a reply for every processed request: ${summary}`);
  assert.equal(replies.length, processed, `every processed request's reply reached the client: ${summary}`);
  assert.equal(error, null, `the connection ended with an error instead of a clean close (end of file): ${summary}: ${String(error)}`);
  assert.deepEqual(readdirSync(dir).sort(), ["state", "trace.log"], "sockets removed");
}

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  test(`${sig} right after a burst of pipelined requests: every processed request is answered, no truncated packet, clean close`, async () => {
    // 5000 WRITEs: 150 kB of requests.
    await burstThenSignal(sig, 5000, false);
  });
}

test("SIGTERM while a watcher is not reading: every event already raised reaches it before the connection closes", async () => {
  const dir = tempDir();
  const d = await startForeground([], { dir });
  const N = 20000;
  const watcher = await new Promise<Socket>((resolve, reject) => {
    const s = connect(join(dir, "socket"), () => resolve(s));
    s.once("error", reject);
  });
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((r) => watcher.once("end", () => r()));
  watcher.on("data", (b: Buffer) => chunks.push(b));
  watcher.write(encodePacket(Op.WATCH, 1, 0, Buffer.from("/flood\0tok\0", "latin1")));
  await waitUntil(() => chunks.length > 0, "the WATCH reply");
  watcher.pause(); // from now on the kernel buffers fill up, then the daemon holds the rest
  const c = await XenStoreClient.connect(join(dir, "socket"));
  try {
    await Promise.all(Array.from({ length: N }, (_, i) => c.write(`/flood/${i}`, "v")));
  } finally {
    c.close();
  }
  // The watcher starts reading again as the daemon shuts down (within its grace period).
  const stopped = d.stop("SIGTERM");
  watcher.resume();
  const { code } = await stopped;
  assert.equal(code, 0, d.stderr());
  await withTimeout(ended, 10000, "the watcher's end of stream");
  const packets = new PacketParser(1 << 20).push(Buffer.concat(chunks));
  const events = packets.filter((p) => p.type === Op.WATCH_EVENT);
  assert.equal(packets[0]!.type, Op.WATCH);
  assert.equal(events.length, N + 1, "the initial event and one per write");
  assert.equal(events[N]!.payload.toString("latin1"), `/flood/${N - 1}\0tok\0`);
  watcher.destroy();
});

test("SIGTERM with idle clients that never close their end: the daemon does not wait for them", async () => {
  const dir = tempDir();
  const d = await startForeground([], { dir });
  const clients = await Promise.all(
    [join(dir, "socket"), join(dir, "socket_ro")].map(
      (path) =>
        new Promise<Socket>((resolve, reject) => {
          // allowHalfOpen: our FIN does not make the client close its side.
          const s = connect({ path, allowHalfOpen: true }, () => resolve(s));
          s.once("error", reject);
        }),
    ),
  );
  const fins = clients.map((s) => new Promise<void>((r) => s.once("end", () => r())));
  for (const s of clients) s.resume();
  const t0 = Date.now();
  const { code } = await d.stop("SIGTERM");
  const ms = Date.now() - t0;
  assert.equal(code, 0, d.stderr());
  await Promise.all(fins);
  assert.ok(ms < 1000, `exited ${ms} ms after SIGTERM (it used to wait 2 s for such clients)`);
  for (const s of clients) s.destroy();
  assert.deepEqual(readdirSync(dir), ["state"]);
});

test("SIGTERM right after a burst of pipelined requests with large replies: every processed request is answered, no truncated packet", async () => {
  // 4000 READs (84 kB) whose replies (16 MB) cannot all be in the socket buffers when the signal arrives.
  await burstThenSignal("SIGTERM", 4000, true);
});
