/**
 * Per-domain quotas (cx tools/xenstored/domain.c `quotas`, core.c
 * `create_node`/`write_node_raw`/`do_set_perms`, transaction.c, watch.c):
 * nodes, node-size, watches, transactions, transaction-nodes,
 * node-permissions, path-max and outstanding, their per-domain overrides,
 * their reset when a domain goes away, and that they never bind dom0 or
 * another privileged domain.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Op } from "../src/protocol/messages.js";
import { Quotas, type QuotaName } from "../src/quota/quotas.js";
import { harness, type Harness, type Probe } from "./helpers/inproc.js";

const OK = (op: string): string => `${op} OK\0`;
const ERR = (errno: string): string => `ERROR ${errno}\0`;

function setup(limits: Partial<Record<QuotaName, number>>, opts: Parameters<typeof harness>[0] = {}): { h: Harness; d0: Probe; quotas: Quotas } {
  const quotas = new Quotas();
  for (const [name, value] of Object.entries(limits)) quotas.set(name as QuotaName, value);
  const h = harness({ ...opts, quotas });
  return { h, d0: h.socket(), quotas };
}

/** dom0 creates a guest's home with the given ACL (default: dom0-owned, guest has b). */
function home(d0: Probe, domid: number, perms: readonly string[] = ["n0", `b${domid}`]): void {
  assert.equal(d0.mkdir(`/local/domain/${domid}`), OK("MKDIR"));
  assert.equal(d0.setPerms(`/local/domain/${domid}`, perms), OK("SET_PERMS"));
}

function startReply(p: Probe, tx = 0): string {
  return p.req(Op.TRANSACTION_START, [""], tx);
}

// ---------------------------------------------------------------- nodes

test("nodes: a guest may own `nodes` nodes; a path needs room for all its missing parents", () => {
  const { h, d0 } = setup({ nodes: 5 });
  home(d0, 5);
  const g5 = h.domain(5);
  assert.equal(g5.write("a/b/c/d/e/f", "v"), ERR("ENOSPC"), "6 new nodes, room for 5");
  assert.equal(g5.read("a"), ERR("ENOENT"), "nothing was left behind");
  assert.equal(g5.write("a/b/c/d/e", "v"), OK("WRITE"), "5 new nodes");
  assert.equal(g5.write("x", "1"), ERR("ENOSPC"));
  assert.equal(g5.mkdir("y"), ERR("ENOSPC"));
  assert.equal(g5.write("a", "rewrite"), OK("WRITE"), "changing an existing node creates nothing");
  assert.equal(g5.mkdir("a/b"), OK("MKDIR"), "MKDIR of an existing node creates nothing");
  assert.equal(g5.rm("a/b/c/d/e"), OK("RM"));
  assert.equal(g5.write("x", "1"), OK("WRITE"));
  assert.equal(g5.write("z", "1"), ERR("ENOSPC"));
  assert.equal(g5.rm("a/b/c"), OK("RM"), "owns a, a/b and x");
  assert.equal(g5.write("p/q/r", "1"), ERR("ENOSPC"), "3 + 3 > 5");
  assert.equal(g5.write("p/q", "1"), OK("WRITE"), "3 + 2 = 5");
  assert.equal(g5.write("r", "1"), ERR("ENOSPC"));
  // Other guests have their own count.
  home(d0, 6);
  assert.equal(h.domain(6).write("a/b/c/d/e", "v"), OK("WRITE"));
});

test("nodes: the count is of nodes the domain OWNS, whoever created them", () => {
  const { h, d0 } = setup({ nodes: 3 });
  home(d0, 5);
  const g5 = h.domain(5);
  assert.equal(d0.mkdir("/local/domain/5/x"), OK("MKDIR"));
  assert.equal(d0.setPerms("/local/domain/5/x", ["n5"]), OK("SET_PERMS"));
  assert.equal(d0.write("/local/domain/5/x/y", "by dom0"), OK("WRITE"), "inherits owner 5");
  assert.equal(g5.write("z", "1"), OK("WRITE"), "owns 3 now");
  assert.equal(g5.write("w", "1"), ERR("ENOSPC"));
  assert.equal(d0.write("/local/domain/5/x/v", "dom0 is not limited"), OK("WRITE"));
  assert.equal(g5.write("w", "1"), ERR("ENOSPC"));
  assert.equal(g5.rm("x"), OK("RM"), "removes x, x/y and x/v: owns 1");
  assert.equal(g5.write("w", "1"), OK("WRITE"));
  assert.equal(g5.write("u", "1"), OK("WRITE"));
  assert.equal(g5.write("t", "1"), ERR("ENOSPC"));
  // Handing a node to dom0 frees the slot.
  assert.equal(d0.setPerms("/local/domain/5/u", ["n0", "b5"]), OK("SET_PERMS"));
  assert.equal(g5.write("t", "1"), OK("WRITE"));
});

