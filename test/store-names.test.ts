import assert from "node:assert/strict";
import { test } from "node:test";
import { flatChildren } from "../src/store/children.js";
import { dictionaryNames, FrozenChildren, NAMES_MAX, pack } from "../src/store/frozen.js";
import { Node } from "../src/store/node.js";
import { Perms } from "../src/store/perms.js";

const acl = Perms.owned(0);
const leaf = (name: string, value = "v"): Node => new Node(name, value, acl, null);
const dir = (name: string, kids: Node[]): Node => new Node(name, "", acl, flatChildren(kids, 1));

/** Everything a reader sees of packed children: names, values, and lookups by name. */
function readBack(c: FrozenChildren): string[] {
  return c.nodes().map((n) => `${n.name}=${n.value}:${c.get(n.name)?.value}:${n.children ? readBack(n.children as FrozenChildren).join(",") : ""}`);
}

test("a packed name is one dictionary entry however many subtrees hold it; 1-character names are packed as they are", () => {
  const before = dictionaryNames();
  for (let guest = 0; guest < 50; guest++) {
    const packed = pack(flatChildren([leaf("platform-feature-multiprocessor-suspend", "1"), leaf("0", String(guest)), dir("device", [leaf("state", "4")])], 1))!;
    assert.deepEqual(readBack(packed), [
      "platform-feature-multiprocessor-suspend=1:1:",
      `0=${guest}:${guest}:`,
      "device=::state=4:4:",
    ]);
    assert.equal(packed.has("devic"), false);
    assert.equal(packed.get("stat"), undefined);
    assert.equal(packed.listingLength, "platform-feature-multiprocessor-suspend".length + 1 + 2 + 7);
  }
  assert.equal(dictionaryNames() - before, 3, "platform-feature-multiprocessor-suspend, device, state");
});

test(`the dictionary stops at ${NAMES_MAX} names; names beyond it are packed as they are and read back the same`, () => {
  const units: [FrozenChildren, string[]][] = [];
  for (let d = 0; dictionaryNames() < NAMES_MAX; d++) {
    const names = Array.from({ length: 32 }, (_, i) => `n${d}-${i}`);
    units.push([pack(flatChildren(names.map((n) => leaf(n, n.toUpperCase())), 1))!, names]);
  }
  assert.equal(dictionaryNames(), NAMES_MAX);
  const names = Array.from({ length: 32 }, (_, i) => `beyond-${i}`);
  const late = pack(flatChildren(names.map((n) => leaf(n, n)), 1))!;
  assert.equal(dictionaryNames(), NAMES_MAX);
  assert.deepEqual(late.names(), names);
  assert.equal(late.get("beyond-7")!.value, "beyond-7");
  for (const [unit, ns] of [units[0]!, units[units.length - 1]!]) {
    assert.deepEqual(unit.names(), ns);
    assert.equal(unit.get(ns[31]!)!.value, ns[31]!.toUpperCase());
  }
});
