import assert from "node:assert/strict";
import { test } from "node:test";
import { Op } from "../src/protocol/messages.js";
import { Quotas } from "../src/quota/quotas.js";
import { harness, type Probe } from "./helpers/inproc.js";

test("a transaction sees its own writes; others see them only after commit", () => {
  const h = harness();
  const a = h.socket();
  const b = h.socket();
  const tx = a.start();
  assert.equal(a.write("/t/x", "1", tx), "WRITE OK\0");
  assert.equal(a.read("/t/x", tx), "READ 1");
  assert.equal(b.read("/t/x"), "ERROR ENOENT\0");
  assert.equal(a.dir("/t", tx), "DIRECTORY x\0");
  assert.equal(a.end(tx), "TRANSACTION_END OK\0");
  assert.equal(b.read("/t/x"), "READ 1");
});

test("visibility is fixed at first access, not at TRANSACTION_START (cx semantics)", () => {
  const h = harness();
  const a = h.socket();
  const b = h.socket();
  const tx = a.start();
  b.write("/late", "created-after-start");
  assert.equal(a.read("/late", tx), "READ created-after-start", "first access sees the committed state");
  b.write("/late", "changed-after-first-access");
  assert.equal(a.read("/late", tx), "READ created-after-start", "then the transaction's copy is kept");
  assert.equal(a.end(tx), "ERROR EAGAIN\0", "the value it read has changed");
});

test("test-xenstore 'ta err': isolation, then EAGAIN, and the outside write survives", () => {
  const h = harness();
  const a = h.socket();
  const b = h.socket();
  a.write("/ta", "a");
  const tx = a.start();
  assert.equal(a.read("/ta", tx), "READ a");
  b.write("/ta", "b");
  assert.equal(a.read("/ta", tx), "READ a");
  a.write("/ta", "c", tx);
  assert.equal(a.end(tx), "ERROR EAGAIN\0");
  assert.equal(b.read("/ta"), "READ b");
});

test("abort applies nothing and fires nothing", () => {
  const h = harness();
  const a = h.socket();
  const w = h.socket();
  w.watch("/ab", "t");
  w.events();
  const tx = a.start();
  a.write("/ab/x", "1", tx);
  a.rm("/tool", tx);
  assert.equal(a.end(tx, false), "TRANSACTION_END OK\0");
  assert.equal(a.read("/ab/x"), "ERROR ENOENT\0");
  assert.equal(a.dir("/"), "DIRECTORY tool\0");
  assert.deepEqual(w.events(), []);
});

test("conflicts only on observed aspects: unrelated changes do not fail a transaction", async (t) => {
  const setup = (): { a: Probe; b: Probe } => {
    const h = harness();
    const a = h.socket();
    const b = h.socket();
    a.write("/d/x", "v");
    return { a, b };
  };
  await t.test("sibling created under a node whose value was read", () => {
    const { a, b } = setup();
    const tx = a.start();
    a.read("/d", tx);
    b.write("/d/sibling", "s");
    a.write("/d/y", "from-tx", tx);
    assert.equal(a.end(tx), "TRANSACTION_END OK\0");
    assert.equal(b.dir("/d"), "DIRECTORY x\0sibling\0y\0");
  });
  await t.test("same-value write by another client", () => {
    const { a, b } = setup();
    const tx = a.start();
    assert.equal(a.read("/d/x", tx), "READ v");
    b.write("/d/x", "v");
    a.write("/d/z", "1", tx);
    assert.equal(a.end(tx), "TRANSACTION_END OK\0");
  });
  await t.test("permission change that did not affect a privileged reader", () => {
    const { a, b } = setup();
    const tx = a.start();
    a.read("/d/x", tx);
    b.setPerms("/d/x", ["n0", "r5"]);
    a.write("/d/z", "1", tx);
    assert.equal(a.end(tx), "TRANSACTION_END OK\0");
  });
  await t.test("blind writes never conflict: last writer wins", () => {
    const { a, b } = setup();
    const tx = a.start();
    a.write("/d/x", "tx", tx);
    b.write("/d/x", "outside");
    assert.equal(a.end(tx), "TRANSACTION_END OK\0");
    assert.equal(b.read("/d/x"), "READ tx");
  });
  await t.test("blind write to a node removed meanwhile recreates it", () => {
    const { a, b } = setup();
    const tx = a.start();
    a.write("/d/x", "again", tx);
    b.rm("/d");
    assert.equal(a.end(tx), "TRANSACTION_END OK\0");
    assert.equal(b.read("/d/x"), "READ again");
    assert.equal(b.perms("/d"), "GET_PERMS n0\0");
  });
  await t.test("blind create under a parent whose ACL changed inherits the current ACL", () => {
    const { a, b } = setup();
    const tx = a.start();
    a.write("/d/new", "1", tx);
    b.setPerms("/d", ["n0", "r7"]);
    assert.equal(a.end(tx), "TRANSACTION_END OK\0");
    assert.equal(b.perms("/d/new"), "GET_PERMS n0\0r7\0");
  });
  await t.test("a read-only transaction whose reads are unchanged commits", () => {
    const { a, b } = setup();
    const tx = a.start();
    a.read("/d/x", tx);
    a.dir("/d", tx);
    b.write("/elsewhere", "1");
    // /d/x gains a child: neither its value nor /d's child list changes.
    b.write("/d/x/child", "c");
    assert.equal(a.end(tx), "TRANSACTION_END OK\0");
  });
});