test("nodes in a transaction: checked against committed counts, and again at commit", () => {
  const { h, d0 } = setup({ nodes: 4 });
  home(d0, 5);
  const g5 = h.domain(5);
  assert.equal(g5.write("a", "1"), OK("WRITE"), "owns 1");
  // Inside the transaction only the committed count (1) matters...
  const t1 = g5.start();
  for (const n of ["b", "c", "d", "e", "f"]) assert.equal(g5.write(n, "1", t1), OK("WRITE"), n);
  // ...but the commit sees 1 + 5 > 4.
  assert.equal(g5.end(t1), ERR("ENOSPC"));
  assert.equal(g5.read("b"), ERR("ENOENT"));
  const t2 = g5.start();
  assert.equal(g5.write("b", "1", t2), OK("WRITE"));
  assert.equal(g5.write("c", "1", t2), OK("WRITE"));
  assert.equal(g5.end(t2), OK("TRANSACTION_END"), "1 + 2 is within the quota");
  assert.equal(g5.read("c"), "READ 1");
  assert.equal(g5.write("d", "1"), OK("WRITE"), "owns 4");
  const t3 = g5.start();
  assert.equal(g5.write("e", "1", t3), ERR("ENOSPC"), "committed count already at the quota");
  assert.equal(g5.mkdir("e/f", t3), ERR("ENOSPC"));
  assert.equal(g5.write("a", "2", t3), OK("WRITE"), "the transaction is still usable");
  assert.equal(g5.end(t3), OK("TRANSACTION_END"));
  assert.equal(g5.read("a"), "READ 2");
  assert.equal(g5.read("e"), ERR("ENOENT"));
});

test("nodes: a dom0 transaction creating nodes owned by a guest over its quota still commits", () => {
  // cx transaction.c:535: the commit-time quota check is made only for
  // unprivileged connections (chk_quota = node_created && domain_is_unprivileged(conn)).
  // (cx 4.17 checked every changed unprivileged domain whoever committed,
  // xenstored_transaction.c:519-528.)
  const { h, d0 } = setup({ nodes: 2 });
  home(d0, 5, ["n5"]);
  const g5 = h.domain(5);
  assert.equal(g5.write("a", "1"), OK("WRITE"), "owns 2 (home and a)");
  assert.equal(g5.write("b", "1"), ERR("ENOSPC"));
  assert.equal(d0.write("/local/domain/5/direct", "1"), OK("WRITE"), "dom0 outside a transaction");
  const tx = d0.start();
  assert.equal(d0.write("/local/domain/5/c", "1", tx), OK("WRITE"));
  assert.equal(d0.write("/local/domain/5/d", "1", tx), OK("WRITE"));
  assert.equal(d0.end(tx), OK("TRANSACTION_END"));
  assert.equal(d0.perms("/local/domain/5/d"), "GET_PERMS n5\0");
});

// ---------------------------------------------------------------- node-size

test("node-size: 24 + 8*#perms + value + child list >= limit is ENOSPC", () => {
  const { h, d0 } = setup({ "node-size": 100 });
  home(d0, 5, ["n5"]);
  const g5 = h.domain(5);
  // A new leaf with one ACL entry: 24 + 8 + value.
  assert.equal(g5.write("v", "x".repeat(67)), OK("WRITE"), "99 bytes");
  assert.equal(g5.write("w", "x".repeat(68)), ERR("ENOSPC"), "100 bytes");
  assert.equal(g5.read("w"), ERR("ENOENT"));
  // Rewriting an existing node.
  assert.equal(g5.write("v", "x".repeat(68)), ERR("ENOSPC"));
  assert.equal(g5.read("v"), `READ ${"x".repeat(67)}`);
  assert.equal(g5.write("v", "x".repeat(60)), OK("WRITE"), "92 bytes");
  // A second ACL entry costs 8 bytes.
  assert.equal(g5.setPerms("v", ["n5", "r6"]), ERR("ENOSPC"), "24 + 16 + 60 = 100");
  assert.equal(g5.write("v", "x".repeat(59)), OK("WRITE"));
  assert.equal(g5.setPerms("v", ["n5", "r6"]), OK("SET_PERMS"), "99 bytes");
  assert.equal(g5.write("v", "x".repeat(60)), ERR("ENOSPC"));
  // A new node inheriting two entries: 24 + 16 + value.
  assert.equal(g5.mkdir("two"), OK("MKDIR"));
  assert.equal(g5.setPerms("two", ["n5", "r6"]), OK("SET_PERMS"));
  assert.equal(g5.write("two/a", "x".repeat(60)), ERR("ENOSPC"));
  assert.equal(g5.write("two/a", "x".repeat(59)), OK("WRITE"));
  // dom0 is not limited.
  assert.equal(d0.write("/local/domain/5/big", "x".repeat(3000)), OK("WRITE"));
  assert.equal(d0.setPerms("/local/domain/5/big", ["n5", "r6"]), OK("SET_PERMS"));
});

test("node-size: adding a child grows the parent's child list", () => {
  const { h, d0 } = setup({ "node-size": 100 });
  home(d0, 5, ["n5"]);
  const g5 = h.domain(5);
  assert.equal(g5.mkdir("d"), OK("MKDIR"), "32 bytes");
  assert.equal(g5.mkdir(`d/${"c".repeat(66)}`), OK("MKDIR"), "d: 32 + 67 = 99");
  assert.equal(g5.mkdir("d/e"), ERR("ENOSPC"), "d would be 101");
  assert.equal(g5.write("d/e", ""), ERR("ENOSPC"));
  assert.equal(g5.dir("d"), `DIRECTORY ${"c".repeat(66)}\0`);
  assert.equal(g5.mkdir("d2"), OK("MKDIR"));
  assert.equal(g5.mkdir(`d2/${"c".repeat(67)}`), ERR("ENOSPC"), "d2 would be exactly 100");
  assert.equal(g5.dir("d2"), "DIRECTORY ");
  // Removing a child shrinks it again.
  assert.equal(g5.rm(`d/${"c".repeat(66)}`), OK("RM"));
  assert.equal(g5.mkdir("d/e"), OK("MKDIR"));
  // dom0 may grow it beyond the limit.
  assert.equal(d0.mkdir(`/local/domain/5/d/${"c".repeat(90)}`), OK("MKDIR"));
});

