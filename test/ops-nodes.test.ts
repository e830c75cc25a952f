/**
 * Node operations (READ, DIRECTORY, DIRECTORY_PART, GET_PERMS, WRITE, MKDIR,
 * RM, SET_PERMS), path rules and argument parsing, against the in-process
 * daemon. Expected replies are those of C xenstored 4.17 (checked against the
 * real daemon), except where a comment names an intended divergence.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Op } from "../src/protocol/messages.js";
import { harness, type Probe } from "./helpers/inproc.js";

/** WRITE with a raw (binary) value. */
function writeRaw(p: Probe, path: string, value: Buffer): string {
  return p.req(Op.WRITE, Buffer.concat([Buffer.from(`${path}\0`, "latin1"), value]));
}

/** Make children of `dir` named `<i>-xxx…`, the i-th `lens[i]` characters long; returns the DIRECTORY listing. */
function makeChildren(p: Probe, dir: string, lens: readonly number[]): Buffer {
  const names: string[] = [];
  lens.forEach((len, i) => {
    const prefix = `${i}-`;
    assert.ok(len >= prefix.length);
    const name = prefix + "x".repeat(len - prefix.length);
    names.push(name);
    assert.equal(p.mkdir(`${dir}/${name}`), "MKDIR OK\0");
  });
  return Buffer.from(names.map((n) => `${n}\0`).join(""), "latin1");
}

/** cx 4.17 `send_directory_part`: the bytes after the generation string for `off`. */
function expectedPart(listing: Buffer, off: number, genlen: number): Buffer {
  if (off >= listing.length) return Buffer.from([0]);
  const maxlen = 4096 - genlen - 1;
  let len = 0;
  let pos = off;
  for (;;) {
    let end = listing.indexOf(0, pos);
    if (end < 0) end = listing.length;
    if (len + (end - pos) >= maxlen) break;
    len += end - pos + 1;
    pos = end + 1;
    if (off + len === listing.length) break;
  }
  const out = listing.subarray(off, off + len);
  return off + len === listing.length ? Buffer.concat([out, Buffer.from([0])]) : Buffer.from(out);
}

/** DIRECTORY_PART reply split into generation and the rest. */
function part(p: Probe, path: string, offset: string): { gen: string; body: Buffer } {
  const [r] = p.send(Op.DIRECTORY_PART, [path, offset]);
  assert.ok(r);
  assert.equal(Op[r.type], "DIRECTORY_PART", `reply ${Op[r.type]} ${r.body}`);
  const raw = Buffer.from(r.body, "latin1");
  const nul = raw.indexOf(0);
  assert.ok(nul > 0, "generation string present");
  return { gen: raw.toString("latin1", 0, nul), body: raw.subarray(nul + 1) };
}

// ---------------------------------------------------------------- READ

test("READ returns the raw value, without a NUL appended", () => {
  const c = harness().socket();
  assert.equal(c.write("/a", "hello"), "WRITE OK\0");
  assert.equal(c.read("/a"), "READ hello");
});

test("READ of a missing node, or below a missing parent, is ENOENT", () => {
  const c = harness().socket();
  assert.equal(c.read("/nope"), "ERROR ENOENT\0");
  assert.equal(c.read("/nope/x"), "ERROR ENOENT\0");
  assert.equal(c.read("/tool/nope"), "ERROR ENOENT\0");
});

test("the initial tree is /, /tool and /tool/xenstored, all empty and owned by dom0", () => {
  const c = harness().socket();
  assert.equal(c.read("/"), "READ ");
  assert.equal(c.read("/tool"), "READ ");
  assert.equal(c.read("/tool/xenstored"), "READ ");
  assert.equal(c.dir("/"), "DIRECTORY tool\0");
  assert.equal(c.dir("/tool"), "DIRECTORY xenstored\0");
  assert.equal(c.perms("/"), "GET_PERMS n0\0");
  assert.equal(c.perms("/tool/xenstored"), "GET_PERMS n0\0");
});

