/**
 * The journal's entries byte for byte: what encodeEntry writes is the
 * documented format (entries.ts), checked against an encoder written here
 * from that description alone, for strings short and long (copied by loop
 * or by Buffer#write) and checksums short and long (by table or by zlib);
 * a commit's entry lists its edits with each path's final state.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32 as zlibCrc32 } from "node:zlib";
import { crc32, crc32ByTable } from "../src/durability/crc32.js";
import { encodeEntry, scanEntries, type CommitEntry, type GuestEntry, type JournalEntry } from "../src/durability/entries.js";
import { commitEntry } from "../src/durability/journal.js";
import { Writer, writeLatin1, writeU32 } from "../src/state/binary.js";
import type { Effect } from "../src/store/store.js";
import { Store } from "../src/store/store.js";
import { TreeEditor } from "../src/store/tree.js";
import { Perms } from "../src/store/perms.js";

const ALL_BYTES = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
/** Strings of every length around the loop/Buffer#write boundary, and beyond a byte (low byte kept). */
const STRINGS = ["", "a", "n0", "/local/domain/1/x", ALL_BYTES, "\u0141\u20ac", ...Array.from({ length: 40 }, (_, n) => ALL_BYTES.slice(200, 200 + n) + "\u0101".repeat(n % 3))];

test("crc32 by table and by zlib agree, at any offset, for every length up to past the switch between them (and every remainder of four)", () => {
  const buf = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7919 + 13) & 0xff));
  for (let len = 0; len <= 600 - 3; len++) {
    for (const from of [0, 3]) {
      const want = zlibCrc32(buf.subarray(from, from + len));
      assert.equal(crc32ByTable(buf, from, from + len), want, `by table, ${len} bytes`);
      assert.equal(crc32(buf, from, from + len), want, `crc32, ${len} bytes`);
    }
  }
  assert.equal(crc32(buf), zlibCrc32(buf));
});

test("latin1 strings are written as Buffer#write writes them (each unit's low byte), short or long", () => {
  for (const s of STRINGS) {
    const buf = Buffer.alloc(s.length + 4, 0xaa);
    assert.equal(writeLatin1(buf, 2, s), 2 + s.length);
    const want = Buffer.alloc(s.length + 4, 0xaa);
    want.write(s, 2, "latin1");
    assert.deepEqual(buf, want, JSON.stringify(s));
    const w = new Writer();
    w.str(s);
    const field = Buffer.alloc(4);
    field.writeUInt32LE(s.length);
    assert.deepEqual(Buffer.from(w.result()), Buffer.concat([field, Buffer.from(s, "latin1")]));
  }
});

test("32-bit fields are written as writeUInt32LE(v >>> 0) and writeInt32LE(v | 0) write them, whatever the number", () => {
  for (const v of [0, 1, 255, 256, 65535, 0x12345678, 2 ** 31, 2 ** 32 - 1, 2 ** 32 + 5, -1, -(2 ** 31), 1.5, -1.5, NaN, 1e20, -1e20]) {
    const got = Buffer.alloc(6, 0xaa);
    assert.equal(writeU32(got, 1, v), 5);
    const unsigned = Buffer.alloc(6, 0xaa);
    unsigned.writeUInt32LE(v >>> 0, 1);
    const signed = Buffer.alloc(6, 0xaa);
    signed.writeInt32LE(v | 0, 1);
    assert.deepEqual(got, unsigned, String(v));
    assert.deepEqual(got, signed, String(v));
  }
});

// The format, as entries.ts documents it.
const u8 = (v: number): Buffer => Buffer.from([v]);
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const i32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};
const f64 = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return b;
};
const str = (s: string): Buffer => Buffer.concat([u32(s.length), Buffer.from(s, "latin1")]);

function referenceEffect(e: Effect): Buffer {
  switch (e.kind) {
    case "introduce":
      return Buffer.concat([u8(1), u32(e.domid), str(e.mfn), u32(e.port)]);
    case "release":
      return Buffer.concat([u8(2), u32(e.domid)]);
    case "features":
      return Buffer.concat([u8(3), u32(e.domid), u32(e.features)]);
    case "target":
      return Buffer.concat([u8(4), u32(e.domid), u32(e.target)]);
    case "shutdown":
      return Buffer.concat([u8(5), u32(e.domid), u8(e.shutdown ? 1 : 0)]);
    case "quota":
      return Buffer.concat([u8(6), i32(e.domid ?? -1), str(e.name), u8(e.level === "soft" ? 1 : 0), u32(e.value)]);
  }
}

function referencePayload(e: JournalEntry): Buffer {
  if (e.type === "guest") {
    return Buffer.concat([
      u8(2),
      u32(e.domid),
      u32(e.cursor),
      u32(e.watches.length),
      ...e.watches.flatMap((w) => [str(w.path), str(w.token), u32(w.prefixLength), i32(w.depth)]),
      u32(e.transactions.length),
      ...e.transactions.map(u32),
    ]);
  }
  const kinds = ["created", "value", "perms", "removed"];
  return Buffer.concat([
    u8(1),
    u32(e.revision),
    f64(e.time),
    u32(e.domid),
    u32(e.conn),
    u32(e.txId),
    str(e.op),
    u32(e.edits.length),
    ...e.edits.flatMap((c) => [u8(kinds.indexOf(c.kind)), str(c.path), ...(c.after ? [u8(1), str(c.after.value), str(c.after.acl)] : [u8(0)])]),
    ...(e.specials ? [u8(1), u32(e.specials.length), ...e.specials.flatMap(([n, a]) => [str(n), str(a)])] : [u8(0)]),
    u32(e.effects.length),
    ...e.effects.map(referenceEffect),
  ]);
}

