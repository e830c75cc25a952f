/**
 * WATCH, UNWATCH, RESET_WATCHES and watch events: which changes fire which
 * watches, with what path, in what order, and when. Expectations follow C
 * xenstored 4.17 (checked against the real daemon) and, for the depth
 * argument and @introduceDomain/<domid>, @releaseDomain/<domid>, Xen 4.22.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Op, type Packet } from "../src/protocol/messages.js";
import type { Connection } from "../src/server/connection.js";
import { PacketParser } from "../src/protocol/parser.js";
import { encodePacket } from "../src/protocol/serializer.js";
import { describe, harness, type Probe } from "./helpers/inproc.js";

/** Events received so far as "path|token" (and forget them). */
function ev(p: Probe): string[] {
  return p.events().map((e) => `${e.path}|${e.token}`);
}

/** Every packet one request produced on its own connection, in order, as text (events consumed). */
function all(p: Probe, type: number, args: readonly string[] | string, tx = 0): string[] {
  const got = p.send(type, args, tx).map(describe);
  p.events();
  return got;
}

function watched(p: Probe, path: string, token: string, depth?: string): void {
  const args = depth === undefined ? [path, token] : [path, token, depth];
  assert.equal(p.req(Op.WATCH, args), "WATCH OK\0");
  assert.deepEqual(ev(p), [`${path}|${token}`], "initial event");
}

// ---------------------------------------------------------------- WATCH / UNWATCH basics

test("WATCH answers OK, then sends one initial event with the path and token", () => {
  const c = harness().socket();
  assert.deepEqual(all(c, Op.WATCH, ["/w", "tok"]), ["WATCH OK\0", "WATCH_EVENT /w\0tok\0"]);
});

test("the initial event is sent even when the watched node does not exist", () => {
  const c = harness().socket();
  assert.equal(c.read("/never/there"), "ERROR ENOENT\0");
  assert.deepEqual(all(c, Op.WATCH, ["/never/there", "t"]), ["WATCH OK\0", "WATCH_EVENT /never/there\0t\0"]);
});

test("a relative watch gets relative event paths, an absolute one absolute paths", () => {
  const h = harness();
  const c = h.socket();
  assert.deepEqual(all(c, Op.WATCH, ["rel", "tr"]), ["WATCH OK\0", "WATCH_EVENT rel\0tr\0"]);
  watched(c, "/local/domain/0", "tabs");
  c.write("rel/x", "v");
  assert.deepEqual(ev(c), ["rel/x|tr", "/local/domain/0/rel/x|tabs"]);
  c.write("/local/domain/0/rel/y", "v");
  assert.deepEqual(ev(c), ["rel/y|tr", "/local/domain/0/rel/y|tabs"]);
});

test("a guest's relative watch is relative to /local/domain/<domid>", () => {
  const h = harness();
  const c = h.socket();
  c.mkdir("/local/domain/5");
  c.setPerms("/local/domain/5", ["n5"]);
  const g = h.domain(5);
  assert.deepEqual(all(g, Op.WATCH, ["data", "t"]), ["WATCH OK\0", "WATCH_EVENT data\0t\0"]);
  c.write("/local/domain/5/data/x", "1");
  assert.deepEqual(ev(g), ["data/x|t"]);
});

test("UNWATCH removes a watch given by the same path and token; relative paths work too", () => {
  const c = harness().socket();
  watched(c, "/u", "t");
  watched(c, "rel", "r");
  assert.equal(c.unwatch("/u", "t"), "UNWATCH OK\0");
  assert.equal(c.unwatch("rel", "r"), "UNWATCH OK\0");
  c.write("/u", "v");
  c.write("rel", "v");
  assert.deepEqual(ev(c), []);
});

test("UNWATCH of an unknown watch is ENOENT (unknown token, unknown path, already removed)", () => {
  const c = harness().socket();
  watched(c, "/t", "T1");
  assert.equal(c.unwatch("/t", "T9"), "ERROR ENOENT\0");
  assert.equal(c.unwatch("/q", "T1"), "ERROR ENOENT\0");
  assert.equal(c.unwatch("/t", "T1"), "UNWATCH OK\0");
  assert.equal(c.unwatch("/t", "T1"), "ERROR ENOENT\0");
});