// ---------------------------------------------------------------- DIRECTORY

test("DIRECTORY lists children in insertion order, not sorted", () => {
  const c = harness().socket();
  for (const n of ["b", "a", "c"]) assert.equal(c.write(`/d/${n}`, ""), "WRITE OK\0");
  assert.equal(c.dir("/d"), "DIRECTORY b\0a\0c\0");
});

test("DIRECTORY: a child removed and added again goes to the end", () => {
  const c = harness().socket();
  for (const n of ["b", "a", "c"]) c.write(`/d/${n}`, "");
  assert.equal(c.rm("/d/a"), "RM OK\0");
  assert.equal(c.dir("/d"), "DIRECTORY b\0c\0");
  assert.equal(c.write("/d/a", "x"), "WRITE OK\0");
  assert.equal(c.dir("/d"), "DIRECTORY b\0c\0a\0");
});

test("DIRECTORY: rewriting an existing child keeps its place", () => {
  const c = harness().socket();
  c.write("/d/b", "");
  c.write("/d/a", "");
  assert.equal(c.write("/d/b", "new"), "WRITE OK\0");
  assert.equal(c.mkdir("/d/b"), "MKDIR OK\0");
  assert.equal(c.dir("/d"), "DIRECTORY b\0a\0");
});

test("DIRECTORY of a leaf is empty; of a missing node ENOENT", () => {
  const c = harness().socket();
  c.write("/leaf", "v");
  assert.equal(c.dir("/leaf"), "DIRECTORY ");
  assert.equal(c.dir("/nope"), "ERROR ENOENT\0");
  assert.equal(c.dir("/nope/deeper"), "ERROR ENOENT\0");
});

test("DIRECTORY of a directory whose listing exceeds 4096 bytes is E2BIG", () => {
  const c = harness().socket();
  makeChildren(c, "/big", new Array<number>(100).fill(60)); // 6100 bytes of names
  assert.equal(c.dir("/big"), "ERROR E2BIG\0");
  // The node is fine otherwise, and the connection keeps working.
  assert.equal(c.read("/big"), "READ ");
});

test("DIRECTORY of a listing of exactly 4096 bytes still fits", () => {
  const c = harness().socket();
  // 3 names: 2000 + 2000 + 93 characters and 3 NULs = 4096 bytes.
  makeChildren(c, "/fit", [2000, 2000, 93]);
  const r = c.dir("/fit");
  assert.equal(r.length, "DIRECTORY ".length + 4096);
  makeChildren(c, "/nofit", [2000, 2000, 94]);
  assert.equal(c.dir("/nofit"), "ERROR E2BIG\0");
});

// ---------------------------------------------------------------- DIRECTORY_PART

test("DIRECTORY_PART of a small directory: decimal generation, all names, then an empty string", () => {
  const c = harness().socket();
  c.write("/d/b", "");
  c.write("/d/a", "");
  const { gen, body } = part(c, "/d", "0");
  assert.match(gen, /^\d+$/);
  assert.equal(body.toString("latin1"), "b\0a\0\0");
});

test("DIRECTORY_PART of a node without children answers the generation and one empty string", () => {
  const c = harness().socket();
  c.write("/leaf", "v");
  const { gen, body } = part(c, "/leaf", "0");
  assert.match(gen, /^\d+$/);
  assert.equal(body.toString("latin1"), "\0");
});

