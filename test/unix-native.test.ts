/**
 * The dom0 sockets' two transports, native/unix-stream.c (the default) and
 * node:net (`--socket-io node`), serve clients alike: many at once, in
 * order, pipelined; a client that stops reading is held back without
 * holding the others, and gets every reply once it reads again; clients
 * that vanish mid-request harm nobody. And the addon's own contract:
 * partial writes, `pending`, `drained`, `closed`, `endAfterFlush`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { XenStoreClient } from "../src/client/index.js";
import { Op } from "../src/protocol/messages.js";
import { encodePacket } from "../src/protocol/serializer.js";
import type { StreamAddon } from "../src/transport/unix-native.js";
import { ROOT, startTsxenstored, type RunningDaemon } from "./helpers/daemon.js";

const daemons: RunningDaemon[] = [];
after(async () => {
  for (const d of daemons) await d.stop();
});

/** Read from `sock` until `n` whole packets arrived; their (type, reqId, payload). */
function readPackets(sock: Socket, n: number): Promise<{ type: number; reqId: number; payload: string }[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const out: { type: number; reqId: number; payload: string }[] = [];
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 16 && buf.length >= 16 + buf.readUInt32LE(12)) {
        const len = buf.readUInt32LE(12);
        out.push({ type: buf.readUInt32LE(0), reqId: buf.readUInt32LE(4), payload: buf.subarray(16, 16 + len).toString("latin1") });
        buf = buf.subarray(16 + len);
      }
      if (out.length >= n) {
        sock.off("data", onData);
        resolve(out);
      }
    };
    sock.on("data", onData);
    sock.once("error", reject);
  });
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once("error", reject);
  });
}

for (const io of ["native", "node"] as const) {
  test(`--socket-io ${io}: 8 clients with 300 pipelined requests each get every reply, exact and in order`, async () => {
    const d = await startTsxenstored(["--socket-io", io]);
    daemons.push(d);
    const socks = await Promise.all(Array.from({ length: 8 }, () => open(d.socket)));
    const replies = socks.map((s, c) => {
      const got = readPackets(s, 300);
      const reqs: Buffer[] = [];
      for (let i = 0; i < 150; i++) {
        reqs.push(encodePacket(Op.WRITE, 2 * i, 0, Buffer.from(`/io/c${c}/k${i}\0v${c}.${i}`, "latin1")));
        reqs.push(encodePacket(Op.READ, 2 * i + 1, 0, Buffer.from(`/io/c${c}/k${i}\0`, "latin1")));
      }
      // In pieces that split headers and payloads, as a stream may.
      const all = Buffer.concat(reqs);
      for (let off = 0; off < all.length; off += 37) s.write(all.subarray(off, off + 37));
      return got;
    });
    const got = await Promise.all(replies);
    got.forEach((packets, c) => {
      assert.equal(packets.length, 300);
      packets.forEach((p, i) => {
        assert.equal(p.reqId, i);
        if (i % 2 === 0) assert.deepEqual([p.type, p.payload], [Op.WRITE, "OK\0"]);
        else assert.deepEqual([p.type, p.payload], [Op.READ, `v${c}.${(i - 1) / 2}`]);
      });
    });
    for (const s of socks) s.destroy();
  });

  test(`--socket-io ${io}: a client that stops reading is held back, others are served, and it gets every reply once it reads`, async () => {
    const d = await startTsxenstored(["--socket-io", io]);
    daemons.push(d);
    const c = await XenStoreClient.connect(d.socket);
    await c.write("/big", "x".repeat(4000));
    c.close();
    const slow = await open(d.socket);
    slow.pause();
    // 3,000 reads of 4,000 bytes: 12 MB of replies, far more than the socket holds.
    const reqs: Buffer[] = [];
    for (let i = 0; i < 3000; i++) reqs.push(encodePacket(Op.READ, i, 0, Buffer.from("/big\0", "latin1")));
    slow.write(Buffer.concat(reqs));
    await new Promise((r) => setTimeout(r, 300));
    // Another client is served meanwhile.
    const other = await XenStoreClient.connect(d.socket);
    await other.write("/other", "1");
    assert.equal(await other.readString("/other"), "1");
    other.close();
    const got = readPackets(slow, 3000);
    slow.resume();
    const packets = await got;
    assert.equal(packets.length, 3000);
    packets.forEach((p, i) => assert.deepEqual([p.reqId, p.payload.length], [i, 4000]));
    slow.destroy();
  });

  test(`--socket-io ${io}: clients that vanish mid-request, or mid-reply, harm nobody`, async () => {
    const d = await startTsxenstored(["--socket-io", io]);
    daemons.push(d);
    for (let round = 0; round < 20; round++) {
      const s = await open(d.socket);
      const reqs: Buffer[] = [];
      for (let i = 0; i < 200; i++) reqs.push(encodePacket(Op.DIRECTORY, i, 0, Buffer.from("/\0", "latin1")));
      const all = Buffer.concat(reqs);
      // Half a header at the end, then gone.
      s.write(all.subarray(0, all.length - 8));
      s.destroy();
    }
    const c = await XenStoreClient.connect(d.socket);
    await c.write("/alive", "yes");
    assert.equal(await c.readString("/alive"), "yes");
    c.close();
    assert.equal(d.child?.exitCode, null);
  });
}