test("a watch belongs to its connection: another connection cannot UNWATCH it", () => {
  const h = harness();
  const a = h.socket();
  const b = h.socket();
  watched(a, "/w", "t");
  assert.equal(b.unwatch("/w", "t"), "ERROR ENOENT\0");
  b.write("/w", "v");
  assert.deepEqual(ev(a), ["/w|t"]);
});

test("a duplicate watch (same path and token) is EEXIST; a different token or path is fine", () => {
  const c = harness().socket();
  watched(c, "/t", "T1");
  assert.deepEqual(all(c, Op.WATCH, ["/t", "T1"]), ["ERROR EEXIST\0"]);
  watched(c, "/t", "T2");
  watched(c, "/t/a", "T1");
  // A relative path naming the same node is a duplicate too.
  watched(c, "/local/domain/0/r", "R");
  assert.equal(c.req(Op.WATCH, ["r", "R"]), "ERROR EEXIST\0");
});

test("WATCH and UNWATCH ignore the transaction id", () => {
  const c = harness().socket();
  assert.deepEqual(all(c, Op.WATCH, ["/u", "T"], 7), ["WATCH OK\0", "WATCH_EVENT /u\0T\0"]);
  assert.equal(c.req(Op.UNWATCH, ["/u", "T"], 9), "UNWATCH OK\0");
  const tx = c.start();
  assert.deepEqual(all(c, Op.WATCH, ["/v", "T"], tx), ["WATCH OK\0", "WATCH_EVENT /v\0T\0"]);
  // The watch is not part of the transaction: aborting it keeps the watch.
  assert.equal(c.end(tx, false), "TRANSACTION_END OK\0");
  c.write("/v", "x");
  assert.deepEqual(ev(c), ["/v|T"]);
});

test("WATCH argument errors: one string, four strings, missing NULs, bad path", () => {
  const c = harness().socket();
  assert.equal(c.req(Op.WATCH, ["/w"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.WATCH, ["/w", "t", "1", "x"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.WATCH, "/w\0t"), "ERROR EINVAL\0", "token without its NUL");
  assert.equal(c.req(Op.WATCH, ""), "ERROR EINVAL\0");
  assert.equal(c.req(Op.WATCH, ["/bad.path", "t"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.WATCH, ["/a//b", "t"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.WATCH, ["/" + "y".repeat(2048), "t"]), "ERROR EINVAL\0", "longer than path-max");
  assert.equal(c.req(Op.WATCH, ["@" + "y".repeat(2048), "t"]), "ERROR EINVAL\0", "@ path over 2048 characters");
  assert.deepEqual(ev(c), []);
});

test("UNWATCH argument errors: exactly two strings", () => {
  const c = harness().socket();
  watched(c, "/w", "t");
  assert.equal(c.req(Op.UNWATCH, ["/w"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.UNWATCH, ["/w", "t", "x"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.UNWATCH, "/w\0t"), "ERROR EINVAL\0");
  assert.equal(c.unwatch("/w", "t"), "UNWATCH OK\0");
});

test("a watch path may be up to path-max long; an @ path up to 2048 characters, any characters", () => {
  const c = harness().socket();
  watched(c, "/" + "y".repeat(2047), "t");
  watched(c, "@" + "y".repeat(2047), "t");
  watched(c, "@anything", "t");
});

test("RESET_WATCHES drops all the connection's watches, and only its own", () => {
  const h = harness();
  const a = h.socket();
  const b = h.socket();
  watched(a, "/v", "T");
  watched(a, "/v", "T2");
  watched(b, "/v", "B");
  assert.equal(a.req(Op.RESET_WATCHES, ""), "RESET_WATCHES OK\0");
  a.write("/v/w", "x");
  assert.deepEqual(ev(a), []);
  assert.deepEqual(ev(b), ["/v/w|B"]);
  // The same watch can be set again.
  watched(a, "/v", "T");
});

// ---------------------------------------------------------------- what fires

test("a watch fires for changes to the node and anything below it, not to siblings sharing a prefix", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/t", "T");
  c.write("/t", "v");
  c.write("/t/a/b", "v");
  c.write("/tx", "v");
  c.write("/u", "v");
  c.write("/", "root");
  assert.deepEqual(ev(w), ["/t|T", "/t/a/b|T"]);
});

test("a watch on / fires for every change", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/", "R");
  c.write("/a", "v");
  c.mkdir("/b/c");
  c.write("/", "v");
  assert.deepEqual(ev(w), ["/a|R", "/b/c|R", "/|R"]);
});

test("depth 0 watches only the node itself", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/a", "D0", "0");
  c.write("/a/b", "v");
  c.write("/a", "v");
  c.write("/a/b/c", "v");
  assert.deepEqual(ev(w), ["/a|D0"]);
});

test("depth 1 watches the node and its children, not grandchildren", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/a", "D1", "1");
  c.write("/a", "v");
  c.write("/a/b", "v");
  c.write("/a/b/c", "v");
  c.write("/ab", "v");
  assert.deepEqual(ev(w), ["/a|D1", "/a/b|D1"]);
});

test("depth 2, and depth on / (children of / are one level down)", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/a", "D2", "2");
  watched(w, "/", "R1", "1");
  c.write("/a/b/c", "v");
  c.write("/a/b/c/d", "v");
  c.write("/x", "v");
  c.write("/x/y", "v");
  assert.deepEqual(ev(w), ["/a/b/c|D2", "/x|R1"]);
});

test("the depth argument is parsed with atoi: junk is 0, negative EINVAL", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/a", "J", "abc");
  watched(w, "/b", "K", "1x");
  assert.equal(w.req(Op.WATCH, ["/c", "N", "-1"]), "ERROR EINVAL\0");
  assert.deepEqual(ev(w), []);
  c.write("/a/x", "v");
  c.write("/a", "v");
  c.write("/b/x", "v");
  c.write("/b/x/y", "v");
  assert.deepEqual(ev(w), ["/a|J", "/b/x|K"]);
});