test("a guest's transaction relies only on what it observed too: the answers of its permission checks, its size checks", async (t) => {
  const setup = (nodeSize = 0) => {
    const quotas = new Quotas();
    if (nodeSize) quotas.set("node-size", nodeSize);
    const h = harness({ quotas });
    const d0 = h.socket();
    d0.write("/d/x", "1");
    d0.setPerms("/d", ["n0", "b5"]);
    d0.setPerms("/d/x", ["n0", "b5"]);
    return { d0, g: h.domain(5) };
  };
  // The guest reads /d/x in a transaction, then dom0 changes its ACL.
  for (const [name, acl, end] of [
    ["an ACL change that leaves the guest's access as it was", ["n0", "b5", "r9"], "TRANSACTION_END OK\0"],
    ["an ACL change that takes the guest's read away fails it", ["n0", "w5"], "ERROR EAGAIN\0"],
    ["an ACL change that takes away only a right the guest never used (write, after a read)", ["n0", "r5"], "TRANSACTION_END OK\0"],
  ] as const) {
    await t.test(name, () => {
      const { d0, g } = setup();
      const tx = g.start();
      assert.equal(g.read("/d/x", tx), "READ 1");
      d0.setPerms("/d/x", acl);
      assert.equal(g.end(tx), end);
    });
  }
  await t.test("a blind create next to a sibling created meanwhile", () => {
    const { d0, g } = setup();
    const tx = g.start();
    assert.equal(g.write("/d/y", "g", tx), "WRITE OK\0");
    d0.write("/d/z", "0");
    assert.equal(g.end(tx), "TRANSACTION_END OK\0");
    assert.equal(d0.dir("/d"), "DIRECTORY x\0z\0y\0");
  });
  await t.test("a blind overwrite of a node that gained a child meanwhile", () => {
    const { d0, g } = setup();
    const tx = g.start();
    assert.equal(g.write("/d/x", "2", tx), "WRITE OK\0");
    d0.write("/d/x/child", "0");
    assert.equal(g.end(tx), "TRANSACTION_END OK\0");
    assert.equal(d0.read("/d/x"), "READ 2");
  });
  await t.test("a size check that passed but would fail on what is committed now fails it", () => {
    // /d/x: 24 + 2 perms * 8 + value; node-size 60 leaves room for a value of up to 19 bytes.
    const { d0, g } = setup(60);
    const tx = g.start();
    assert.equal(g.write("/d/x", "0123456789", tx), "WRITE OK\0");
    d0.write("/d/x/abcdefghijklmno", "0");
    assert.equal(g.end(tx), "ERROR EAGAIN\0");
    assert.equal(d0.read("/d/x"), "READ 1", "nothing applied");
  });
});

