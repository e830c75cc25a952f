import assert from "node:assert/strict";
import { test } from "node:test";
import { childrenOf, EMPTY_CHILDREN, type Children } from "../src/store/children.js";
import { ColdSubtreeCompactor, compactInBackground, PACK_MIN_NODES, UNIT_MAX } from "../src/store/compactor.js";
import { FrozenChildren, pack, sameChildren } from "../src/store/frozen.js";
import { diffTrees } from "../src/history/diff.js";
import { Node, OverlayNode } from "../src/store/node.js";
import { Perms } from "../src/store/perms.js";
import { Store } from "../src/store/store.js";
import { lookup, TreeEditor } from "../src/store/tree.js";
import { walkTree } from "../src/store/walk.js";

const META = { domid: 0, conn: 0, op: "test", txId: 0 };
const dom0 = { domid: 0, privileged: true, target: null };
const guest = (domid: number) => ({ domid, privileged: false, target: null });

/** Everything a reader can see of a tree: paths, values, ACLs, listings and (for one store) listing generations. */
function observe(root: Node, generations = true): string[] {
  const out: string[] = [];
  walkTree("/", root, {
    enter(path, node) {
      out.push(`${path}|${node.value}|${node.perms.key}|${node.listing().toString("latin1")}|${node.listingLength()}|${generations ? node.listingVersion : ""}|${node.size}`);
    },
  });
  return out;
}

/** A store holding `domains` guest homes (nested directories, several ACLs, values of every byte). */
function populated(domains: number): Store {
  const store = new Store();
  const every = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
  for (let d = 1; d <= domains; d++) {
    const e = new TreeEditor(store.root);
    const home = `/local/domain/${d}`;
    e.write(`${home}/name`, `guest-${d}`, dom0);
    e.write(`${home}/memory/target`, "524288", dom0);
    e.write(`${home}/bytes`, every, dom0);
    e.write(`${home}/long`, "x".repeat(200 + d), dom0);
    e.write(`${home}/empty`, "", dom0);
    e.mkdir(`${home}/device/vif/0`, dom0);
    e.write(`${home}/device/vif/0/state`, "4", guest(d));
    e.write(`${home}/device/vif/0/mac`, "00:16:3e:00:00:01", guest(d));
    e.setPerms(home, Perms.of([{ id: d, perm: 0, ignored: false }, { id: 0, perm: 1, ignored: false }]));
    store.commit({ editor: e }, META);
  }
  return store;
}

/** Walk until it is finished, twice (a unit is packed by the walk after the one that found it). */
function compactFully(c: ColdSubtreeCompactor, root: Node): void {
  for (let i = 0; i < 10_000 && (c.pending || i === 0); i++) c.pass(root, 1000);
}

test("packed children read back exactly as the children they were packed from", () => {
  const store = populated(3);
  const home = lookup(store.root, "/local/domain/2")!;
  const packed = pack(home.children!);
  assert.ok(packed instanceof FrozenChildren);
  const original = home.children!;
  assert.equal(packed.size, original.size);
  assert.equal(packed.namesVersion, original.namesVersion);
  assert.equal(packed.listingLength, original.listingLength);
  assert.deepEqual(packed.names(), original.names());
  assert.deepEqual(packed.listing(), original.listing());
  assert.ok(packed.sameNames(original));
  const before = observe(home);
  const twin = new Node(home.name, home.value, home.perms, packed);
  assert.deepEqual(observe(twin), before);
  // Lookups, including names that are prefixes of others and absent ones.
  assert.equal(packed.get("long")!.value, "x".repeat(202));
  assert.equal(packed.get("bytes")!.value.length, 256);
  assert.equal(packed.get("lon"), undefined);
  assert.equal(packed.has("longer"), false);
  assert.equal(packed.has("device"), true);
  assert.equal(packed.get("device")!.child("vif")!.child("0")!.child("mac")!.value, "00:16:3e:00:00:01");
  assert.equal(packed.get("device")!.child("vif")!.child("0")!.child("state")!.perms.owner, 2);
  // Packing what holds packed subdirectories copies them as they are.
  const device = packed.get("device")!;
  assert.ok(device.children instanceof FrozenChildren);
  const repacked = pack(childrenOf(new Node("", "", home.perms, EMPTY_CHILDREN.set(device))))!;
  assert.deepEqual(observe(new Node("", "", home.perms, repacked)).slice(1), observe(new Node("", "", home.perms, EMPTY_CHILDREN.set(lookup(store.root, "/local/domain/2/device")!))).slice(1));
});

