/**
 * The history's commit archive: commits encoded outside the heap decode to
 * exactly what was appended, whatever their size (chunk boundaries, a
 * commit larger than a chunk, bytes of every value); dropping the oldest
 * keeps the rest; the index compacts and grows without losing a commit.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CommitArchive, INDEX_BYTES, encodedBytes } from "../src/history/archive.js";
import type { ChangeEntry } from "../src/store/changes.js";

const ALL_BYTES = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");

function changesOf(i: number): ChangeEntry[] {
  const big = i % 97 === 0 ? "x".repeat(300 * 1024 + i) : "";
  return [
    { path: `/local/domain/${i}`, kind: "created", before: null, after: { value: `${i}${big}`, acl: `n0,r${i}` } },
    { path: `/vm/${i}/bin`, kind: "value", before: { value: ALL_BYTES, acl: "n0" }, after: { value: "", acl: "n0" } },
    { path: `/old/${i}`, kind: "removed", before: { value: "v", acl: "b3" }, after: null },
    { path: "/p", kind: "perms", before: { value: "", acl: "n0" }, after: { value: "", acl: "r1,w2" } },
  ];
}

function append(a: CommitArchive, i: number): number {
  return a.append(1_700_000_000_000 + i * 1.5, i % 3 === 0 ? 0 : i, i * 7, i % 2 ? "TRANSACTION_END" : "WRITE", i % 5, changesOf(i));
}

test("commits decode as appended, each costing its encoding plus its index entry", () => {
  const a = new CommitArchive();
  a.clear(11);
  const costs: number[] = [];
  for (let i = 0; i < 3000; i++) costs.push(append(a, i));
  assert.equal(a.size, 3000);
  for (const i of [0, 1, 96, 97, 98, 1500, 2999]) {
    assert.deepEqual(a.get(11 + i), {
      revision: 11 + i,
      time: 1_700_000_000_000 + i * 1.5,
      domid: i % 3 === 0 ? 0 : i,
      conn: i * 7,
      op: i % 2 ? "TRANSACTION_END" : "WRITE",
      txId: i % 5,
      changes: changesOf(i),
      bytes: costs[i],
    });
    assert.equal(costs[i], encodedBytes(i % 2 ? "TRANSACTION_END" : "WRITE", changesOf(i)) + INDEX_BYTES);
  }
  assert.equal(a.get(10), undefined);
  assert.equal(a.get(11 + 3000), undefined);
  assert.equal(a.get(11.5), undefined);
});

test("dropping the oldest keeps the others; emptied, the archive starts again; the index compacts and grows", () => {
  const a = new CommitArchive();
  a.clear(1);
  let next = 0;
  // Keep a window of 700 commits while 5,000 pass through (the index compacts in place, then grows).
  for (; next < 5000; next++) {
    append(a, next);
    if (a.size > 700) assert.equal(a.dropOldest(), encodedBytes(next % 2 ? "TRANSACTION_END" : "WRITE", changesOf(next - 700)) + INDEX_BYTES);
  }
  assert.equal(a.size, 700);
  assert.equal(a.oldestTime(), 1_700_000_000_000 + 4300 * 1.5);
  assert.deepEqual(a.get(1 + 4300)!.changes, changesOf(4300));
  assert.deepEqual(a.get(1 + 4999)!.changes, changesOf(4999));
  assert.equal(a.get(1 + 4299), undefined);
  while (a.size) a.dropOldest();
  assert.equal(a.oldestTime(), undefined);
  append(a, 5000);
  assert.deepEqual(a.get(1 + 5000)!.changes, changesOf(5000), "revisions carry on after the archive emptied");
});