test("WRITE fires for the written path only, also for a same-value write", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/", "R");
  c.write("/p/q/r", "v"); // /p and /p/q are created implicitly: no events for them
  c.write("/p/q/r", "v");
  assert.deepEqual(ev(w), ["/p/q/r|R", "/p/q/r|R"]);
});

test("MKDIR fires for a new node only; MKDIR of an existing node fires nothing", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/m", "M");
  c.mkdir("/m/n/o");
  assert.deepEqual(ev(w), ["/m/n/o|M"]);
  c.mkdir("/m/n/o");
  c.mkdir("/m/n");
  c.mkdir("/m");
  assert.deepEqual(ev(w), []);
});

test("SET_PERMS fires for the node", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  c.write("/s/t", "v");
  watched(w, "/s", "S");
  watched(w, "/s/t", "T");
  assert.equal(c.setPerms("/s/t", ["n0", "r3"]), "SET_PERMS OK\0");
  assert.deepEqual(ev(w), ["/s/t|S", "/s/t|T"]);
});

test("failed requests fire nothing", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/", "R");
  c.write("/bad.path", "v");
  c.rm("/nope/x");
  c.rm("/");
  c.setPerms("/nope", ["n0"]);
  c.setPerms("/tool", ["x0"]);
  assert.deepEqual(ev(w), []);
});

test("RM of a missing node fires nothing", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  c.mkdir("/m");
  watched(w, "/", "R");
  watched(w, "/m/zz", "Z");
  assert.equal(c.rm("/m/zz"), "RM OK\0");
  assert.deepEqual(ev(w), []);
});

test("RM fires deepest first: each removed descendant to watches exactly on it, the node to watches on it and above", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  c.write("/t/a/b/c/e", "v");
  watched(w, "/t", "T1");
  watched(w, "/t/a", "T2");
  watched(w, "/t/a/b", "T3");
  watched(w, "/t/never/below", "T4"); // never existed
  watched(w, "/t/a/b/c/e", "T6");
  watched(w, "/t/a/b/c/e/f", "T7"); // below the removed subtree, never existed
  assert.equal(c.rm("/t/a"), "RM OK\0");
  assert.deepEqual(ev(w), ["/t/a/b/c/e|T6", "/t/a/b|T3", "/t/a|T1", "/t/a|T2"]);
  assert.equal(c.rm("/t/a"), "RM OK\0");
  assert.deepEqual(ev(w), []);
  assert.equal(c.rm("/t"), "RM OK\0");
  assert.deepEqual(ev(w), ["/t|T1"]);
});