test("a change to packed children thaws one level, keeping the listing generation unless a name comes or goes", () => {
  const store = populated(1);
  const home = lookup(store.root, "/local/domain/1")!;
  const packed = pack(home.children!)!;
  const replaced = packed.set(new Node("name", "renamed", Perms.owned(0), null));
  assert.equal(replaced.namesVersion, packed.namesVersion);
  assert.equal(replaced.get("name")!.value, "renamed");
  assert.deepEqual(replaced.names(), packed.names());
  // Its subdirectories stay packed.
  assert.ok(replaced.get("device")!.children instanceof FrozenChildren);
  const added = packed.set(new Node("new", "", Perms.owned(0), null));
  assert.notEqual(added.namesVersion, packed.namesVersion);
  assert.deepEqual(added.names(), [...packed.names(), "new"]);
  const removed = packed.delete("empty");
  assert.notEqual(removed.namesVersion, packed.namesVersion);
  assert.deepEqual(removed.names(), packed.names().filter((n) => n !== "empty"));
  assert.equal(packed.delete("absent"), packed);
});

test("what cannot be packed is not: characters above U+00FF, large directories, transactions' overlays", () => {
  const perms = Perms.owned(0);
  const wide = EMPTY_CHILDREN.set(new Node("a", "snow\u2603man", perms, null));
  assert.equal(pack(wide), null);
  assert.equal(pack(EMPTY_CHILDREN.set(new Node("\u0100", "", perms, null))), null);
  let large: Children = EMPTY_CHILDREN;
  for (let i = 0; i < 40; i++) large = large.set(new Node(`k${i}`, "", perms, null));
  assert.equal(pack(large), null);
  assert.equal(pack(EMPTY_CHILDREN.set(new Node("big", "", perms, large))), null);
  const overlay = new OverlayNode(new Node("o", "", perms, EMPTY_CHILDREN.set(new Node("x", "", perms, null))), ["x", "x"]);
  assert.equal(pack(EMPTY_CHILDREN.set(overlay)), null);
  // A body longer than two length bytes can say (16 KiB) still round-trips.
  let wideDir: Children = EMPTY_CHILDREN;
  for (let i = 0; i < 20; i++) wideDir = wideDir.set(new Node(`v${i}`, String(i).repeat(1000), perms, null));
  const holder = EMPTY_CHILDREN.set(new Node("d", "", perms, wideDir));
  const packed = pack(holder)!;
  assert.ok(packed.end > 16_384);
  assert.deepEqual(observe(new Node("", "", perms, packed)), observe(new Node("", "", perms, holder)));
});

test("the compactor packs each guest's home in place after two walks, and readers see no difference", () => {
  const store = populated(20);
  const before = observe(store.root);
  const home = lookup(store.root, "/local/domain/7")!;
  const c = new ColdSubtreeCompactor();
  assert.equal(c.pass(store.root, 1000), true);
  assert.equal(c.totals.units, 0, "the first walk only finds units");
  assert.equal(c.pending, true);
  compactFully(c, store.root);
  assert.equal(c.pending, false);
  // The whole tree is small enough to be one unit; the root's node was packed in place.
  assert.ok(store.root.children instanceof FrozenChildren);
  assert.equal(lookup(store.root, "/local/domain/7")!.value, home.value);
  assert.deepEqual(observe(store.root), before);
  assert.deepEqual(store.dump(), populated(20).dump());
});

