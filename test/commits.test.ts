/**
 * The one commit point: every request that changes committed state (the
 * tree, the special nodes' ACLs, domains, quotas) produces exactly one
 * commit record, with who made it, through which request, and which paths
 * changed how; a request that changes nothing produces none.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Op } from "../src/protocol/messages.js";
import type { CommitRecord } from "../src/store/store.js";
import { harness, type Harness, type Probe } from "./helpers/inproc.js";

interface Seen {
  op: string;
  domid: number;
  conn: number;
  txId: number;
  changes: string[];
  effects: string[];
}

function recorder(h: Harness): () => Seen[] {
  const records: CommitRecord[] = [];
  h.x.store.onCommit((r) => {
    assert.equal(r.revision, r.before.revision + 1, "one revision per commit");
    assert.equal(r.after, h.x.store.head, "the record's state is the committed one");
    records.push(r);
  });
  return () => {
    const out = records.splice(0).map((r) => {
      return {
        op: r.op,
        domid: r.domid,
        conn: r.conn,
        txId: r.txId,
        changes: r.changes.map((c) => `${c.kind} ${c.path}`),
        effects: r.effects.map((e) => JSON.stringify(e)),
      };
    });
    return out;
  };
}

function setup(): { h: Harness; c: Probe; g: Probe; took: () => Seen[] } {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  const g = h.domain(5);
  const took = recorder(h);
  return { h, c, g, took };
}

test("a plain WRITE, MKDIR, RM and SET_PERMS each commit once, with the caller and the paths changed", () => {
  const { c, g, took } = setup();
  assert.equal(c.write("/a/b", "1"), "WRITE OK\0");
  assert.deepEqual(took(), [{ op: "WRITE", domid: 0, conn: c.conn.seq, txId: 0, changes: ["created /a", "created /a/b"], effects: [] }]);
  assert.equal(c.write("/a/b", "2"), "WRITE OK\0");
  assert.deepEqual(took().map((s) => s.changes), [["value /a/b"]]);
  assert.equal(c.mkdir("/a/c"), "MKDIR OK\0");
  assert.deepEqual(took().map((s) => [s.op, s.changes]), [["MKDIR", ["created /a/c"]]]);
  assert.equal(c.setPerms("/a", ["b5"]), "SET_PERMS OK\0");
  assert.deepEqual(took().map((s) => [s.op, s.changes]), [["SET_PERMS", ["perms /a"]]]);
  assert.equal(g.write("/a/g", "x"), "WRITE OK\0");
  assert.deepEqual(took().map((s) => [s.op, s.domid, s.conn]), [["WRITE", 5, g.conn.seq]]);
  assert.equal(c.rm("/a"), "RM OK\0");
  assert.deepEqual(took().map((s) => [s.op, s.changes]), [["RM", ["removed /a/b", "removed /a/c", "removed /a/g", "removed /a"]]]);
});

test("requests that change nothing commit nothing: reads, same-value writes, existing MKDIR, absent RM, same ACL, failures", () => {
  const { c, g, took } = setup();
  c.write("/x", "v");
  c.setPerms("/x", ["n0", "r5"]);
  took();
  const none: [string, () => string][] = [
    ["READ", () => c.read("/x")],
    ["DIRECTORY", () => c.dir("/")],
    ["GET_PERMS", () => c.perms("/x")],
    ["same-value WRITE", () => c.write("/x", "v")],
    ["MKDIR of an existing node", () => c.mkdir("/x")],
    ["RM of an absent node", () => c.rm("/x/none")],
    ["SET_PERMS with the same ACL", () => c.setPerms("/x", ["n0", "r5"])],
    ["WATCH", () => c.watch("/x", "t")],
    ["UNWATCH", () => c.unwatch("/x", "t")],
    ["a guest's forbidden WRITE", () => g.write("/x", "w")],
    ["GET_DOMAIN_PATH", () => c.req(Op.GET_DOMAIN_PATH, ["5"])],
    ["IS_DOMAIN_INTRODUCED", () => c.req(Op.IS_DOMAIN_INTRODUCED, ["5"])],
    ["GET_QUOTA", () => c.req(Op.GET_QUOTA, ["nodes"])],
    ["SET_QUOTA to the current value", () => c.req(Op.SET_QUOTA, ["nodes", "1000"])],
    ["GET_FEATURE", () => c.req(Op.GET_FEATURE, ["5"])],
    ["CONTROL check", () => c.req(Op.CONTROL, ["check"])],
    ["RESUME of a domain not shut down", () => c.req(Op.RESUME, ["5"])],
    ["unknown type", () => c.req(20, ["x"])],
  ];
  for (const [what, run] of none) {
    run();
    assert.deepEqual(took(), [], what);
  }
});

test("a transaction commits once at TRANSACTION_END T, none for F, a read-only one or a conflict", () => {
  const { c, g, took } = setup();
  const t1 = c.start();
  c.write("/t/a", "1", t1);
  c.write("/t/b", "2", t1);
  assert.deepEqual(took(), [], "nothing before the end");
  assert.equal(c.end(t1), "TRANSACTION_END OK\0");
  assert.deepEqual(took(), [{ op: "TRANSACTION_END", domid: 0, conn: c.conn.seq, txId: t1, changes: ["created /t", "created /t/a", "created /t/b"], effects: [] }]);
  const t2 = c.start();
  c.write("/t/a", "x", t2);
  assert.equal(c.end(t2, false), "TRANSACTION_END OK\0");
  const t3 = c.start();
  c.read("/t/a", t3);
  assert.equal(c.end(t3), "TRANSACTION_END OK\0");
  assert.deepEqual(took(), [], "aborted and read-only transactions");
  c.write("/local/domain/5/r", "1");
  c.setPerms("/local/domain/5/r", ["n5"]);
  took();
  const t4 = g.start();
  assert.equal(g.read("/local/domain/5/r", t4), "READ 1");
  g.write("/local/domain/5/n", "1", t4);
  c.write("/local/domain/5/r", "changed");
  took();
  assert.equal(g.end(t4), "ERROR EAGAIN\0");
  assert.deepEqual(took(), [], "a conflicting commit");
});

test("domain and quota settings commit once each: INTRODUCE, SET_TARGET, SET_FEATURE, SET_QUOTA, CONTROL quota set, RELEASE", () => {
  const { c, took } = setup();
  assert.equal(c.req(Op.SET_FEATURE, ["9", "4"]), "SET_FEATURE OK\0");
  assert.deepEqual(took().map((s) => [s.op, s.effects]), [["SET_FEATURE", ['{"kind":"features","domid":9,"features":4}']]]);
  assert.equal(c.req(Op.INTRODUCE, ["9", "0", "3"]), "INTRODUCE OK\0");
  assert.deepEqual(took().map((s) => [s.op, s.effects]), [["INTRODUCE", ['{"kind":"introduce","domid":9,"mfn":"0","port":3}']]]);
  assert.equal(c.req(Op.INTRODUCE, ["9", "0", "3"]), "INTRODUCE OK\0");
  assert.deepEqual(took(), [], "re-INTRODUCE with the same port");
  assert.equal(c.req(Op.INTRODUCE, ["9", "0", "4"]), "INTRODUCE OK\0");
  assert.deepEqual(took().map((s) => s.effects), [['{"kind":"introduce","domid":9,"mfn":"0","port":4}']], "a new event channel");
  assert.equal(c.req(Op.SET_TARGET, ["5", "9"]), "SET_TARGET OK\0");
  assert.deepEqual(took().map((s) => s.effects), [['{"kind":"target","domid":5,"target":9}']]);
  assert.equal(c.req(Op.SET_QUOTA, ["9", "nodes", "7"]), "SET_QUOTA OK\0");
  assert.deepEqual(took().map((s) => s.effects), [['{"kind":"quota","domid":9,"name":"nodes","level":"hard","value":7}']]);
  assert.equal(c.req(Op.CONTROL, ["quota", "set", "watches", "50"]), "CONTROL OK\0");
  assert.deepEqual(took().map((s) => [s.op, s.effects]), [["CONTROL", ['{"kind":"quota","domid":null,"name":"watches","level":"hard","value":50}']]]);
  const g9 = c; // dom0 writes a node for domain 9, which owns it
  g9.write("/local/domain/9/x", "1");
  g9.setPerms("/local/domain/9/x", ["n9"]);
  took();
  assert.equal(c.req(Op.RELEASE, ["9"]), "RELEASE OK\0");
  assert.deepEqual(took().map((s) => [s.op, s.changes, s.effects]), [["RELEASE", ["removed /local/domain/9/x"], ['{"kind":"release","domid":9}']]]);
});

test("the special nodes' ACLs change through a commit too", () => {
  const { c, took } = setup();
  assert.equal(c.setPerms("@introduceDomain", ["n0", "r5"]), "SET_PERMS OK\0");
  const [rec] = took();
  assert.equal(rec?.op, "SET_PERMS");
  assert.equal(c.perms("@introduceDomain"), "GET_PERMS n0\0r5\0");
  assert.equal(c.setPerms("@introduceDomain", ["n0", "r5"]), "SET_PERMS OK\0");
  assert.deepEqual(took(), [], "the same ACL again");
});