test("RM: a watch with a depth on an ancestor sees the removed node only within its depth", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  c.write("/r/a/b", "v");
  watched(w, "/r", "D0", "0");
  watched(w, "/r", "D1", "1");
  assert.equal(c.rm("/r/a/b"), "RM OK\0");
  assert.deepEqual(ev(w), []);
  assert.equal(c.rm("/r/a"), "RM OK\0");
  assert.deepEqual(ev(w), ["/r/a|D1"]);
  assert.equal(c.rm("/r"), "RM OK\0");
  assert.deepEqual(ev(w), ["/r|D0", "/r|D1"]);
});

// ---------------------------------------------------------------- when events arrive

test("events caused by a request come after its reply on the same connection (intended; cx sends them first)", () => {
  const c = harness().socket();
  watched(c, "/x", "X");
  assert.deepEqual(all(c, Op.WRITE, "/x/y\0v"), ["WRITE OK\0", "WATCH_EVENT /x/y\0X\0"]);
  assert.deepEqual(all(c, Op.MKDIR, ["/x/z"]), ["MKDIR OK\0", "WATCH_EVENT /x/z\0X\0"]);
  assert.deepEqual(all(c, Op.SET_PERMS, ["/x/z", "n0"]), ["SET_PERMS OK\0", "WATCH_EVENT /x/z\0X\0"]);
  assert.deepEqual(all(c, Op.RM, ["/x"]), ["RM OK\0", "WATCH_EVENT /x\0X\0"]);
});

test("a transaction's events are fired at a successful commit only, after the commit's reply", () => {
  const h = harness();
  const a = h.socket();
  const w = h.socket();
  watched(w, "/x", "W");
  watched(a, "/x", "A");
  const tx = a.start();
  assert.equal(a.write("/x/y", "1", tx), "WRITE OK\0");
  assert.equal(a.mkdir("/x/z", tx), "MKDIR OK\0");
  assert.deepEqual(ev(w), []);
  assert.deepEqual(ev(a), []);
  assert.deepEqual(all(a, Op.TRANSACTION_END, ["T"], tx), ["TRANSACTION_END OK\0", "WATCH_EVENT /x/y\0A\0", "WATCH_EVENT /x/z\0A\0"]);
  assert.deepEqual(ev(w), ["/x/y|W", "/x/z|W"]);
});

test("an aborted transaction fires nothing", () => {
  const h = harness();
  const a = h.socket();
  const w = h.socket();
  watched(w, "/x", "W");
  const tx = a.start();
  a.write("/x/y", "1", tx);
  a.rm("/x", tx);
  assert.equal(a.end(tx, false), "TRANSACTION_END OK\0");
  assert.deepEqual(ev(w), []);
});

test("a transaction failing with EAGAIN fires nothing", () => {
  const h = harness();
  const a = h.socket();
  const b = h.socket();
  const w = h.socket();
  a.write("/x/y", "v0");
  watched(w, "/x", "W");
  const tx = a.start();
  assert.equal(a.read("/x/y", tx), "READ v0");
  b.write("/x/y", "other");
  assert.deepEqual(ev(w), ["/x/y|W"]);
  a.write("/x/y", "mine", tx);
  a.write("/x/new", "n", tx);
  assert.equal(a.end(tx), "ERROR EAGAIN\0");
  assert.deepEqual(ev(w), []);
  assert.equal(a.read("/x/y"), "READ other");
});

test("a transaction touching one node several times fires one event for it", () => {
  const h = harness();
  const a = h.socket();
  const w = h.socket();
  a.write("/x/y/z", "v");
  watched(w, "/x", "W");
  const tx = a.start();
  a.write("/x/y/z", "v2", tx);
  a.write("/x/y/z", "v3", tx);
  a.rm("/x/y/z", tx);
  a.write("/x/y/z", "v4", tx);
  a.setPerms("/x/y/z", ["n0", "r1"], tx);
  assert.equal(a.end(tx), "TRANSACTION_END OK\0");
  assert.deepEqual(ev(w), ["/x/y/z|W"]);
});

