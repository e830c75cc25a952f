import assert from "node:assert/strict";
import { test } from "node:test";
import { EMPTY_CHILDREN, type Children } from "../src/store/children.js";
import { Node } from "../src/store/node.js";
import { isValidNodePath, absolutize, depthBelow, isAtOrBelow } from "../src/store/path.js";
import { parsePermStrings, permFor, Perms, PERM_ALL, PERM_READ, PERM_WRITE } from "../src/store/perms.js";
import { TreeEditor, lookup } from "../src/store/tree.js";
import { Store } from "../src/store/store.js";
import { recount } from "../src/store/tallies.js";

const n0 = Perms.owned(0);
const leaf = (name: string): Node => new Node(name, "", n0, null);

/** Commits made directly by a test. */
const META = { domid: 0, conn: 0, op: "test", txId: 0 };

test("child map agrees with a Map model under random inserts, replaces and deletes (small and large)", () => {
  let kids: Children = EMPTY_CHILDREN;
  const model = new Map<string, string>();
  let x = 12345;
  const rand = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };
  for (let i = 0; i < 20000; i++) {
    // Sizes move across the small/large boundary in both directions.
    const name = `n${rand(i < 10000 ? 3000 : 40)}`;
    const r = rand(10);
    if (r < (i < 10000 ? 6 : 3)) {
      kids = kids.set(new Node(name, String(i), n0, null));
      model.set(name, String(i));
    } else {
      kids = kids.delete(name);
      model.delete(name);
    }
    if (i % 997 === 0) {
      assert.equal(kids.size, model.size);
      assert.deepEqual(kids.names(), [...model.keys()], "insertion order (a Map keeps it too)");
      for (const [k, v] of model) assert.equal(kids.get(k)!.value, v);
    }
  }
  assert.equal(kids.size, model.size);
  assert.deepEqual(kids.names(), [...model.keys()]);
  assert.equal(kids.listing().toString("latin1"), [...model.keys()].map((k) => `${k}\0`).join(""));
});

test("child maps are persistent: old versions are unchanged by later edits", () => {
  const a = EMPTY_CHILDREN.set(leaf("x")).set(leaf("y"));
  const b = a.delete("x").set(leaf("z"));
  assert.deepEqual(a.names(), ["x", "y"]);
  assert.deepEqual(b.names(), ["y", "z"]);
  assert.ok(a.sameNames(EMPTY_CHILDREN.set(leaf("x")).set(leaf("y"))), "equal listings compare equal");
  assert.ok(!a.sameNames(b));
  const replaced = a.set(new Node("x", "new value", n0, null));
  assert.equal(replaced.namesVersion, a.namesVersion, "replacing a child keeps the listing version");
  assert.deepEqual(replaced.names(), ["x", "y"], "in place");
  assert.equal(replaced.get("x")!.value, "new value");
  assert.equal(a.get("x")!.value, "", "the old version still has the old value");
});

test("a re-added child goes to the end of the listing, as in cx", () => {
  const s = new Store();
  const ed = new TreeEditor(s.root);
  const who = { domid: 0, privileged: true, target: null };
  for (const k of ["a", "b", "c"]) ed.write(`/d/${k}`, "", who);
  ed.remove("/d/a");
  ed.write("/d/a", "", who);
  assert.deepEqual(lookup(ed.root, "/d")!.childNames(), ["b", "c", "a"]);
});

test("editing shares every untouched subtree with the previous root", () => {
  const s = new Store();
  const who = { domid: 0, privileged: true, target: null };
  const ed = new TreeEditor(s.root);
  ed.write("/a/x", "1", who);
  ed.write("/b/y", "2", who);
  s.commit({ editor: ed }, META);
  const before = s.root;
  const ed2 = new TreeEditor(s.root);
  ed2.write("/a/x", "changed", who);
  s.commit({ editor: ed2 }, META);
  assert.notEqual(s.root, before);
  assert.equal(s.root.child("b"), before.child("b"), "the /b subtree is the same object");
  assert.equal(before.child("a")!.child("x")!.value, "1", "the old root still reads the old value");
});