test("DIRECTORY_PART splits a big directory into chunks exactly as cx send_directory_part", () => {
  const layouts: number[][] = [
    new Array<number>(100).fill(60), // 6100 bytes, 2 chunks
    new Array<number>(1500).fill(10), // many short names
    Array.from({ length: 119 }, (_, i) => i + 3), // growing names
    [2040, 2040, 30], // names close to the chunk size
    [2040, 2040, 10], // fits DIRECTORY (4093 bytes); DIRECTORY_PART depends on the generation's length
  ];
  layouts.forEach((lens, n) => {
    const c = harness().socket();
    const dir = `/dp${n}`;
    const listing = makeChildren(c, dir, lens);
    const big = listing.length > 4096;
    if (big) assert.equal(c.dir(dir), "ERROR E2BIG\0");
    else assert.equal(c.dir(dir), `DIRECTORY ${listing.toString("latin1")}`);
    let off = 0;
    let firstGen: string | null = null;
    const collected: Buffer[] = [];
    let chunks = 0;
    for (;;) {
      const { gen, body } = part(c, dir, String(off));
      assert.match(gen, /^\d+$/);
      if (firstGen === null) firstGen = gen;
      assert.equal(gen, firstGen, "generation unchanged while the directory is unchanged");
      assert.deepEqual(body, expectedPart(listing, off, gen.length + 1), `layout ${n} offset ${off}`);
      assert.ok(gen.length + 1 + body.length <= 4096);
      chunks++;
      const last = off + body.length - 1 === listing.length;
      if (last) {
        collected.push(body.subarray(0, body.length - 1));
        break;
      }
      collected.push(body);
      off += body.length;
      assert.ok(chunks < 100);
    }
    if (big) assert.ok(chunks >= 2, `layout ${n} needs several chunks`);
    assert.deepEqual(Buffer.concat(collected), listing, "chunks concatenate to the full listing");
  });
});

test("DIRECTORY_PART offsets: mid-name, last byte, at the end, past the end, negative, not a number", () => {
  const c = harness().socket();
  const listing = makeChildren(c, "/o", new Array<number>(80).fill(70));
  const cases: [string, number][] = [
    ["0", 0],
    ["1", 1], // starts inside the first name, as cx does
    ["5", 5],
    [String(listing.length - 1), listing.length - 1], // just the last NUL
    [String(listing.length), listing.length], // end: only the final empty string
    [String(listing.length + 10), listing.length + 10],
    ["-1", 0xffffffff], // atoi then unsigned: far past the end
    ["abc", 0], // atoi("abc") = 0
    ["71x", 71], // atoi stops at the first non-digit
  ];
  for (const [arg, off] of cases) {
    const { gen, body } = part(c, "/o", arg);
    assert.deepEqual(body, expectedPart(listing, off, gen.length + 1), `offset ${arg}`);
  }
  // Past the end: exactly "<gen>\0\0".
  const [r] = c.send(Op.DIRECTORY_PART, ["/o", String(listing.length + 1)]);
  assert.match(r!.body, /^\d+\0\0$/);
});

test("DIRECTORY_PART generation is the same on repeated calls while nothing changes", () => {
  const c = harness().socket();
  makeChildren(c, "/g", new Array<number>(70).fill(70));
  const a = part(c, "/g", "0").gen;
  c.write("/elsewhere", "x");
  assert.equal(part(c, "/g", "0").gen, a);
  assert.equal(part(c, "/g", "100").gen, a);
});