test("removing a subtree in a transaction fires for the removed node at commit", () => {
  const h = harness();
  const a = h.socket();
  const w = h.socket();
  a.write("/x/y/z", "v");
  watched(w, "/x/y", "A");
  watched(w, "/x", "B");
  watched(w, "/", "C");
  const tx = a.start();
  a.mkdir("/x/y/n/m", tx);
  a.rm("/x/y", tx);
  assert.deepEqual(ev(w), []);
  assert.equal(a.end(tx), "TRANSACTION_END OK\0");
  assert.deepEqual(ev(w), ["/x/y|A", "/x/y|B", "/x/y|C"]);
});

// ---------------------------------------------------------------- delivery order and suppression

test("one connection's events for one change come in watch registration order", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/x/y", "A");
  watched(w, "/x", "B");
  watched(w, "/", "C");
  c.write("/x/y/z", "v");
  assert.deepEqual(ev(w), ["/x/y/z|A", "/x/y/z|B", "/x/y/z|C"]);
});

test("events are delivered connection by connection, in the order the connections were made", () => {
  const order: string[] = [];
  const seqName = new Map<number, string>();
  const h = harness({
    trace: (conn: Connection, dir: "IN" | "OUT", p: Packet) => {
      if (dir === "OUT" && p.type === Op.WATCH_EVENT) order.push(`${seqName.get(conn.seq)}:${p.payload.toString("latin1").split("\0")[1]}`);
    },
  });
  const first = h.socket();
  const second = h.socket();
  const third = h.socket();
  seqName.set(first.conn.seq, "first");
  seqName.set(second.conn.seq, "second");
  seqName.set(third.conn.seq, "third");
  // Registered in the opposite order of the connections.
  watched(third, "/o", "t3");
  watched(second, "/o", "t2");
  watched(first, "/o", "t1a");
  watched(first, "/", "t1b");
  order.length = 0;
  third.write("/o/p", "v");
  assert.deepEqual(order, ["first:t1a", "first:t1b", "second:t2", "third:t3"]);
});

test("an event identical to one still queued for the connection is dropped (same token on /d and /d/e)", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/d", "same");
  watched(w, "/d/e", "same");
  c.write("/d/e", "v");
  assert.deepEqual(ev(w), ["/d/e|same"]);
  c.write("/d/e/f", "v");
  assert.deepEqual(ev(w), ["/d/e/f|same"]);
  c.write("/d", "v");
  assert.deepEqual(ev(w), ["/d|same"]);
  // Once delivered, the same event can come again for the next change.
  c.write("/d/e", "v2");
  assert.deepEqual(ev(w), ["/d/e|same"]);
});

test("a client that does not read its events: while its socket is full they wait in the daemon, where duplicates are dropped", () => {
  const h = harness();
  const writer = h.socket();
  // Like a socket: the write that fills it is taken whole, later ones not at all until it drains.
  let full = false;
  let refusing = false;
  const got: Buffer[] = [];
  const w = h.x.connect("socket", 0, {
    write: (d) => {
      if (refusing) return 0;
      got.push(d);
      if (full) refusing = true;
      return d.length;
    },
    close: () => undefined,
  });
  const send = (type: Op, ...args: string[]): void => h.x.pipeline.receive(w, encodePacket(type, 1, 0, Buffer.from(args.map((a) => `${a}\0`).join(""), "latin1")));
  send(Op.WATCH, "/dup", "tok");
  full = true;
  writer.write("/dup", "1"); // handed to the socket, which is now full
  for (let i = 2; i <= 50; i++) writer.write("/dup", String(i));
  writer.write("/dup/other", "x");
  writer.write("/dup", "last");
  const events = (): string[] =>
    new PacketParser()
      .push(Buffer.concat(got.splice(0)))
      .filter((p) => p.type === Op.WATCH_EVENT)
      .map((p) => p.payload.toString("latin1"));
  assert.deepEqual(events(), ["/dup\0tok\0", "/dup\0tok\0"], "the initial event and the first change's");
  full = refusing = false;
  h.x.pipeline.drained(w);
  assert.deepEqual(events(), ["/dup\0tok\0", "/dup/other\0tok\0"], "one /dup for 50 changes while it waited");
  writer.write("/dup", "again");
  assert.deepEqual(events(), ["/dup\0tok\0"], "delivered again once flowing");
});