test("ownership counts follow creations, removals and owner changes", () => {
  const s = new Store();
  const dom5 = { domid: 5, privileged: false, target: null };
  const ed = new TreeEditor(s.root);
  ed.write("/g/x/y", "", { domid: 0, privileged: true, target: null });
  ed.write("/g/x/y/z", "", dom5);
  assert.equal(ed.ownerDeltas.get(0), 3);
  assert.equal(ed.ownerDeltas.get(5), 1);
  ed.setPerms("/g/x", Perms.owned(5));
  ed.remove("/g/x/y");
  s.commit({ editor: ed }, META);
  assert.equal(s.ownedBy(0), 3 + 1, "initial tree + /g");
  assert.equal(s.ownedBy(5), 1, "/g/x");
  assert.deepEqual([...recount(s.root).owned].sort(), [...new Map([[0, 4], [5, 1]])].sort());
});

test("path validation follows cx is_valid_nodename", () => {
  const ok = ["/", "/a", "/a-b_c@d/E9", `/local/domain/1/${"x".repeat(2048)}`, `/local/domain/12345/${"x".repeat(2048)}`];
  const bad = ["", "a", "/a/", "//", "/a//b", "/a b", "/a.b", `/local/domain/1/${"x".repeat(2049)}`, `/local/domain/123456/${"x".repeat(2040)}`, `/${"x".repeat(2048)}`];
  for (const p of ok) assert.ok(isValidNodePath(p, 2048), p.slice(0, 40));
  for (const p of bad) assert.ok(!isValidNodePath(p, 2048), p.slice(0, 40));
  assert.equal(absolutize("x/y", "/local/domain/3"), "/local/domain/3/x/y");
  assert.equal(absolutize("@releaseDomain", "/local/domain/3"), "@releaseDomain");
  assert.ok(isAtOrBelow("/a/b", "/a") && isAtOrBelow("/a", "/a") && isAtOrBelow("/x", "/") && !isAtOrBelow("/ab", "/a"));
  assert.equal(depthBelow("/a/b/c", "/a"), 2);
  assert.equal(depthBelow("/a", "/"), 1);
});

test("permission strings parse like cx strtol(.., 0) and evaluate like perm_for_conn", () => {
  assert.deepEqual(parsePermStrings(["n0", "r0x10", "w010", "b-1"]), [
    { id: 0, perm: 0 },
    { id: 16, perm: PERM_READ },
    { id: 8, perm: PERM_WRITE },
    { id: 0xffffffff, perm: PERM_READ | PERM_WRITE },
  ]);
  for (const bad of ["x1", "r", "r1x", "r 1 "]) assert.equal(parsePermStrings([bad]), null, bad);
  const p = Perms.of([
    { id: 3, perm: PERM_READ, ignored: false },
    { id: 5, perm: PERM_WRITE, ignored: false },
    { id: 5, perm: PERM_READ, ignored: false },
    { id: 7, perm: PERM_READ, ignored: true },
  ]);
  const who = (domid: number, target: number | null = null) => ({ domid, privileged: false, target });
  assert.equal(permFor(who(3), p), PERM_ALL, "owner");
  assert.equal(permFor(who(5), p), PERM_WRITE, "first matching entry wins");
  assert.equal(permFor(who(7), p), PERM_READ, "ignored entry: default from the owner entry");
  assert.equal(permFor(who(9), p), PERM_READ, "default");
  assert.equal(permFor(who(9, 3), p), PERM_ALL, "acting for the owner");
  assert.equal(permFor({ domid: 9, privileged: true, target: null }, p), PERM_ALL);
  assert.deepEqual(p.toStrings(), ["r3", "w5", "r5", "r7"], "ignored entries stay visible");
  assert.equal(Perms.of(p.entries), p, "interned");
});