test("node-size: a new intermediate node's child list counts too", () => {
  // cx create_node writes every new node (core.c:1548-1557, write_node →
  // write_node_raw's ACC_NODESZ check, core.c:830): the new parent "m"
  // holds the child name, 24 + 8 + 68 = 100 bytes.
  const { h, d0 } = setup({ "node-size": 100 });
  home(d0, 5, ["n5"]);
  const g5 = h.domain(5);
  assert.equal(g5.mkdir(`m/${"c".repeat(67)}`), ERR("ENOSPC"));
  assert.equal(g5.read("m"), ERR("ENOENT"));
  assert.equal(g5.mkdir(`m/${"c".repeat(66)}`), OK("MKDIR"), "m: 99 bytes");
});

test("node-size or memory refused inside a transaction fails the transaction: committing it is ENOMEM (cx fail_transaction)", () => {
  const { h, d0, quotas } = setup({ "node-size": 100 });
  home(d0, 5, ["n5"]);
  const g5 = h.domain(5);
  assert.equal(g5.write("v", "x".repeat(40)), OK("WRITE"), "72 bytes");
  quotas.set("memory", h.x.memory.of(5) + 60, 5);
  // An existing node rewritten too big, a new node too big, perms too big: each fails the transaction.
  for (const step of [
    (tx: number) => g5.write("v", "x".repeat(80), tx),
    (tx: number) => g5.write("new", "x".repeat(80), tx),
    (tx: number) => g5.setPerms("v", ["n5", "r1", "r2", "r3", "r4"], tx), // 24 + 5 * 8 + 40 = 104
    // Memory: 60 bytes left for domain 5; a new node of 24 + 8 + 60 + its path.
    (tx: number) => g5.write("m", "y".repeat(60), tx),
  ]) {
    const tx = g5.start();
    assert.equal(g5.write("ok", "fine", tx), OK("WRITE"));
    assert.match(step(tx), /^ERROR (ENOSPC|EIO)\0$/, `step ${step}`);
    assert.equal(g5.end(tx), ERR("ENOMEM"));
    assert.equal(g5.read("ok"), ERR("ENOENT"), "nothing of it committed");
    assert.equal(g5.end(tx), ERR("ENOENT"), "and it is gone");
  }
  // A check made before the node is touched does not: too many ACL entries (quota node-permissions).
  const tx = g5.start();
  assert.equal(g5.setPerms("v", ["n5", "r1", "r2", "r3", "r4", "r6", "r7"], tx), ERR("ENOSPC"));
  assert.equal(g5.write("ok", "fine", tx), OK("WRITE"));
  assert.equal(g5.end(tx), OK("TRANSACTION_END"));
  assert.equal(g5.read("ok"), "READ fine");
});

// ---------------------------------------------------------------- watches

test("watches: exactly `watches` watches, then ENOSPC", () => {
  const { h, d0 } = setup({ watches: 3 });
  const g5 = h.domain(5);
  assert.equal(g5.watch("a", "t"), OK("WATCH"));
  assert.equal(g5.watch("b", "t"), OK("WATCH"));
  assert.equal(g5.watch("/c", "t"), OK("WATCH"));
  g5.events();
  assert.equal(g5.watch("d", "t"), ERR("ENOSPC"));
  assert.deepEqual(g5.events(), [], "no initial event for a refused watch");
  assert.equal(g5.watch("a", "u"), ERR("ENOSPC"), "same path, other token: another watch");
  assert.equal(g5.watch("a", "t"), ERR("EEXIST"), "duplicates are detected first");
  assert.equal(g5.unwatch("a", "t"), OK("UNWATCH"));
  assert.equal(g5.watch("d", "t"), OK("WATCH"));
  assert.equal(g5.watch("e", "t"), ERR("ENOSPC"));
  assert.equal(g5.req(Op.RESET_WATCHES, Buffer.alloc(0)), OK("RESET_WATCHES"));
  for (const p of ["x", "y", "z"]) assert.equal(g5.watch(p, "t"), OK("WATCH"));
  assert.equal(g5.watch("w", "t"), ERR("ENOSPC"));
  // Special watches count the same.
  const g6 = h.domain(6);
  assert.equal(g6.watch("@releaseDomain", "r"), OK("WATCH"));
  assert.equal(g6.watch("@introduceDomain", "i"), OK("WATCH"));
  assert.equal(g6.watch("a", "t"), OK("WATCH"));
  assert.equal(g6.watch("b", "t"), ERR("ENOSPC"));
  // dom0 is not limited.
  for (let i = 0; i < 10; i++) assert.equal(d0.watch(`/w${i}`, "t"), OK("WATCH"));
});

test("watches: the default quota is 128", () => {
  const { h } = setup({});
  const g5 = h.domain(5);
  for (let i = 0; i < 128; i++) assert.equal(g5.watch(`/w${i}`, "t"), OK("WATCH"), `watch ${i}`);
  assert.equal(g5.watch("/w128", "t"), ERR("ENOSPC"));
});