/** `x` with each string as latin1 bytes decode it. */
function asLatin1(x: unknown): unknown {
  if (typeof x === "string") return Buffer.from(x, "latin1").toString("latin1");
  if (Array.isArray(x)) return x.map(asLatin1);
  if (x !== null && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, asLatin1(v)]));
  return x;
}

const frame = (payload: Buffer): Buffer => Buffer.concat([u32(payload.length), u32(zlibCrc32(payload)), payload]);

function entries(): JournalEntry[] {
  const out: JournalEntry[] = [];
  STRINGS.forEach((s, i) => {
    const commit: CommitEntry = {
      type: "commit",
      revision: 1000 + i,
      time: 1_700_000_000_000 + i * 0.25,
      domid: i % 3,
      conn: i * 11,
      txId: i % 2 ? 0 : 0xfffffffe,
      op: i % 2 ? "WRITE" : `TRANSACTION_END${s.slice(0, 30)}`,
      edits: [
        { path: `/local/domain/${i}/${s.slice(0, 8)}`, kind: "created", after: { value: s, acl: `n${i},r5` } },
        { path: "/a", kind: "value", after: { value: s.repeat(i % 4), acl: "n0" } },
        { path: `/b${s.slice(0, i)}`, kind: "removed", after: null },
        { path: "/c", kind: "perms", after: { value: "", acl: "b3,w2" } },
      ].slice(0, 1 + (i % 4)) as CommitEntry["edits"],
      specials: i % 5 === 0 ? [["@introduceDomain", "n0"], ["@releaseDomain", `n0,r${i}`]] : null,
      effects: (
        [
          { kind: "introduce", domid: i, mfn: `${s.slice(0, 5)}123`, port: 7 },
          { kind: "release", domid: i },
          { kind: "features", domid: i, features: 1 },
          { kind: "target", domid: i, target: 3 },
          { kind: "shutdown", domid: i, shutdown: i % 2 === 0 },
          { kind: "quota", domid: i % 2 ? null : i, name: "nodes", level: i % 2 ? "soft" : "hard", value: 1000 },
        ] satisfies Effect[]
      ).slice(0, i % 7),
    };
    const guest: GuestEntry = {
      type: "guest",
      domid: i,
      cursor: i + 1,
      watches: [{ path: `/local/domain/${i}/${s.slice(0, 20)}`, token: s, prefixLength: 3, depth: i % 2 ? -1 : 2 }],
      transactions: Array.from({ length: i % 3 }, (_, k) => k + 1),
    };
    out.push(commit, guest);
  });
  return out;
}

test("encodeEntry writes the documented frames byte for byte, and scanEntries reads them back", () => {
  const w = new Writer();
  const all = entries();
  for (const e of all) encodeEntry(w, e);
  const written = Buffer.from(w.result());
  assert.deepEqual(written, Buffer.concat(all.map((e) => frame(referencePayload(e)))));
  const scan = scanEntries(Buffer.concat([written, Buffer.alloc(64)]));
  assert.equal(scan.damage, null);
  assert.equal(scan.end, written.length);
  // Strings read back as latin1: a unit beyond a byte comes back as its low byte.
  assert.deepEqual(scan.entries, asLatin1(all));
});

test("a commit's entry lists its edits in order, each with its path's state after the whole commit", () => {
  const who = { domid: 0, privileged: true, target: null };
  const store = new Store();
  const seen: CommitEntry[] = [];
  store.guardCommits((r) => void seen.push(commitEntry(r)));
  const once = new TreeEditor(store.root);
  once.write("/a/b", "1", who);
  store.commit({ editor: once }, { domid: 0, conn: 1, op: "WRITE", txId: 0, time: 5 });
  const acl = store.get("/a/b")!.perms.key;
  assert.deepEqual(
    seen[0]!.edits.map((e) => ({ path: e.path, kind: e.kind, after: e.after })),
    [
      { path: "/a", kind: "created", after: { value: "", acl } },
      { path: "/a/b", kind: "created", after: { value: "1", acl } },
    ],
  );
  const twice = new TreeEditor(store.root);
  twice.write("/a/b", "2", who);
  twice.setPerms("/a", Perms.owned(3));
  twice.write("/a/b", "3", who);
  twice.remove("/a/c");
  twice.write("/a/c", "4", who);
  twice.remove("/a/c");
  store.commit({ editor: twice }, { domid: 0, conn: 1, op: "TRANSACTION_END", txId: 7, time: 6 });
  const e = seen[1]!;
  assert.deepEqual(
    { revision: e.revision, time: e.time, op: e.op, txId: e.txId },
    { revision: 2, time: 6, op: "TRANSACTION_END", txId: 7 },
  );
  assert.deepEqual(
    e.edits.map((x) => [x.path, x.kind, x.after]),
    [
      ["/a/b", "value", { value: "3", acl }],
      ["/a", "perms", { value: "", acl: Perms.owned(3).key }],
      ["/a/b", "value", { value: "3", acl }],
      ["/a/c", "created", null],
      ["/a/c", "removed", null],
    ],
  );
});