test("duplicate suppression is per connection: other connections get their own copy", () => {
  const h = harness();
  const c = h.socket();
  const w1 = h.socket();
  const w2 = h.socket();
  watched(w1, "/d", "same");
  watched(w1, "/d/e", "same");
  watched(w2, "/d", "same");
  c.write("/d/e", "v");
  assert.deepEqual(ev(w1), ["/d/e|same"]);
  assert.deepEqual(ev(w2), ["/d/e|same"]);
});

test("special (@) events are never suppressed as duplicates", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "@introduceDomain/5", "X");
  watched(w, "@introduceDomain", "X", "1");
  assert.equal(c.req(Op.INTRODUCE, ["5", "0", "1"]), "INTRODUCE OK\0");
  assert.deepEqual(ev(w), ["@introduceDomain/5|X", "@introduceDomain/5|X"]);
});

test("an event longer than 4096 bytes is dropped; exactly 4096 is delivered", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  const token = "T".repeat(2990);
  watched(w, "/", token);
  watched(w, "/", "short");
  c.write("/" + "x".repeat(1103), "v"); // 1104 + 1 + 2990 + 1 = 4096
  assert.deepEqual(
    w.events().map((e) => [e.path.length, e.token.length]),
    [
      [1104, 2990],
      [1104, 5],
    ],
  );
  c.write("/" + "y".repeat(1104), "v"); // 4097: only the short token's event
  assert.deepEqual(
    w.events().map((e) => [e.path.length, e.token]),
    [[1105, "short"]],
  );
});

// ---------------------------------------------------------------- special watches

test("INTRODUCE fires @introduceDomain; depth watchers get @introduceDomain/<domid>", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "@introduceDomain", "plain");
  watched(w, "@introduceDomain", "d1", "1");
  watched(w, "@introduceDomain", "d0", "0");
  watched(w, "@introduceDomain/5", "five");
  watched(w, "@introduceDomain/6", "six");
  assert.equal(c.req(Op.INTRODUCE, ["5", "0", "1"]), "INTRODUCE OK\0");
  assert.deepEqual(ev(w), ["@introduceDomain|plain", "@introduceDomain/5|d1", "@introduceDomain/5|five"]);
});

test("re-INTRODUCE of an introduced domain fires nothing", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "@introduceDomain", "I");
  c.req(Op.INTRODUCE, ["5", "0", "1"]);
  assert.deepEqual(ev(w), ["@introduceDomain|I"]);
  assert.equal(c.req(Op.INTRODUCE, ["5", "0", "2"]), "INTRODUCE OK\0");
  assert.deepEqual(ev(w), []);
});

test("RELEASE fires @releaseDomain; depth watchers and @releaseDomain/<domid> watchers get @releaseDomain/<domid>", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  c.req(Op.INTRODUCE, ["5", "0", "1"]);
  watched(w, "@releaseDomain", "plain");
  watched(w, "@releaseDomain", "d1", "1");
  watched(w, "@releaseDomain/5", "five");
  watched(w, "@releaseDomain/6", "six");
  assert.deepEqual(all(c, Op.RELEASE, ["5"]), ["RELEASE OK\0"]);
  assert.deepEqual(ev(w), ["@releaseDomain|plain", "@releaseDomain/5|d1", "@releaseDomain/5|five"]);
});

test("a watch on / does not see special events", () => {
  const h = harness();
  const c = h.socket();
  const w = h.socket();
  watched(w, "/", "R");
  c.req(Op.INTRODUCE, ["5", "0", "1"]);
  c.req(Op.RELEASE, ["5"]);
  assert.deepEqual(ev(w), []);
});

test("the special event on the requesting connection comes after the reply", () => {
  const c = harness().socket();
  watched(c, "@introduceDomain", "I");
  assert.deepEqual(all(c, Op.INTRODUCE, ["5", "0", "1"]), ["INTRODUCE OK\0", "WATCH_EVENT @introduceDomain\0I\0"]);
});