// ---------------------------------------------------------------- transactions

test("transactions: at most `transactions` open at once, then ENOSPC", () => {
  const { h, d0 } = setup({ transactions: 2 });
  const g5 = h.domain(5);
  assert.equal(startReply(g5), "TRANSACTION_START 1\0");
  assert.equal(startReply(g5), "TRANSACTION_START 2\0");
  assert.equal(startReply(g5), ERR("ENOSPC"));
  assert.equal(g5.end(1, false), OK("TRANSACTION_END"));
  assert.equal(startReply(g5), "TRANSACTION_START 3\0");
  assert.equal(startReply(g5), ERR("ENOSPC"));
  assert.equal(g5.end(2, true), OK("TRANSACTION_END"));
  assert.equal(g5.end(3, true), OK("TRANSACTION_END"));
  assert.equal(startReply(g5), "TRANSACTION_START 4\0");
  // dom0 is not limited.
  for (let i = 1; i <= 5; i++) assert.equal(startReply(d0), `TRANSACTION_START ${i}\0`);
});

test("transactions: the default quota is 10", () => {
  const { h } = setup({});
  const g5 = h.domain(5);
  for (let i = 1; i <= 10; i++) assert.equal(startReply(g5), `TRANSACTION_START ${i}\0`);
  assert.equal(startReply(g5), ERR("ENOSPC"));
});

// ---------------------------------------------------------------- transaction-nodes

test("transaction-nodes: accessing one node too many is ENOSPC, and the commit then ENOMEM", () => {
  const { h, d0 } = setup({ "transaction-nodes": 3 });
  home(d0, 5);
  for (const n of ["a", "b", "c", "d"]) assert.equal(d0.write(`/local/domain/5/${n}`, n), OK("WRITE"));
  const g5 = h.domain(5);
  const t1 = g5.start();
  assert.equal(g5.read("a", t1), "READ a");
  assert.equal(g5.read("b", t1), "READ b");
  assert.equal(g5.read("c", t1), "READ c");
  assert.equal(g5.read("a", t1), "READ a", "already accessed: no new node");
  assert.equal(g5.read("d", t1), ERR("ENOSPC"));
  assert.equal(g5.read("c", t1), "READ c", "accessed nodes stay readable");
  assert.equal(g5.end(t1), ERR("ENOMEM"));
  // Aborting such a transaction is fine.
  const t2 = g5.start();
  for (const n of ["a", "b", "c"]) assert.equal(g5.read(n, t2), `READ ${n}`);
  assert.equal(g5.write("d", "D", t2), ERR("ENOSPC"));
  assert.equal(g5.end(t2, false), OK("TRANSACTION_END"));
  assert.equal(g5.read("d"), "READ d");
  // Within the limit the commit succeeds.
  const t3 = g5.start();
  for (const n of ["a", "b", "c"]) assert.equal(g5.read(n, t3), `READ ${n}`);
  assert.equal(g5.end(t3), OK("TRANSACTION_END"));
  // dom0 is not limited.
  const t4 = d0.start();
  for (const n of ["a", "b", "c", "d"]) assert.equal(d0.write(`/local/domain/5/${n}`, "z", t4), OK("WRITE"));
  assert.equal(d0.end(t4), OK("TRANSACTION_END"));
  assert.equal(g5.read("d"), "READ z");
});

test("transaction-nodes: a WRITE of an existing node accesses just that node, as in cx", () => {
  // cx 4.17 do_write: get_node → read_node(name) and write_node(node) call
  // access_node for the node itself only (xenstored_core.c:1532-1555,
  // read_node 706-776, xenstored_transaction.c:257-305); ancestors are not
  // read, so they do not count against transaction-nodes.
  const { h, d0 } = setup({ "transaction-nodes": 3 });
  home(d0, 5);
  for (const n of ["a", "b", "c", "d"]) assert.equal(d0.write(`/local/domain/5/${n}`, n), OK("WRITE"));
  const g5 = h.domain(5);
  const tx = g5.start();
  assert.equal(g5.write("a", "A", tx), OK("WRITE"));
  assert.equal(g5.read("b", tx), "READ b");
  assert.equal(g5.write("b", "B", tx), OK("WRITE"), "already accessed");
  assert.equal(g5.write("c", "C", tx), OK("WRITE"));
  assert.equal(g5.write("d", "D", tx), ERR("ENOSPC"), "the fourth node");
  assert.equal(g5.end(tx), ERR("ENOMEM"));
  const t2 = g5.start();
  for (const n of ["a", "b", "c"]) assert.equal(g5.write(n, n.toUpperCase(), t2), OK("WRITE"));
  assert.equal(g5.end(t2), OK("TRANSACTION_END"));
  assert.equal(g5.read("c"), "READ C");
});

// ---------------------------------------------------------------- node-permissions

