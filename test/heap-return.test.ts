/**
 * Memory returned after a burst (src/system/heap-return.ts, native/heap.cc).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";
import { getHeapSpaceStatistics } from "node:v8";
import { HeapReturn, returnHeap, returnYoungGeneration, settleYoungGeneration } from "../src/system/heap-return.js";

const MiB = 1024 * 1024;

/** A HeapReturn on a fake clock, heap and collector. */
function rig(opts: { idleMs?: number; minGrowth?: number; youngIdleMs?: number; youngMin?: number } = {}) {
  const s = { activity: 0, heap: 50 * MiB, young: 0, now: 0, collected: 0, youngCollected: 0, youngSettled: 0, lines: [] as string[] };
  const h = new HeapReturn({
    activity: () => s.activity,
    heapSize: () => s.heap,
    youngSize: () => s.young,
    now: () => s.now,
    collect: () => {
      s.collected++;
      s.heap = 60 * MiB;
      s.young = 1 * MiB;
      return true;
    },
    collectYoung: () => {
      s.youngCollected++;
      s.young = 1 * MiB;
      return true;
    },
    settleYoung: () => {
      s.youngSettled++;
      return true;
    },
    log: (l) => s.lines.push(l),
    ...opts,
  });
  return { s, h };
}

test("heap return: only after the daemon has been idle for idleMs, and only once the heap has grown by minGrowth", () => {
  const { s, h } = rig({ idleMs: 1000, minGrowth: 16 * MiB });
  // Busy: requests keep arriving while the heap grows.
  for (let t = 0; t < 5000; t += 250) {
    s.now = t;
    s.activity++;
    s.heap += 10 * MiB;
    assert.equal(h.check(), false, `busy at ${t} ms`);
  }
  // Quiet since the last request (at 4,750 ms), but not for long enough yet.
  s.now = 5500;
  assert.equal(h.check(), false);
  s.now = 5749;
  assert.equal(h.check(), false);
  // Quiet for 1 s: returned once, and logged.
  s.now = 5750;
  assert.equal(h.check(), true);
  assert.equal(s.collected, 1);
  assert.deepEqual(s.lines, ["idle: heap returned, 250 -> 60 MiB in 0 ms"]);
  // Still idle, heap no larger: nothing more.
  s.now = 9000;
  assert.equal(h.check(), false);
  // A little growth (less than minGrowth) after more requests: nothing.
  s.activity++;
  s.heap += 15 * MiB;
  h.check();
  s.now = 11000;
  assert.equal(h.check(), false);
  // Enough growth: again.
  s.activity++;
  s.now = 12000;
  s.heap += 1 * MiB;
  h.check();
  s.now = 13000;
  assert.equal(h.check(), true);
  assert.equal(s.collected, 2);
});

test("heap return: a large young generation is given back after youngIdleMs of quiet (its window started at idleMs), once per quiet period; not when the heap was returned", () => {
  const { s, h } = rig({ idleMs: 1000, minGrowth: 32 * MiB, youngIdleMs: 7000, youngMin: 16 * MiB });
  s.activity++;
  s.young = 32 * MiB;
  assert.equal(h.check(), false, "busy");
  // Quiet, the old generation not grown: at idleMs, V8's quiet window starts (a minor collection), once.
  s.now = 999;
  assert.equal(h.check(), false);
  assert.equal(s.youngSettled, 0);
  s.now = 1000;
  assert.equal(h.check(), false);
  s.now = 1250;
  assert.equal(h.check(), false);
  assert.deepEqual([s.youngSettled, s.youngCollected], [1, 0]);
  // Nothing before youngIdleMs.
  s.now = 6999;
  assert.equal(h.check(), false);
  s.now = 7000;
  assert.equal(h.check(), true);
  assert.deepEqual([s.collected, s.youngCollected, s.youngSettled], [0, 1, 1]);
  assert.deepEqual(s.lines, ["idle: young generation given back, 32 -> 1 MiB"]);
  // Still the same quiet period, the young generation grown back (V8's own doing): not again.
  s.young = 32 * MiB;
  s.now = 20000;
  assert.equal(h.check(), false);
  // A new burst, then quiet: again. A small young generation is left alone.
  s.activity++;
  s.young = 8 * MiB;
  s.now = 30000;
  h.check();
  s.now = 40000;
  assert.equal(h.check(), false, "8 MiB is below youngMin");
  s.activity++;
  s.young = 32 * MiB;
  s.now = 50000;
  h.check();
  s.now = 51000;
  assert.equal(h.check(), false, "the window starts");
  s.now = 57000;
  assert.equal(h.check(), true);
  assert.deepEqual([s.youngCollected, s.youngSettled], [2, 2]);
  // A burst that grew the old generation: the compacting return covers the young one too.
  s.activity++;
  s.young = 32 * MiB;
  s.heap += 40 * MiB;
  s.now = 60000;
  h.check();
  s.now = 61000;
  assert.equal(h.check(), true);
  assert.equal(s.collected, 1);
  s.young = 32 * MiB;
  s.now = 70000;
  assert.equal(h.check(), false, "not again in the quiet period the heap was returned in");
  assert.equal(s.youngCollected, 2);
});

