import assert from "node:assert/strict";
import { test } from "node:test";
import { Op, PAYLOAD_MAX } from "../src/protocol/messages.js";
import { OversizePacketError, PacketParser } from "../src/protocol/parser.js";
import { encodePacket } from "../src/protocol/serializer.js";
import { countStrings, oneArg, splitStrings } from "../src/protocol/payload.js";
import { atoi, strtol } from "../src/util/cparse.js";
import { harness } from "./helpers/inproc.js";

test("parser reassembles packets split at every byte boundary", () => {
  const a = encodePacket(Op.READ, 7, 3, "/tool\0");
  const b = encodePacket(Op.WRITE, 8, 0, "/x\0value");
  const stream = Buffer.concat([a, b]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const p = new PacketParser();
    const got = [...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))];
    assert.equal(got.length, 2);
    assert.deepEqual(
      got.map((g) => [g.type, g.reqId, g.txId, g.payload.toString("latin1")]),
      [
        [Op.READ, 7, 3, "/tool\0"],
        [Op.WRITE, 8, 0, "/x\0value"],
      ],
    );
    assert.equal(p.buffered, 0);
  }
});

test("parser accepts a payload of exactly 4096 bytes and rejects 4097", () => {
  const p = new PacketParser();
  assert.equal(p.push(encodePacket(Op.WRITE, 1, 0, Buffer.alloc(PAYLOAD_MAX))).length, 1);
  const header = Buffer.alloc(16);
  header.writeUInt32LE(PAYLOAD_MAX + 1, 12);
  assert.throws(() => new PacketParser().push(header), OversizePacketError);
});

test("payload helpers follow cx argument counting", () => {
  assert.equal(oneArg(Buffer.from("/a\0")), "/a");
  assert.equal(oneArg(Buffer.from("/a")), null, "no NUL");
  assert.equal(oneArg(Buffer.from("/a\0\0")), null, "extra NUL");
  assert.equal(oneArg(Buffer.from("/a\0b")), null, "bytes after the NUL");
  assert.equal(oneArg(Buffer.alloc(0)), null);
  assert.deepEqual(splitStrings(Buffer.from("a\0b\0trailing")), ["a", "b"]);
  assert.equal(countStrings(Buffer.from("a\0\0b")), 2);
  assert.equal(atoi("12abc"), 12);
  assert.equal(atoi("abc"), 0);
  assert.equal(atoi(" -7"), -7);
  assert.equal(atoi("99999999999"), 1215752191, "(int) of a long, as glibc");
  assert.deepEqual(strtol("0x1f", 0), { value: 31n, end: 4 });
  assert.deepEqual(strtol("017", 0), { value: 15n, end: 3 });
  assert.deepEqual(strtol("x", 0), { value: 0n, end: 0 });
});

test("partial packets, several packets per read and pipelining all get answered in order", () => {
  const h = harness();
  const c = h.socket();
  const reqs = Buffer.concat([
    encodePacket(Op.WRITE, 1, 0, "/p\0one"),
    encodePacket(Op.READ, 2, 0, "/p\0"),
    encodePacket(Op.WRITE, 3, 0, "/p\0two"),
    encodePacket(Op.READ, 4, 0, "/p\0"),
  ]);
  const got = [...c.raw(reqs.subarray(0, 5)), ...c.raw(reqs.subarray(5, 40)), ...c.raw(reqs.subarray(40))];
  assert.deepEqual(
    got.map((r) => [r.reqId, Op[r.type], r.body]),
    [
      [1, "WRITE", "OK\0"],
      [2, "READ", "one"],
      [3, "WRITE", "OK\0"],
      [4, "READ", "two"],
    ],
  );
});

test("replies echo req_id and tx_id, errors carry the errno name", () => {
  const h = harness();
  const c = h.socket();
  const [r] = c.send(Op.READ, "/nope\0", 0, 0xdeadbeef);
  assert.deepEqual(r, { type: Op.ERROR, reqId: 0xdeadbeef, txId: 0, body: "ENOENT\0" });
  const [e] = c.send(Op.READ, "/tool\0", 42, 5);
  assert.deepEqual(e, { type: Op.ERROR, reqId: 5, txId: 42, body: "ENOENT\0" }, "unknown transaction");
});

test("an oversize request closes only that connection", () => {
  const h = harness();
  const bad = h.socket();
  const good = h.socket();
  const header = Buffer.alloc(16);
  header.writeUInt32LE(Op.WRITE, 0);
  header.writeUInt32LE(PAYLOAD_MAX + 1, 12);
  assert.deepEqual(bad.raw(header), []);
  assert.equal(bad.closed, true);
  assert.equal(good.closed, false);
  assert.equal(good.write("/still", "fine"), "WRITE OK\0");
  assert.equal(h.x.connections.size, 1);
});

test("requests before an oversize header in the same read are carried out, then the connection is closed unanswered (as cx)", () => {
  const h = harness();
  const bad = h.socket();
  const header = Buffer.alloc(16);
  header.writeUInt32LE(Op.WRITE, 0);
  header.writeUInt32LE(PAYLOAD_MAX + 1, 12);
  const first = encodePacket(Op.WRITE, 7, 0, Buffer.from("/ov/a\0v", "latin1"));
  const replies = bad.raw(Buffer.concat([first, header, Buffer.from("more bytes")]));
  assert.deepEqual(replies, [], "cx closes before the reply goes out");
  assert.equal(bad.closed, true);
  assert.equal(h.socket().read("/ov/a"), "READ v");
  assert.throws(
    () => new PacketParser().push(Buffer.concat([first, header])),
    (e: unknown) => e instanceof OversizePacketError && e.parsed.length === 1 && e.parsed[0]!.reqId === 7,
  );
});

test("unknown and removed message types answer ENOSYS", () => {
  const h = harness();
  const c = h.socket();
  for (const t of [20, 27, 100, 0xffff, Op.WATCH_EVENT, Op.ERROR]) assert.equal(c.req(t, ""), "ERROR ENOSYS\0", `type ${t}`);
});