test("node-permissions: more entries than the quota from a guest is ENOSPC", () => {
  const { h, d0 } = setup({ "node-permissions": 2 });
  home(d0, 5, ["n5"]);
  const g5 = h.domain(5);
  assert.equal(g5.setPerms("/local/domain/5", ["n5", "r6"]), OK("SET_PERMS"));
  assert.equal(g5.setPerms("/local/domain/5", ["n5", "r6", "r7"]), ERR("ENOSPC"));
  assert.equal(d0.perms("/local/domain/5"), "GET_PERMS n5\0r6\0");
  assert.equal(d0.setPerms("/local/domain/5", ["n5", "r6", "r7", "r8"]), OK("SET_PERMS"));
  // A per-domain override.
  assert.equal(d0.req(Op.SET_QUOTA, ["5", "node-permissions", "1"]), OK("SET_QUOTA"));
  assert.equal(g5.setPerms("/local/domain/5", ["n5", "r6"]), ERR("ENOSPC"));
  assert.equal(g5.setPerms("/local/domain/5", ["b5"]), OK("SET_PERMS"));
});

// ---------------------------------------------------------------- path-max

test("path-max: the part after /local/domain/<N>/ longer than the quota is EINVAL", () => {
  // A per-domain limit (a global one would bind dom0 too, as in cx 4.17).
  const { h, d0 } = setup({});
  home(d0, 5);
  assert.equal(d0.req(Op.SET_QUOTA, ["5", "path-max", "10"]), OK("SET_QUOTA"));
  const g5 = h.domain(5);
  assert.equal(g5.write("abcdefghi", "v"), OK("WRITE"), "9 characters");
  assert.equal(g5.write("abcdefghij", "v"), OK("WRITE"), "exactly 10 (cx 4.17 is_valid_nodename: length > quota is invalid)");
  assert.equal(g5.write("/local/domain/5/abcdefgh", "v"), OK("WRITE"), "8 characters, absolute");
  assert.equal(g5.write("abcdefghijk", "v"), ERR("EINVAL"), "11 characters");
  assert.equal(g5.write("/local/domain/5/abcdefghijk", "v"), ERR("EINVAL"));
  assert.equal(g5.read("abcdefghijk"), ERR("EINVAL"));
  assert.equal(g5.mkdir("a/b/c/d/e/f"), ERR("EINVAL"), "11 characters with slashes");
  assert.equal(g5.rm("abcdefghijk"), ERR("EINVAL"));
  assert.equal(g5.watch("abcdefghijk", "t"), ERR("EINVAL"));
  // Outside /local/domain/<N>/ the whole path counts.
  assert.equal(g5.read("/abcdefghijk"), ERR("EINVAL"));
  assert.equal(g5.read("/abcdefgh"), ERR("EACCES"), "short enough: an ordinary permission error");
  // Per-domain override.
  assert.equal(d0.req(Op.SET_QUOTA, ["5", "path-max", "20"]), OK("SET_QUOTA"));
  assert.equal(g5.write("abcdefghijk", "v"), OK("WRITE"));
});

test("path-max binds dom0 too, as in cx 4.17 (is_valid_nodename)", () => {
  // cx 4.17 applies the global path-max to every caller (xenstored_core.c:1193);
  // Xen 4.22 exempts privileged domains. We keep 4.17's answer, the one
  // deployed clients see.
  const { d0 } = setup({ "path-max": 10 });
  assert.equal(d0.write("/local/domain/0/abcdefghij", "v"), OK("WRITE"));
  assert.equal(d0.write("/local/domain/0/abcdefghijk", "v"), ERR("EINVAL"));
  assert.equal(d0.write("/abcdefghi", "v"), OK("WRITE"));
  assert.equal(d0.write("/abcdefghijk", "v"), ERR("EINVAL"));
});

// ---------------------------------------------------------------- outstanding

test("outstanding: while a guest has `outstanding` replies it has not taken, its further requests are held", () => {
  const { h, d0 } = setup({ outstanding: 3 });
  const g5 = h.domain(5);
  const reply = (r: { reqId: number; type: number; body: string }): [number, string, string] => [r.reqId, Op[r.type]!, r.body];
  g5.full = true; // the guest stops taking output: replies wait in the daemon
  for (let i = 1; i <= 3; i++) assert.deepEqual(g5.send(Op.GET_DOMAIN_PATH, ["5"], 0, i), []);
  assert.equal(h.x.pipeline.held(g5.conn), 0);
  assert.deepEqual(g5.send(Op.GET_DOMAIN_PATH, ["5"], 0, 101), []);
  assert.deepEqual(g5.send(Op.GET_DOMAIN_PATH, ["6"], 0, 102), []);
  assert.equal(h.x.pipeline.held(g5.conn), 2);
  // dom0 keeps being served meanwhile.
  assert.equal(d0.read("/tool/xenstored"), "READ ");
  // The guest takes its replies: the held requests are served, in order.
  assert.deepEqual(g5.drain().map(reply), [
    [1, "GET_DOMAIN_PATH", "/local/domain/5\0"],
    [2, "GET_DOMAIN_PATH", "/local/domain/5\0"],
    [3, "GET_DOMAIN_PATH", "/local/domain/5\0"],
    [101, "GET_DOMAIN_PATH", "/local/domain/5\0"],
    [102, "GET_DOMAIN_PATH", "/local/domain/6\0"],
  ]);
  assert.equal(h.x.pipeline.held(g5.conn), 0);
  // Full again: three fit, the fourth is held.
  g5.full = true;
  for (let i = 7; i <= 9; i++) assert.deepEqual(g5.send(Op.GET_DOMAIN_PATH, [String(i)]), []);
  assert.deepEqual(g5.send(Op.GET_DOMAIN_PATH, ["10"]), []);
  assert.equal(h.x.pipeline.held(g5.conn), 1);
});