test("conflicts on observed aspects: each kind fails the commit with EAGAIN and applies nothing", async (t) => {
  const cases: [string, (a: Probe, tx: number) => void, (b: Probe) => void][] = [
    ["value read, then changed", (a, tx) => a.read("/d/x", tx), (b) => b.write("/d/x", "w")],
    ["value read, then node removed", (a, tx) => a.read("/d/x", tx), (b) => b.rm("/d/x")],
    ["absence relied on (ENOENT), then created", (a, tx) => a.read("/d/nope", tx), (b) => b.write("/d/nope", "1")],
    ["child list read, then child added", (a, tx) => a.dir("/d", tx), (b) => b.write("/d/new", "1")],
    ["child list read, then child removed", (a, tx) => a.dir("/d", tx), (b) => b.rm("/d/x")],
    ["perms read, then changed", (a, tx) => a.perms("/d/x", tx), (b) => b.setPerms("/d/x", ["n0", "r3"])],
    ["mkdir of an existing node, then it is removed", (a, tx) => a.mkdir("/d/x", tx), (b) => b.rm("/d/x")],
    ["rm of a subtree, then a node added inside it", (a, tx) => a.rm("/d", tx), (b) => b.write("/d/x/deeper", "1")],
    ["set_perms of a node, then it is removed", (a, tx) => a.setPerms("/d/x", ["n0"], tx), (b) => b.rm("/d/x")],
  ];
  for (const [name, inTx, outside] of cases) {
    await t.test(name, () => {
      const h = harness();
      const a = h.socket();
      const b = h.socket();
      a.write("/d/x", "v");
      const tx = a.start();
      inTx(a, tx);
      a.write("/marker", "written-by-tx", tx);
      outside(b);
      assert.equal(a.end(tx), "ERROR EAGAIN\0");
      assert.equal(b.read("/marker"), "ERROR ENOENT\0", "nothing of the transaction is applied");
    });
  }
});

test("commit coalesces onto the current tree: concurrent unrelated changes are kept", () => {
  const h = harness();
  const a = h.socket();
  const b = h.socket();
  a.write("/c/one", "1");
  const tx = a.start();
  a.write("/c/two", "2", tx);
  a.rm("/c/one", tx);
  b.write("/c/three", "3");
  b.write("/other", "o");
  assert.equal(a.end(tx), "TRANSACTION_END OK\0");
  assert.equal(b.dir("/c"), "DIRECTORY three\0two\0");
  assert.equal(b.read("/other"), "READ o");
});

test("nested TRANSACTION_START answers EBUSY, an unknown transaction id ENOENT", () => {
  const h = harness();
  const a = h.socket();
  const tx = a.start();
  assert.equal(a.req(Op.TRANSACTION_START, [""], tx), "ERROR EBUSY\0");
  assert.equal(a.req(Op.TRANSACTION_START, [""], tx + 100), "ERROR ENOENT\0");
  assert.equal(a.read("/tool", tx + 100), "ERROR ENOENT\0");
  assert.equal(a.req(Op.TRANSACTION_END, ["T"], tx + 100), "ERROR ENOENT\0");
  assert.equal(a.req(Op.TRANSACTION_END, ["T"], 0), "ERROR ENOENT\0", "no transaction given");
  assert.equal(a.req(Op.TRANSACTION_END, ["X"], 0), "ERROR EINVAL\0", "argument checked before the missing transaction");
  assert.equal(a.req(Op.TRANSACTION_END, ["X"], tx), "ERROR EINVAL\0");
  assert.equal(a.req(Op.TRANSACTION_END, "T", tx), "ERROR EINVAL\0", "argument without NUL");
  assert.equal(a.end(tx), "TRANSACTION_END OK\0", "still open after the bad end requests");
  assert.equal(a.end(tx), "ERROR ENOENT\0", "gone after the end");
});

test("transaction ids count up per connection and skip ids still in use", () => {
  const h = harness();
  const a = h.socket();
  const b = h.socket();
  assert.equal(a.start(), 1);
  assert.equal(a.start(), 2);
  assert.equal(b.start(), 1, "per connection");
  a.end(1, false);
  assert.equal(a.start(), 3);
});

test("TRANSACTION_START ignores its payload, as cx does", () => {
  const h = harness();
  const a = h.socket();
  assert.equal(a.req(Op.TRANSACTION_START, Buffer.alloc(0)), "TRANSACTION_START 1\0");
  assert.equal(a.req(Op.TRANSACTION_START, "junk"), "TRANSACTION_START 2\0");
});