test("large directories are walked, their cold entries packed one by one, a written one left until it is still", () => {
  const store = populated(60);
  const c = new ColdSubtreeCompactor();
  assert.ok(UNIT_MAX < 60 * 1500, "60 homes are more than one unit");
  c.pass(store.root, 1000);
  // Guest 5 changes between the walks: its home is a new node, not packed yet.
  const e = new TreeEditor(store.root);
  e.write("/local/domain/5/memory/target", "1", dom0);
  store.commit({ editor: e }, META);
  c.pass(store.root, 1000);
  assert.ok(lookup(store.root, "/local/domain/6")!.children instanceof FrozenChildren);
  assert.ok(!(lookup(store.root, "/local/domain/5")!.children instanceof FrozenChildren));
  assert.ok(!(lookup(store.root, "/local/domain")!.children instanceof FrozenChildren), "/local/domain has 60 entries: not flat");
  c.pass(store.root, 1000);
  assert.ok(lookup(store.root, "/local/domain/5")!.children instanceof FrozenChildren);
  const units = c.totals.units;
  // Nothing left: another walk packs nothing and does not walk the settled directory again.
  c.pass(store.root, 1000);
  c.pass(store.root, 1000);
  assert.equal(c.totals.units, units);
  assert.equal(c.pending, false);
  assert.equal(lookup(store.root, "/local/domain/5/memory/target")!.value, "1");
});

test("a walk cut short by its time budget goes on where it stopped", () => {
  const store = populated(300);
  const before = observe(store.root);
  const c = new ColdSubtreeCompactor();
  let passes = 0;
  while ((passes === 0 || c.pending) && passes < 100_000) {
    c.pass(store.root, 0);
    passes++;
  }
  assert.ok(c.totals.walks >= 2);
  assert.ok(passes > c.totals.walks * 2, `passes ${passes}, walks ${c.totals.walks}`);
  assert.equal(c.totals.units, 301, "each home, and /tool");
  assert.deepEqual(observe(store.root), before);
});

test("writes, removals and ACL changes on packed subtrees behave as on unpacked ones", () => {
  const packedStore = populated(40);
  const plainStore = populated(40);
  compactFully(new ColdSubtreeCompactor(), packedStore.root);
  assert.ok(lookup(packedStore.root, "/local/domain/3")!.children instanceof FrozenChildren);
  for (const store of [packedStore, plainStore]) {
    const e = new TreeEditor(store.root);
    e.write("/local/domain/3/device/vif/0/state", "5", guest(3));
    e.write("/local/domain/3/device/vif/1/state", "1", guest(3));
    assert.equal(e.remove("/local/domain/4/device")!.length, 5);
    e.setPerms("/local/domain/9/name", Perms.owned(9));
    e.mkdir("/local/domain/10/data", guest(10));
    store.commit({ editor: e }, META);
  }
  // Two stores: their listing generations differ, everything else is the same.
  assert.deepEqual(observe(packedStore.root, false), observe(plainStore.root, false));
  assert.deepEqual(packedStore.tallies, plainStore.tallies);
});