test("heap return: growth counts from where V8 shrank the heap by itself", () => {
  const { s, h } = rig({ idleMs: 0, minGrowth: 16 * MiB });
  s.heap = 20 * MiB; // V8's own reducer ran
  assert.equal(h.check(), false);
  s.heap = 37 * MiB;
  assert.equal(h.check(), true);
});

test("heap return: without the addon it stops checking", () => {
  const h = new HeapReturn({ activity: () => 0, heapSize: () => 1e9, now: () => 1e9, collect: () => false, idleMs: 0 }).start(1000);
  assert.equal(h.check(), false);
  assert.equal(h.returns, 0);
  h.stop();
});

test("native memoryPressure: a compacting collection gives a dropped heap back; bad levels are a TypeError", () => {
  const addon = createRequire(import.meta.url)("../../build/Release/tsxs_heap.node") as { memoryPressure(level: unknown): void };
  for (const bad of [3, -1, "2", undefined, 1.5]) assert.throws(() => addon.memoryPressure(bad), TypeError);
  assert.throws(() => (addon.memoryPressure as () => void)(), TypeError);
  let junk: object[] | null = [];
  for (let i = 0; i < 400_000; i++) junk.push({ i, s: `x${i}`, a: [i] });
  const full = process.memoryUsage().heapTotal;
  junk = null;
  assert.equal(returnHeap(), true);
  const after = process.memoryUsage().heapTotal;
  assert.ok(after < full - 20 * MiB, `heap ${full / MiB} MiB -> ${after / MiB} MiB`);
  addon.memoryPressure(1);
  addon.memoryPressure(0);
});

test("native trimMalloc: free pages in the middle of the C heap go back to the system (glibc); a boolean either way", () => {
  const addon = createRequire(import.meta.url)("../../build/Release/tsxs_heap.node") as { trimMalloc(...args: unknown[]): unknown; memoryPressure(level: number): void };
  const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) * 1024;
  // 64 MiB of malloc'd buffers (each below glibc's mmap threshold); every other one is dropped, so
  // the free memory lies between live blocks, where glibc's own trimming of the top never reaches.
  const buffers: (Buffer | null)[] = [];
  for (let i = 0; i < 1024; i++) buffers.push(Buffer.alloc(64 * 1024, 1));
  for (let i = 0; i < buffers.length; i += 2) buffers[i] = null;
  addon.memoryPressure(2); // a full collection frees the dropped buffers' memory
  addon.memoryPressure(0);
  const held = rss();
  const released = addon.trimMalloc();
  const after = rss();
  // Debian's C library is glibc (elsewhere trimMalloc is a no-op that says false).
  assert.equal(released, true);
  assert.ok(after < held - 16 * MiB, `VmRSS ${held / MiB} -> ${after / MiB} MiB`);
  // The live half is untouched; arguments are ignored.
  for (let i = 1; i < buffers.length; i += 2) assert.equal(buffers[i]![65535], 1);
  assert.equal(typeof addon.trimMalloc("ignored", 1), "boolean");
});

test("returnYoungGeneration: a minor collection 6 s after settleYoungGeneration's gives a burst's grown young generation back", async () => {
  const young = (): number => getHeapSpaceStatistics().filter((x) => x.space_name.startsWith("new_")).reduce((a, x) => a + x.space_size, 0);
  // A burst of short-lived objects, some surviving a while: V8 grows the young generation to its maximum.
  let keep: object[] = [];
  for (let i = 0; i < 3_000_000; i++) {
    const o = { i, s: `x${i}` };
    if (i % 3 === 0) keep.push(o);
    if (keep.length > 200_000) keep = [];
  }
  const grown = young();
  assert.ok(grown >= 16 * MiB, `young generation ${grown / MiB} MiB after the burst`);
  // V8 shrinks it only once its measured allocation rate is low: over the 5 s after a collection.
  assert.equal(settleYoungGeneration(), true);
  // A trickle, as the daemon's own timers make (V8 reads a rate of exactly zero as unknown).
  const trickle = setInterval(() => keep.push([Date.now()]), 100);
  await new Promise((r) => setTimeout(r, 6000));
  clearInterval(trickle);
  assert.equal(returnYoungGeneration(), true);
  assert.ok(young() <= 4 * MiB, `young generation ${grown / MiB} -> ${young() / MiB} MiB`);
});