test("RESET_WATCHES and closing the connection end its transactions", () => {
  const h = harness();
  const a = h.socket();
  const tx = a.start();
  a.write("/r", "1", tx);
  assert.equal(a.req(Op.RESET_WATCHES, ""), "RESET_WATCHES OK\0");
  assert.equal(a.end(tx), "ERROR ENOENT\0");
  assert.equal(a.read("/r"), "ERROR ENOENT\0");
  const b = h.socket();
  const tx2 = b.start();
  b.write("/r2", "1", tx2);
  h.x.connections.disconnect(b.conn);
  assert.equal(a.read("/r2"), "ERROR ENOENT\0");
});

test("one event per node touched in a transaction, at commit, in first-access order", () => {
  const h = harness();
  const a = h.socket();
  const w = h.socket();
  w.watch("/", "all");
  w.events();
  const tx = a.start();
  a.read("/tool", tx);
  a.write("/e/b", "1", tx);
  a.write("/e/a", "1", tx);
  a.write("/e/b", "2", tx);
  a.setPerms("/e/b", ["n0", "r1"], tx);
  assert.deepEqual(w.events(), [], "nothing before the commit");
  a.end(tx);
  assert.deepEqual(w.events(), [
    { path: "/e/b", token: "all" },
    { path: "/e/a", token: "all" },
  ]);
});

test("removing a subtree in a transaction fires at commit: root to subtree watches, descendants exactly", () => {
  const h = harness();
  const a = h.socket();
  const w = h.socket();
  a.write("/s/x/y", "1");
  a.write("/s/z", "1");
  w.watch("/s", "top");
  w.watch("/s/x/y", "leaf");
  w.watch("/s/nothing/here", "never");
  w.events();
  const tx = a.start();
  assert.equal(a.rm("/s", tx), "RM OK\0");
  assert.equal(a.read("/s/x/y", tx), "ERROR ENOENT\0");
  assert.deepEqual(w.events(), []);
  a.end(tx);
  assert.deepEqual(w.events(), [
    { path: "/s", token: "top" },
    { path: "/s/x/y", token: "leaf" },
  ]);
  assert.equal(a.read("/s"), "ERROR ENOENT\0");
});

test("a node created and removed inside one transaction leaves no trace and no event", () => {
  const h = harness();
  const a = h.socket();
  const w = h.socket();
  w.watch("/", "all");
  w.events();
  const tx = a.start();
  a.write("/tmpnode/x", "1", tx);
  a.rm("/tmpnode", tx);
  a.end(tx);
  assert.equal(a.read("/tmpnode"), "ERROR ENOENT\0");
  assert.deepEqual(w.events(), []);
});

test("the store keeps a revision per commit and recent roots", () => {
  const h = harness();
  const a = h.socket();
  const r0 = h.x.store.revision;
  a.write("/v", "1");
  a.write("/v", "2");
  const tx = a.start();
  a.write("/v", "3", tx);
  a.write("/w", "3", tx);
  a.end(tx);
  assert.equal(h.x.store.revision, r0 + 3, "one revision per request or commit");
  const old = h.x.store.at(r0 + 1)!;
  assert.equal(old.root.child("v")!.value, "1");
  assert.equal(h.x.store.get("/v")!.value, "3");
  a.read("/v");
  assert.equal(h.x.store.revision, r0 + 3, "reads do not create revisions");
});

test("a stale listing repeats a re-created child name where cx appends it (found by conformance seed 781)", () => {
  const h = harness();
  const a = h.socket();
  const b = h.socket();
  b.write("/s/b/c/e", "v");
  const tx = a.start();
  assert.equal(a.rm("/s/d", tx), "RM OK\0", "the parent exists: first access to /s lists b");
  b.rm("/s");
  a.mkdir("/s/b", tx);
  a.write("/s/d", "v", tx);
  assert.equal(a.dir("/s", tx), "DIRECTORY b\0b\0d\0", "b appended again, before the later d");
  a.write("/s/f", "v", tx);
  assert.equal(a.dir("/s", tx), "DIRECTORY b\0b\0d\0f\0");
  a.rm("/s/b", tx);
  assert.equal(a.dir("/s", tx), "DIRECTORY b\0d\0f\0", "the first occurrence goes");
  assert.equal(a.end(tx), "ERROR EAGAIN\0");
  assert.equal(b.dir("/s"), "ERROR ENOENT\0");
});