test("--socket-io native: out of file descriptors, the daemon waits for some to come free instead of spinning, then serves the clients that waited", async () => {
  const d = await startTsxenstored(["--socket-io", "native"]);
  daemons.push(d);
  const open0 = readdirSync(`/proc/${d.pid}/fd`).length;
  const limit = open0 + 8;
  assert.equal(spawnSync("prlimit", ["--pid", String(d.pid), `--nofile=${limit}:${limit}`]).status, 0);
  // 8 are accepted; the rest wait in the listening socket's queue.
  const socks = await Promise.all(Array.from({ length: 16 }, () => open(d.socket)));
  await new Promise((r) => setTimeout(r, 300));
  const cpu = (): number => {
    const f = readFileSync(`/proc/${d.pid}/stat`, "latin1").split(") ")[1]!.split(" ");
    return Number(f[11]) + Number(f[12]);
  };
  const before = cpu();
  await new Promise((r) => setTimeout(r, 1000));
  const ticks = cpu() - before;
  assert.ok(ticks < 30, `the daemon used ${ticks} clock ticks in 1 s while out of descriptors`);
  // The last client waited in the queue; once others leave it is taken and served.
  for (const s of socks.slice(0, 12)) s.destroy();
  const last = socks[15]!;
  const got = readPackets(last, 1);
  last.write(encodePacket(Op.WRITE, 1, 0, Buffer.from("/fds\0ok", "latin1")));
  assert.deepEqual(await got, [{ type: Op.WRITE, reqId: 1, payload: "OK\0" }]);
  for (const s of socks) s.destroy();
});

test("--socket-io: only native or node", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "bin/tsxenstored"), "-N", "--socket-io", "uring"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--socket-io: "native" or "node", not "uring"/);
});