test("outstanding: per-domain override; dom0 and a -p domain are held only while their own transport is full", () => {
  const { h, d0 } = setup({ outstanding: 2 }, { privDomid: 7 });
  assert.equal(d0.req(Op.SET_QUOTA, ["5", "outstanding", "1"]), OK("SET_QUOTA"));
  assert.equal(d0.req(Op.GET_QUOTA, ["5", "outstanding"]), "GET_QUOTA 1\0");
  const g5 = h.domain(5);
  g5.full = true;
  g5.send(Op.GET_DOMAIN_PATH, ["5"]);
  assert.equal(h.x.pipeline.held(g5.conn), 0);
  g5.send(Op.GET_DOMAIN_PATH, ["5"]);
  assert.equal(h.x.pipeline.held(g5.conn), 1);
  const g6 = h.domain(6);
  g6.full = true;
  g6.send(Op.GET_DOMAIN_PATH, ["6"]);
  g6.send(Op.GET_DOMAIN_PATH, ["6"]);
  assert.equal(h.x.pipeline.held(g6.conn), 0);
  g6.send(Op.GET_DOMAIN_PATH, ["6"]);
  assert.equal(h.x.pipeline.held(g6.conn), 1);
  // The quota does not bind privileged clients: taking their output is
  // served at once, however much of it there is.
  const g7 = h.domain(7);
  for (let i = 0; i < 10; i++) {
    assert.equal(g7.send(Op.GET_DOMAIN_PATH, ["7"]).length, 1, `priv domain request ${i}`);
    assert.equal(d0.send(Op.GET_DOMAIN_PATH, ["0"]).length, 1, `dom0 request ${i}`);
  }
  // Not taking it, they are held like a full socket: one reply waits, the rest of the input with them.
  g7.full = true;
  d0.full = true;
  for (let i = 0; i < 10; i++) {
    g7.send(Op.GET_DOMAIN_PATH, ["7"]);
    d0.send(Op.GET_DOMAIN_PATH, ["0"]);
  }
  assert.equal(h.x.pipeline.held(g7.conn), 9);
  assert.equal(h.x.pipeline.held(d0.conn), 9);
  assert.equal(g7.drain().length, 10);
  assert.equal(d0.drain().length, 10);
});

// ---------------------------------------------------------------- privileged callers

test("no quota binds dom0 or a -p privileged domain", () => {
  const limits = { nodes: 1, watches: 1, transactions: 1, "transaction-nodes": 1, "node-size": 60, "node-permissions": 1 } as const;
  const { h, d0 } = setup(limits, { privDomid: 7 });
  const g7 = h.domain(7);
  for (const [p, base] of [
    [d0, "/local/domain/0"],
    [g7, "/local/domain/7"],
  ] as const) {
    for (let i = 0; i < 4; i++) assert.equal(p.write(`${base}/n${i}/deep`, "x".repeat(100)), OK("WRITE"));
    assert.equal(p.setPerms(`${base}/n0`, ["n7", "r1", "r2", "r3"]), OK("SET_PERMS"));
    for (let i = 0; i < 3; i++) assert.equal(p.watch(`${base}/w${i}`, "t"), OK("WATCH"));
    const t1 = p.start();
    const t2 = p.start();
    for (let i = 0; i < 4; i++) assert.equal(p.write(`${base}/t${i}/x`, "v", t1), OK("WRITE"));
    assert.equal(p.end(t1), OK("TRANSACTION_END"));
    assert.equal(p.end(t2, false), OK("TRANSACTION_END"));
  }
  // The same limits do bind an ordinary guest.
  home(d0, 5);
  const g5 = h.domain(5);
  assert.equal(g5.write("a", ""), OK("WRITE"));
  assert.equal(g5.write("b", ""), ERR("ENOSPC"));
});

// ---------------------------------------------------------------- SET_QUOTA / GET_QUOTA