test("compactInBackground packs while the tree changes and stops when told", async () => {
  const store = populated(40);
  const running = compactInBackground(() => store.root, { intervalMs: 5, budgetMs: 50, resumeMs: 1 });
  try {
    const packed = (): boolean => lookup(store.root, "/local/domain/3")!.children instanceof FrozenChildren;
    for (let i = 0; i < 200 && !packed(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(packed());
  } finally {
    running.stop();
  }
  const passes = running.compactor.totals.passes;
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(running.compactor.totals.passes, passes);
});

test("history diffs across packed subtrees report exactly what changed", () => {
  const store = populated(40);
  compactFully(new ColdSubtreeCompactor(), store.root);
  const before = store.root;
  const e = new TreeEditor(store.root);
  e.write("/local/domain/3/device/vif/0/state", "6", dom0);
  e.write("/local/domain/3/extra", "x", dom0);
  store.commit({ editor: e }, META);
  assert.deepEqual(
    [...diffTrees(before, store.root, "/")].map((d) => [d.path, d.kind, d.before?.value ?? null, d.after?.value ?? null]),
    [
      ["/local/domain/3/device/vif/0/state", "changed", "4", "6"],
      ["/local/domain/3/extra", "added", null, "x"],
    ],
  );
  // Two lookups of the same packed directory are one shared subtree.
  const a = lookup(before, "/local/domain/3/device")!;
  const b = lookup(before, "/local/domain/3/device")!;
  assert.notEqual(a, b);
  assert.ok(sameChildren(a.children, b.children));
  assert.ok(!sameChildren(a.children, lookup(store.root, "/local/domain/3/device")!.children));
});

test("a unit that cannot be packed is not tried again, and the compactor goes quiet", () => {
  const store = populated(40);
  const e = new TreeEditor(store.root);
  // Not from the wire (values there are bytes), but a programmatic caller could.
  e.write("/local/domain/2/wide", "\u2603", dom0);
  store.commit({ editor: e }, META);
  const c = new ColdSubtreeCompactor();
  compactFully(c, store.root);
  assert.equal(c.pending, false);
  assert.ok(!(lookup(store.root, "/local/domain/2")!.children instanceof FrozenChildren));
  assert.ok(lookup(store.root, "/local/domain/3")!.children instanceof FrozenChildren);
  const passes = c.totals.passes;
  c.pass(store.root, 1000);
  assert.equal(c.pending, false, "nothing found again");
  assert.equal(c.totals.passes, passes + 1);
  assert.equal(lookup(store.root, "/local/domain/2/wide")!.value, "\u2603");
});

test("compactInBackground leaves a small store as it is (fewer nodes than minNodes)", async () => {
  const store = populated(40);
  let nodes = 100;
  const running = compactInBackground(() => store.root, { intervalMs: 2, budgetMs: 50, resumeMs: 1, storeNodes: () => nodes, minNodes: 1000 });
  try {
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(running.compactor.totals.passes, 0);
    nodes = 1000;
    const packed = (): boolean => lookup(store.root, "/local/domain/3")!.children instanceof FrozenChildren;
    for (let i = 0; i < 200 && !packed(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(packed());
  } finally {
    running.stop();
  }
  assert.equal(PACK_MIN_NODES, 20_000);
});

test("a large directory's cold children are packed into its entries and read back exactly; a change below one thaws only it", () => {
  const packedStore = populated(60);
  const plainStore = populated(60);
  const before = observe(packedStore.root);
  const c = new ColdSubtreeCompactor();
  compactFully(c, packedStore.root);
  assert.equal(c.totals.leaves, 60, "each of the 60 homes in /local/domain");
  assert.deepEqual(observe(packedStore.root), before);
  const domains = lookup(packedStore.root, "/local/domain")!;
  assert.deepEqual(domains.childNames(), Array.from({ length: 60 }, (_, i) => String(i + 1)));
  assert.equal(domains.children!.get("61"), undefined);
  assert.equal(domains.children!.has("7"), true);
  // Packed leaves decode as packed subtrees; another walk packs nothing more.
  assert.ok(lookup(packedStore.root, "/local/domain/7")!.children instanceof FrozenChildren);
  c.pass(packedStore.root, 1000);
  assert.equal(c.totals.leaves, 60);
  for (const store of [packedStore, plainStore]) {
    const e = new TreeEditor(store.root);
    e.write("/local/domain/3/device/vif/0/state", "6", guest(3));
    e.remove("/local/domain/8");
    e.write("/local/domain/8/name", "again", dom0);
    e.setPerms("/local/domain/9", Perms.owned(9));
    e.write("/local/domain/61/name", "new", dom0);
    store.commit({ editor: e }, META);
  }
  assert.deepEqual(observe(packedStore.root, false), observe(plainStore.root, false));
  assert.deepEqual(packedStore.tallies, plainStore.tallies);
  // The re-created home is listed last, after the new one, as cx lists it.
  assert.deepEqual(lookup(packedStore.root, "/local/domain")!.childNames().slice(-3), ["60", "8", "61"]);
  // The changed homes are packed again once still: all 60 again, plus the new one.
  compactFully(c, packedStore.root);
  assert.equal(c.totals.leaves, 60 + 4);
  assert.deepEqual(observe(packedStore.root, false), observe(plainStore.root, false));
  assert.deepEqual([...diffTrees(plainStore.root, packedStore.root, "/")], []);
});