test("the addon: events, partial writes and pending output, drained, endAfterFlush, closed, bad arguments", async () => {
  const native = createRequire(import.meta.url)(join(ROOT, "build/Release/tsxs_stream.node")) as StreamAddon;
  const dir = mkdtempSync(join(tmpdir(), "tsxs-stream-"));
  const events: string[] = [];
  let waiter: (() => void) | null = null;
  const until = async (pred: () => boolean): Promise<void> => {
    while (!pred()) await new Promise<void>((r) => (waiter = r));
  };
  let conn = -1;
  assert.equal(
    native.start((q, n, input) => {
      for (let i = 0; i < n * 4; i += 4) {
        const [kind, id, off, len] = [q[i]!, q[i + 1]!, q[i + 2]!, q[i + 3]!];
        if (kind === 4) conn = id;
        events.push(kind === 1 ? `data ${input.toString("latin1", off, off + len)}` : kind === 2 ? "drained" : kind === 3 ? "closed" : `accepted ${off}`);
      }
      waiter?.();
    }),
    0,
  );
  assert.equal(native.start(() => {}), -16, "EBUSY: once only");
  assert.equal(native.bindListen(join(dir, "x".repeat(200)), 8), -36, "ENAMETOOLONG");
  assert.equal(native.isUnixListener(0), false);
  assert.equal(native.write(12345, Buffer.from("x"), false), -9, "EBADF");
  const fd = native.bindListen(join(dir, "s"), 8);
  assert.ok(fd > 2);
  assert.equal(native.isUnixListener(fd), true);
  const listener = native.serve(fd, 42);
  assert.ok(listener >= 0);

  const client = await open(join(dir, "s"));
  client.pause();
  await until(() => events.includes("accepted 42"));
  // Input is handed over in whole packets: a request written in three pieces is one event.
  const packet = encodePacket(Op.READ, 7, 0, Buffer.from("/hello\0", "latin1"));
  const asText = packet.toString("latin1");
  client.write(packet.subarray(0, 10));
  await new Promise((r) => setTimeout(r, 30));
  client.write(packet.subarray(10, 18));
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(events, ["accepted 42"], "nothing before the packet is whole");
  client.write(packet.subarray(18));
  await until(() => events.length === 2);
  assert.deepEqual(events, ["accepted 42", `data ${asText}`]);
  // Two packets and a half: the two now, the half with the rest of it.
  client.write(Buffer.concat([packet, packet, packet.subarray(0, 20)]));
  await until(() => events.length === 3);
  assert.equal(events[2], `data ${asText}${asText}`);
  client.write(packet.subarray(20));
  await until(() => events.length === 4);
  assert.equal(events[3], `data ${asText}`);
  // A header announcing more than the protocol's 4096 bytes is handed over as it is (the daemon refuses it).
  const huge = Buffer.alloc(20);
  huge.writeUInt32LE(4097, 12);
  client.write(huge);
  await until(() => events.length === 5);
  assert.equal(events[4], `data ${huge.toString("latin1")}`);

  // The client reads nothing: the socket fills, the rest is kept, and later writes are refused.
  const chunk = Buffer.alloc(1 << 20, 0x61);
  assert.equal(native.write(conn, chunk, false), chunk.length);
  const left = native.pending(conn);
  assert.ok(left > 0 && left < chunk.length, `some of 1 MiB is pending (${left})`);
  assert.equal(native.write(conn, Buffer.from("b"), false), 0, "full: nothing taken");
  assert.equal(native.write(conn, Buffer.from("c"), true), 1, "forced: queued behind");
  assert.equal(native.pending(conn), left + 1);
  let received = 0;
  let last = "";
  client.on("data", (d: Buffer) => {
    received += d.length;
    last = d.toString("latin1", d.length - 1);
  });
  client.resume();
  await until(() => events.includes("drained"));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(native.pending(conn), 0);
  assert.equal(received, chunk.length + 1);
  assert.equal(last, "c");

  // endAfterFlush: the client reads EOF; it closes; `closed` comes once.
  const ended = new Promise((r) => client.once("end", r));
  assert.equal(native.endAfterFlush(conn), 0);
  await ended;
  client.end();
  await until(() => events.includes("closed"));
  assert.equal(events.filter((e) => e === "closed").length, 1);
  assert.equal(native.pending(conn), -9, "gone after closed");

  // close() on a live connection: closed follows, the client sees EOF.
  const c2 = await open(join(dir, "s"));
  await until(() => events.filter((e) => e.startsWith("accepted")).length === 2);
  const eof = new Promise((r) => c2.once("close", r));
  c2.resume();
  assert.equal(native.close(conn), 0);
  await until(() => events.filter((e) => e === "closed").length === 2);
  await eof;
  // Closing the listener lets this process's loop end.
  assert.equal(native.close(listener), 0);
  await until(() => events.filter((e) => e === "closed").length === 3);
  rmSync(dir, { recursive: true, force: true });
});