test("SET_QUOTA <domid> overrides a quota for one domain; GET_QUOTA reads both levels", () => {
  const { h, d0 } = setup({ nodes: 3 });
  home(d0, 5);
  home(d0, 6);
  const g5 = h.domain(5);
  const g6 = h.domain(6);
  assert.equal(d0.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 3\0");
  assert.equal(d0.req(Op.GET_QUOTA, ["5", "nodes"]), "GET_QUOTA 3\0");
  assert.equal(d0.req(Op.SET_QUOTA, ["5", "nodes", "2"]), OK("SET_QUOTA"));
  assert.equal(d0.req(Op.GET_QUOTA, ["5", "nodes"]), "GET_QUOTA 2\0");
  assert.equal(d0.req(Op.GET_QUOTA, ["6", "nodes"]), "GET_QUOTA 3\0");
  assert.equal(d0.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 3\0");
  assert.equal(g5.write("a", ""), OK("WRITE"));
  assert.equal(g5.write("b", ""), OK("WRITE"));
  assert.equal(g5.write("c", ""), ERR("ENOSPC"));
  for (const n of ["a", "b", "c"]) assert.equal(g6.write(n, ""), OK("WRITE"));
  assert.equal(g6.write("d", ""), ERR("ENOSPC"));
  // Raising one domain's limit above the global one.
  assert.equal(d0.req(Op.SET_QUOTA, ["6", "nodes", "5"]), OK("SET_QUOTA"));
  assert.equal(g6.write("d", ""), OK("WRITE"));
  assert.equal(g6.write("e", ""), OK("WRITE"));
  assert.equal(g6.write("f", ""), ERR("ENOSPC"));
  // 0 disables the check for that domain.
  assert.equal(d0.req(Op.SET_QUOTA, ["5", "nodes", "0"]), OK("SET_QUOTA"));
  for (const n of ["c", "d", "e", "f", "g"]) assert.equal(g5.write(n, ""), OK("WRITE"));
  // Watches too.
  assert.equal(d0.req(Op.SET_QUOTA, ["watches", "1"]), OK("SET_QUOTA"));
  assert.equal(d0.req(Op.GET_QUOTA, ["watches"]), "GET_QUOTA 1\0");
  assert.equal(d0.req(Op.SET_QUOTA, ["5", "watches", "2"]), OK("SET_QUOTA"));
  assert.equal(g5.watch("x", "t"), OK("WATCH"));
  assert.equal(g5.watch("y", "t"), OK("WATCH"));
  assert.equal(g5.watch("z", "t"), ERR("ENOSPC"));
});

test("a global SET_QUOTA is the default for new domains; known domains keep their values", () => {
  // xenstore.txt: "Omitting <domid> will ... set the global quota values,
  // which are the default values for new domains ... The initial quota
  // settings for a domain are the global ones". cx copies the global values
  // into each domain when it is allocated (domain.c:886-889 alloc_domain)
  // and a domain's own value takes precedence (domain.c:416-417).
  const { h, d0 } = setup({});
  home(d0, 5);
  const g5 = h.domain(5);
  assert.equal(d0.req(Op.SET_QUOTA, ["nodes", "2"]), OK("SET_QUOTA"));
  assert.equal(d0.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 2\0");
  assert.equal(d0.req(Op.GET_QUOTA, ["5", "nodes"]), "GET_QUOTA 1000\0");
  for (const n of ["a", "b", "c"]) assert.equal(g5.write(n, ""), OK("WRITE"));
  // Domain 6 is first mentioned now: it starts with the new global value.
  home(d0, 6);
  const g6 = h.domain(6);
  assert.equal(d0.req(Op.GET_QUOTA, ["6", "nodes"]), "GET_QUOTA 2\0");
  assert.equal(g6.write("a", ""), OK("WRITE"));
  assert.equal(g6.write("b", ""), OK("WRITE"));
  assert.equal(g6.write("c", ""), ERR("ENOSPC"));
});

// ---------------------------------------------------------------- domain release

test("RELEASE resets the domain's node count: a successor with the same domid has its full quota", () => {
  const { h, d0 } = setup({ nodes: 3 });
  home(d0, 5);
  const g5 = h.domain(5);
  for (const n of ["a", "b", "c"]) assert.equal(g5.write(n, "old"), OK("WRITE"));
  assert.equal(g5.write("d", ""), ERR("ENOSPC"));
  assert.equal(d0.req(Op.SET_QUOTA, ["5", "nodes", "1"]), OK("SET_QUOTA"));
  assert.equal(d0.req(Op.RELEASE, ["5"]), OK("RELEASE"));
  assert.equal(g5.closed, true);
  assert.equal(d0.dir("/local/domain/5"), "DIRECTORY ", "its nodes went with it");
  // The successor: same domid, fresh accounting, global quota again.
  const s5 = h.domain(5);
  assert.equal(d0.setPerms("/local/domain/5", ["n0", "b5"]), OK("SET_PERMS"));
  assert.equal(d0.req(Op.GET_QUOTA, ["5", "nodes"]), "GET_QUOTA 3\0");
  for (const n of ["x", "y", "z"]) assert.equal(s5.write(n, "new"), OK("WRITE"));
  assert.equal(s5.write("w", ""), ERR("ENOSPC"));
});

test("RELEASE with keep-orphans: the kept nodes no longer count against the successor", () => {
  const { h, d0 } = setup({ nodes: 3 }, { keepOrphans: true });
  home(d0, 5);
  const g5 = h.domain(5);
  for (const n of ["a", "b", "c"]) assert.equal(g5.write(n, "old"), OK("WRITE"));
  assert.equal(d0.req(Op.RELEASE, ["5"]), OK("RELEASE"));
  assert.equal(d0.read("/local/domain/5/a"), "READ old", "kept, now dom0's");
  assert.equal(d0.perms("/local/domain/5/a").startsWith("GET_PERMS n0\0"), true);
  const s5 = h.domain(5);
  assert.equal(d0.setPerms("/local/domain/5", ["n0", "b5"]), OK("SET_PERMS"));
  for (const n of ["x", "y", "z"]) assert.equal(s5.write(n, "new"), OK("WRITE"));
  assert.equal(s5.write("w", ""), ERR("ENOSPC"));
});

// ---------------------------------------------------------------- memory

/** Bytes the memory quota charges a domain, as `xenstore-control quota <domid>` shows them. */
function memoryOf(d0: Probe, domid: number): number {
  const m = /memory\s+:\s+(\d+)/.exec(d0.req(Op.CONTROL, ["quota", String(domid)]));
  assert.ok(m, "a memory line");
  return Number(m[1]);
}

test("memory: a guest's nodes are charged (record + path); a write that reaches the hard quota fails with EIO, nothing left behind", () => {
  const { h, d0 } = setup({ memory: 2000 }, { domains: "0-100" });
  home(d0, 5, ["n5"]);
  const g5 = h.domain(5);
  const start = memoryOf(d0, 5);
  assert.equal(start, 24 + 8 + "/local/domain/5".length, "its home: a record of one ACL entry, and the path");
  assert.equal(g5.write("a", "x".repeat(100)), OK("WRITE"));
  // The new node, and its parent's child list grows by "a\0".
  assert.equal(memoryOf(d0, 5), start + 24 + 8 + 100 + "/local/domain/5/a".length + 2);
  let i = 0;
  while (g5.write(`n${i}`, "y".repeat(200)) === OK("WRITE")) i++;
  assert.equal(g5.write(`n${i}`, "y".repeat(200)), ERR("EIO"), "over the quota");
  assert.equal(g5.read(`n${i}`), ERR("ENOENT"), "nothing left behind");
  assert.ok(memoryOf(d0, 5) < 2000);
  assert.equal(g5.write("a", "x".repeat(1500)), ERR("EIO"), "growing an existing node");
  assert.equal(g5.write("a", ""), OK("WRITE"), "shrinking one");
  // dom0 is not bound: it may add the guest's nodes beyond its quota.
  for (let k = 0; k < 20; k++) assert.equal(d0.write(`/local/domain/5/d0-${k}`, "z".repeat(200)), OK("WRITE"));
});

test("memory: watches are charged (path + token); one that reaches the quota is ENOMEM", () => {
  const { h, d0 } = setup({ memory: 400 }, { domains: "0-100" });
  home(d0, 5, ["n5"]);
  const g5 = h.domain(5);
  const before = memoryOf(d0, 5);
  assert.equal(g5.watch("/local/domain/5", "t".repeat(10)), OK("WATCH"));
  g5.events();
  assert.equal(memoryOf(d0, 5), before + "/local/domain/5".length + 10);
  assert.equal(g5.watch("/local/domain/5/x", "t".repeat(400)), ERR("ENOMEM"));
});

test("memory: a guest at its hard quota is stalled until it is below again; events to it are dropped, larger replies refused; dom0 and -p domains never", () => {
  const lines: string[] = [];
  const { h, d0 } = setup({ memory: 1200 }, { domains: "0-100", privDomid: 7, log: (l) => lines.push(l) });
  home(d0, 5, ["n5"]);
  const g5 = h.domain(5);
  assert.equal(g5.watch("/local/domain/5", "w"), OK("WATCH"));
  g5.events();
  for (let k = 0; g5.write(`n${k}`, "v".repeat(150)) === OK("WRITE"); k++);
  lines.length = 0;
  // dom0 fills it up to the quota: the guest's next request waits.
  d0.write("/local/domain/5/big", "b".repeat(600));
  d0.setPerms("/local/domain/5/big", ["n5", "r0"]);
  assert.ok(memoryOf(d0, 5) >= 1200);
  g5.events();
  assert.deepEqual(g5.send(Op.GET_DOMAIN_PATH, ["5"]), [], "not served");
  assert.equal(h.x.pipeline.held(g5.conn), 1);
  assert.deepEqual(lines, ["Domain 5 exceeds hard memory quota, Xenstore interface to domain stalled"]);
  d0.write("/local/domain/5/other", "1");
  assert.deepEqual(g5.events(), [], "events to it are dropped");
  // dom0 takes the big node away: the guest is served again.
  assert.equal(d0.rm("/local/domain/5/big"), OK("RM"));
  assert.deepEqual(g5.drain().map((r) => Op[r.type]), ["GET_DOMAIN_PATH"]);
  assert.ok(lines.includes("Domain 5 below hard memory quota again"));
  // A reply over 16 bytes that would take it to the quota is refused.
  for (let k = 0; k < 3; k++) assert.equal(d0.rm(`/local/domain/5/n${k}`), OK("RM"));
  const fill = "/local/domain/5/fill";
  // The node (record, path, "fill\0" in the parent's list) leaves 30 bytes.
  d0.write(fill, "f".repeat(1200 - memoryOf(d0, 5) - 24 - 8 - fill.length - 5 - 30));
  const left = 1200 - memoryOf(d0, 5);
  assert.equal(left, 30);
  assert.equal(g5.read("/local/domain/5/fill"), ERR("ENOMEM"));
  assert.equal(g5.req(Op.GET_DOMAIN_PATH, ["5"]), "GET_DOMAIN_PATH /local/domain/5\0", "a 16-byte reply still goes");
  // A privileged domain is never charged against its quota.
  home(d0, 7, ["n7"]);
  const g7 = h.domain(7);
  for (let k = 0; k < 20; k++) assert.equal(g7.write(`/local/domain/7/n${k}`, "v".repeat(150)), OK("WRITE"));
});

test("memory: crossing the soft quota is logged", () => {
  const lines: string[] = [];
  const { h, d0 } = setup({}, { domains: "0-100", log: (l) => lines.push(l) });
  d0.req(Op.SET_QUOTA, ["soft-memory", "600"]);
  home(d0, 5, ["n5"]);
  const g5 = h.domain(5);
  for (let k = 0; k < 5; k++) g5.write(`n${k}`, "v".repeat(150));
  assert.deepEqual(lines.filter((l) => l.includes("soft")), ["Domain 5 exceeds soft memory quota"]);
});