test("DIRECTORY_PART argument errors: not two strings EINVAL, missing node ENOENT, @ path EINVAL", () => {
  const c = harness().socket();
  c.write("/d/a", "");
  assert.equal(c.req(Op.DIRECTORY_PART, ["/d"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.DIRECTORY_PART, ["/d", "0", "x"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.DIRECTORY_PART, "/d\x000"), "ERROR EINVAL\0", "offset without its NUL");
  assert.equal(c.req(Op.DIRECTORY_PART, ""), "ERROR EINVAL\0");
  assert.equal(c.req(Op.DIRECTORY_PART, ["/nope", "0"]), "ERROR ENOENT\0");
  assert.equal(c.req(Op.DIRECTORY_PART, ["@releaseDomain", "0"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.DIRECTORY_PART, ["/bad.path", "0"]), "ERROR EINVAL\0");
});

// ---------------------------------------------------------------- GET_PERMS

test("GET_PERMS lists the ACL entries, each NUL-terminated; missing node ENOENT", () => {
  const c = harness().socket();
  c.write("/p", "v");
  assert.equal(c.perms("/p"), "GET_PERMS n0\0");
  assert.equal(c.setPerms("/p", ["r0", "w5", "b7"]), "SET_PERMS OK\0");
  assert.equal(c.perms("/p"), "GET_PERMS r0\0w5\0b7\0");
  assert.equal(c.perms("/nope"), "ERROR ENOENT\0");
});

test("GET_PERMS of the special paths (intended: Xen 4.22 nodes; cx 4.17 answers EINVAL)", () => {
  const c = harness().socket();
  assert.equal(c.perms("@introduceDomain"), "GET_PERMS n0\0");
  assert.equal(c.perms("@releaseDomain"), "GET_PERMS n0\0r32757\0");
  assert.equal(c.perms("@unknownSpecial"), "ERROR EINVAL\0", "as cx answers any other @ path");
  assert.equal(c.perms("@bad.chars"), "ERROR EINVAL\0");
});

// ---------------------------------------------------------------- WRITE

test("WRITE creates missing parents, empty, with the parent's ACL", () => {
  const c = harness().socket();
  c.write("/base", "");
  c.setPerms("/base", ["n0", "r5"]);
  assert.equal(c.write("/base/x/y", "v"), "WRITE OK\0");
  assert.equal(c.read("/base/x/y"), "READ v");
  assert.equal(c.read("/base/x"), "READ ");
  assert.equal(c.dir("/base/x"), "DIRECTORY y\0");
  assert.equal(c.perms("/base/x"), "GET_PERMS n0\0r5\0");
  assert.equal(c.perms("/base/x/y"), "GET_PERMS n0\0r5\0");
});

test("WRITE keeps binary values byte for byte, NULs and high bytes included", () => {
  const c = harness().socket();
  const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  assert.equal(writeRaw(c, "/bin", value), "WRITE OK\0");
  const [r] = c.send(Op.READ, ["/bin"]);
  assert.deepEqual(Buffer.from(r!.body, "latin1"), value);
  assert.equal(writeRaw(c, "/nul", Buffer.from("a\0b\0\xff", "latin1")), "WRITE OK\0");
  assert.equal(c.read("/nul"), "READ a\0b\0\xff");
});

test("WRITE: only the first NUL ends the path, the rest is the value", () => {
  const c = harness().socket();
  assert.equal(c.req(Op.WRITE, "/a\0b\0v"), "WRITE OK\0");
  assert.equal(c.read("/a"), "READ b\0v");
});

test("WRITE of an empty value", () => {
  const c = harness().socket();
  assert.equal(c.req(Op.WRITE, "/empty\0"), "WRITE OK\0");
  assert.equal(c.read("/empty"), "READ ");
  c.write("/full", "x");
  assert.equal(c.write("/full", ""), "WRITE OK\0");
  assert.equal(c.read("/full"), "READ ");
});

test("WRITE overwrites the value and keeps the children and ACL", () => {
  const c = harness().socket();
  c.write("/n/child", "c");
  c.setPerms("/n", ["n0", "r3"]);
  assert.equal(c.write("/n", "new"), "WRITE OK\0");
  assert.equal(c.read("/n"), "READ new");
  assert.equal(c.dir("/n"), "DIRECTORY child\0");
  assert.equal(c.perms("/n"), "GET_PERMS n0\0r3\0");
});

test("WRITE with a value filling the whole 4096-byte payload (dom0 has no node-size limit)", () => {
  const c = harness().socket();
  const value = Buffer.alloc(4096 - "/v\0".length, 0x61);
  assert.equal(writeRaw(c, "/v", value), "WRITE OK\0");
  const [r] = c.send(Op.READ, ["/v"]);
  assert.equal(r!.body.length, 4093);
  assert.equal(r!.body, value.toString("latin1"));
});

test("WRITE without any NUL (no path) is EINVAL", () => {
  const c = harness().socket();
  assert.equal(c.req(Op.WRITE, "/w"), "ERROR EINVAL\0");
  assert.equal(c.req(Op.WRITE, ""), "ERROR EINVAL\0");
  assert.equal(c.read("/w"), "ERROR ENOENT\0");
});

// ---------------------------------------------------------------- MKDIR

test("MKDIR creates an empty node and its missing parents", () => {
  const c = harness().socket();
  assert.equal(c.mkdir("/m/n/o"), "MKDIR OK\0");
  assert.equal(c.read("/m/n/o"), "READ ");
  assert.equal(c.dir("/m"), "DIRECTORY n\0");
  assert.equal(c.dir("/m/n"), "DIRECTORY o\0");
  assert.equal(c.perms("/m/n/o"), "GET_PERMS n0\0");
});

test("MKDIR of an existing node changes nothing: value, children and ACL stay", () => {
  const c = harness().socket();
  c.write("/e", "keep");
  c.write("/e/kid", "k");
  c.setPerms("/e", ["n0", "b4"]);
  assert.equal(c.mkdir("/e"), "MKDIR OK\0");
  assert.equal(c.read("/e"), "READ keep");
  assert.equal(c.dir("/e"), "DIRECTORY kid\0");
  assert.equal(c.perms("/e"), "GET_PERMS n0\0b4\0");
  assert.equal(c.mkdir("/"), "MKDIR OK\0");
});

// ---------------------------------------------------------------- RM

test("RM removes the node and its whole subtree", () => {
  const c = harness().socket();
  c.mkdir("/m/n/o");
  c.write("/m/n/p", "v");
  c.write("/keep", "k");
  assert.equal(c.rm("/m"), "RM OK\0");
  assert.equal(c.read("/m"), "ERROR ENOENT\0");
  assert.equal(c.read("/m/n/o"), "ERROR ENOENT\0");
  assert.equal(c.dir("/"), "DIRECTORY tool\0keep\0");
});

test("RM of a missing node whose parent exists is OK; with a missing parent ENOENT", () => {
  const c = harness().socket();
  c.mkdir("/m");
  assert.equal(c.rm("/m/zz"), "RM OK\0");
  assert.equal(c.rm("/m/zz/yy"), "ERROR ENOENT\0");
  assert.equal(c.rm("/m"), "RM OK\0");
  assert.equal(c.rm("/m"), "RM OK\0", "again: parent / exists");
});

test("RM / is EINVAL and removes nothing", () => {
  const c = harness().socket();
  c.write("/x", "v");
  assert.equal(c.rm("/"), "ERROR EINVAL\0");
  assert.equal(c.read("/x"), "READ v");
});

// ---------------------------------------------------------------- SET_PERMS

test("SET_PERMS letters r, w, b, n", () => {
  const c = harness().socket();
  c.write("/p", "v");
  assert.equal(c.setPerms("/p", ["n0", "r1", "w2", "b3", "n4"]), "SET_PERMS OK\0");
  assert.equal(c.perms("/p"), "GET_PERMS n0\0r1\0w2\0b3\0n4\0");
});

test("SET_PERMS ids are parsed like strtol(.., 0): hex, octal, sign, leading space, 32-bit wrap", () => {
  const c = harness().socket();
  c.write("/p", "v");
  assert.equal(c.setPerms("/p", ["r0x10", "w017", "b0X1f"]), "SET_PERMS OK\0");
  assert.equal(c.perms("/p"), "GET_PERMS r16\0w15\0b31\0");
  assert.equal(c.setPerms("/p", ["n0", "r+5", "w 5"]), "SET_PERMS OK\0");
  assert.equal(c.perms("/p"), "GET_PERMS n0\0r5\0w5\0");
  assert.equal(c.setPerms("/p", ["n0", "r-1", "w4294967296"]), "SET_PERMS OK\0");
  assert.equal(c.perms("/p"), "GET_PERMS n0\0r-1\0w0\0");
  assert.equal(c.setPerms("/p", ["n00"]), "SET_PERMS OK\0");
  assert.equal(c.perms("/p"), "GET_PERMS n0\0");
});

test("SET_PERMS rejects a bad letter, an empty id and trailing garbage with EINVAL", () => {
  const c = harness().socket();
  c.write("/p", "v");
  c.setPerms("/p", ["n0", "r7"]);
  for (const bad of [["x0"], ["N0"], ["n"], ["n0", "r"], ["n0x"], ["n5z"], ["n5 "], ["n08"], ["n0xg"], [""], ["n0", ""]]) {
    assert.equal(c.setPerms("/p", bad), "ERROR EINVAL\0", JSON.stringify(bad));
  }
  assert.equal(c.perms("/p"), "GET_PERMS n0\0r7\0", "unchanged");
});

test("SET_PERMS needs a path and at least one NUL-terminated entry", () => {
  const c = harness().socket();
  c.write("/p", "v");
  assert.equal(c.req(Op.SET_PERMS, ["/p"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.SET_PERMS, "/p"), "ERROR EINVAL\0");
  assert.equal(c.req(Op.SET_PERMS, "/p\0n0"), "ERROR EINVAL\0", "entry lacking its NUL");
  assert.equal(c.req(Op.SET_PERMS, ""), "ERROR EINVAL\0");
});

test("SET_PERMS ignores bytes after the last NUL", () => {
  const c = harness().socket();
  c.write("/p", "v");
  c.setPerms("/p", ["n0", "r1"]);
  assert.equal(c.req(Op.SET_PERMS, "/p\0n0\0garbage"), "SET_PERMS OK\0");
  assert.equal(c.perms("/p"), "GET_PERMS n0\0");
});

test("SET_PERMS with an owner domain that does not exist is ENOENT", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  c.write("/p", "v");
  assert.equal(c.setPerms("/p", ["n2000"]), "ERROR ENOENT\0");
  assert.equal(c.setPerms("/p", ["r2000", "r5"]), "ERROR ENOENT\0");
  assert.equal(c.perms("/p"), "GET_PERMS n0\0", "unchanged");
});

test("SET_PERMS keeps and shows entries for domains that do not exist", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  c.write("/p", "v");
  assert.equal(c.setPerms("/p", ["n5", "r2000", "r0x7ff5", "w4294967296"]), "SET_PERMS OK\0");
  assert.equal(c.perms("/p"), "GET_PERMS n5\0r2000\0r32757\0w0\0");
});

test("SET_PERMS on a missing node or below a missing parent is ENOENT", () => {
  const c = harness().socket();
  assert.equal(c.setPerms("/nope", ["n0"]), "ERROR ENOENT\0");
  assert.equal(c.setPerms("/nope/x", ["n0"]), "ERROR ENOENT\0");
});

test("SET_PERMS from dom0 is not limited by the node-permissions quota", () => {
  const c = harness().socket();
  c.write("/p", "v");
  const many = new Array<string>(8).fill("n0");
  assert.equal(c.setPerms("/p", many), "SET_PERMS OK\0");
  assert.equal(c.perms("/p"), `GET_PERMS ${"n0\0".repeat(8)}`);
});

test("SET_PERMS of special paths (intended: Xen 4.22 nodes; an unknown @ path is EINVAL, as cx)", () => {
  const c = harness().socket();
  assert.equal(c.setPerms("@introduceDomain", ["n0", "r5"]), "SET_PERMS OK\0");
  assert.equal(c.perms("@introduceDomain"), "GET_PERMS n0\0r5\0");
  assert.equal(c.setPerms("@foo", ["n0"]), "ERROR EINVAL\0");
  assert.equal(c.setPerms("@bad.x", ["n0"]), "ERROR EINVAL\0");
});

// ---------------------------------------------------------------- path rules

test("paths may use letters, digits and - / _ @", () => {
  const c = harness().socket();
  assert.equal(c.write("/ok-_@AZaz09", "v"), "WRITE OK\0");
  assert.equal(c.read("/ok-_@AZaz09"), "READ v");
});

test("paths with other characters are EINVAL", () => {
  const c = harness().socket();
  for (const p of ["/bad.dot", "/bad space", "/bad:colon", "/tab\t", "/\xc3\xa9", "/a+b", "/a\\b"]) {
    assert.equal(c.write(p, "v"), "ERROR EINVAL\0", JSON.stringify(p));
    assert.equal(c.read(p), "ERROR EINVAL\0", JSON.stringify(p));
  }
  assert.equal(c.dir("/"), "DIRECTORY tool\0");
});

test("paths with // or a trailing /, and the empty path, are EINVAL", () => {
  const c = harness().socket();
  c.write("/a/b", "v");
  for (const p of ["/a//b", "//a", "/a/", "/a/b/", ""]) {
    assert.equal(c.write(p, "v"), "ERROR EINVAL\0", JSON.stringify(p));
    assert.equal(c.read(p), "ERROR EINVAL\0", JSON.stringify(p));
    assert.equal(c.mkdir(p), "ERROR EINVAL\0", JSON.stringify(p));
    assert.equal(c.rm(p), "ERROR EINVAL\0", JSON.stringify(p));
  }
  assert.equal(c.read("/a/b"), "READ v");
});

test("a socket client's relative paths resolve under /local/domain/0", () => {
  const c = harness().socket();
  assert.equal(c.write("rel/x", "v"), "WRITE OK\0");
  assert.equal(c.read("/local/domain/0/rel/x"), "READ v");
  assert.equal(c.read("rel/x"), "READ v");
  assert.equal(c.dir("/local/domain/0"), "DIRECTORY rel\0");
  assert.equal(c.perms("rel"), "GET_PERMS n0\0");
  assert.equal(c.rm("rel"), "RM OK\0");
  assert.equal(c.read("/local/domain/0/rel/x"), "ERROR ENOENT\0");
});

test("a guest's relative paths resolve under /local/domain/<domid>", () => {
  const h = harness();
  const c = h.socket();
  c.mkdir("/local/domain/5");
  c.setPerms("/local/domain/5", ["n5"]);
  const g = h.domain(5);
  assert.equal(g.write("x", "mine"), "WRITE OK\0");
  assert.equal(c.read("/local/domain/5/x"), "READ mine");
  assert.equal(g.read("x"), "READ mine");
});

test("path-max (2048) applies to the whole path, for dom0 too", () => {
  const c = harness().socket();
  assert.equal(c.read("/" + "x".repeat(2047)), "ERROR ENOENT\0", "2048 characters");
  assert.equal(c.read("/" + "x".repeat(2048)), "ERROR EINVAL\0", "2049 characters");
  assert.equal(c.write("/" + "x".repeat(2047), "v"), "WRITE OK\0");
  assert.equal(c.read("/" + "x".repeat(2047)), "READ v");
  assert.equal(c.write("/" + "x".repeat(2048), "v"), "ERROR EINVAL\0");
});

test("path-max does not count the /local/domain/<N>/ prefix", () => {
  const c = harness().socket();
  const x = (n: number): string => "x".repeat(n);
  assert.equal(c.read("/local/domain/5/" + x(2048)), "ERROR ENOENT\0");
  assert.equal(c.read("/local/domain/5/" + x(2049)), "ERROR EINVAL\0");
  assert.equal(c.read("/local/domain/12345/" + x(2048)), "ERROR ENOENT\0");
  assert.equal(c.read("/local/domain/12345/" + x(2049)), "ERROR EINVAL\0");
  assert.equal(c.read("/local/domain/00005/" + x(2048)), "ERROR ENOENT\0");
  // Relative paths: the home prefix is not counted either.
  assert.equal(c.read(x(2048)), "ERROR ENOENT\0");
  assert.equal(c.read(x(2049)), "ERROR EINVAL\0");
});

test("path-max prefix follows cx sscanf %5u: at most 5 characters, a sign counts, a / must follow", () => {
  const c = harness().socket();
  const x = (n: number): string => "x".repeat(n);
  // Six digits: the prefix does not match, the whole path counts.
  assert.equal(c.read("/local/domain/123456/" + x(2048 - 21)), "ERROR ENOENT\0");
  assert.equal(c.read("/local/domain/123456/" + x(2048 - 20)), "ERROR EINVAL\0");
  // "-1234" is 5 characters for %5u: stripped.
  assert.equal(c.read("/local/domain/-1234/" + x(2048)), "ERROR ENOENT\0");
  assert.equal(c.read("/local/domain/-1234/" + x(2049)), "ERROR EINVAL\0");
  // "-12345" is too wide: the whole path counts.
  assert.equal(c.read("/local/domain/-12345/" + x(2048 - 21)), "ERROR ENOENT\0");
  assert.equal(c.read("/local/domain/-12345/" + x(2048 - 20)), "ERROR EINVAL\0");
  // No / after the number, or no number at all: the whole path counts.
  assert.equal(c.read("/local/domain/5" + x(2048 - 15)), "ERROR ENOENT\0");
  assert.equal(c.read("/local/domain/5" + x(2048 - 14)), "ERROR EINVAL\0");
  assert.equal(c.read("/local/domain/x/" + x(2048 - 16)), "ERROR ENOENT\0");
  assert.equal(c.read("/local/domain/x/" + x(2048 - 15)), "ERROR EINVAL\0");
});

test("@ paths are not node names: READ, WRITE, MKDIR, RM, DIRECTORY answer EINVAL", () => {
  const c = harness().socket();
  assert.equal(c.write("@foo", "v"), "ERROR EINVAL\0");
  assert.equal(c.read("@foo"), "ERROR EINVAL\0");
  assert.equal(c.read("@introduceDomain"), "ERROR EINVAL\0");
  assert.equal(c.read("@releaseDomain"), "ERROR EINVAL\0");
  assert.equal(c.mkdir("@x"), "ERROR EINVAL\0");
  assert.equal(c.rm("@x"), "ERROR EINVAL\0");
  assert.equal(c.rm("@releaseDomain"), "ERROR EINVAL\0");
  assert.equal(c.dir("@releaseDomain"), "ERROR EINVAL\0");
  assert.equal(c.dir("/"), "DIRECTORY tool\0");
});

// ---------------------------------------------------------------- argument parsing

test("one-argument ops need exactly one NUL, at the end (intended: cx 4.17 answers a stale errno)", () => {
  const c = harness().socket();
  c.write("/x", "v");
  for (const op of [Op.READ, Op.DIRECTORY, Op.GET_PERMS, Op.MKDIR, Op.RM]) {
    const name = Op[op];
    assert.equal(c.req(op, "/x"), "ERROR EINVAL\0", `${name}: no NUL`);
    assert.equal(c.req(op, "/x\0\0"), "ERROR EINVAL\0", `${name}: extra NUL`);
    assert.equal(c.req(op, "/x\0y\0"), "ERROR EINVAL\0", `${name}: extra argument`);
    assert.equal(c.req(op, "/x\0y"), "ERROR EINVAL\0", `${name}: bytes after the NUL`);
    assert.equal(c.req(op, ""), "ERROR EINVAL\0", `${name}: empty payload`);
  }
  assert.equal(c.read("/x"), "READ v", "nothing was removed");
  assert.equal(c.read("/x/y"), "ERROR ENOENT\0", "nothing was created");
});

test("an error reply does not disturb the connection: the next request is answered normally", () => {
  const c = harness().socket();
  assert.equal(c.req(Op.READ, "/x\0\0"), "ERROR EINVAL\0");
  assert.equal(c.write("/x", "v"), "WRITE OK\0");
  assert.equal(c.read("/x"), "READ v");
});
