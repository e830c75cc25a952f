/**
 * One malloc arena for the daemon's threads (src/system/malloc-arena.ts,
 * native/heap.cc limitMallocArenas).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { test } from "node:test";
import { Op } from "../src/protocol/messages.js";
import { encodePacket } from "../src/protocol/serializer.js";
import { shareMallocArena } from "../src/system/malloc-arena.js";
import { startTsxenstored } from "./helpers/daemon.js";

const addon = createRequire(import.meta.url)("../../build/Release/tsxs_heap.node") as { limitMallocArenas(...args: unknown[]): unknown };

test("limitMallocArenas takes an integer from 1 to 64 and nothing else", () => {
  for (const bad of [[], [0], [65], [-1], ["1"], [1.5], [null]]) assert.throws(() => addon.limitMallocArenas(...bad), { name: "TypeError", message: "limitMallocArenas(n): n is an integer from 1 to 64" });
  assert.equal(addon.limitMallocArenas(64), true);
});

test("shareMallocArena leaves MALLOC_ARENA_MAX to glibc when it is set", () => {
  assert.equal(shareMallocArena({ MALLOC_ARENA_MAX: "4" }), false);
});

/** glibc's thread arenas of process `pid`: anonymous 64 MiB heaps, aligned to their size (a rw part, then the reserved rest). */
function threadArenas(pid: number): number {
  const M64 = 64n << 20n;
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8")
    .trim()
    .split("\n")
    .map((line) => {
      const [range, perm, , , inode] = line.split(/\s+/);
      const [start, end] = range!.split("-").map((x) => BigInt(`0x${x}`));
      return { start: start!, end: end!, perm, anonymous: inode === "0" };
    });
  let n = 0;
  maps.forEach((m, i) => {
    if (!m.anonymous || m.perm !== "rw-p" || m.start % M64 !== 0n) return;
    const next = maps[i + 1];
    const end = next && next.start === m.end && next.perm === "---p" && next.anonymous ? next.end : m.end;
    if (end - m.start === M64) n++;
  });
  return n;
}

/** 20,000 pipelined writes: the daemon's collector threads get work (and would get arenas). */
async function burst(socket: string): Promise<void> {
  const packets: Buffer[] = [];
  for (let i = 0; i < 20_000; i++) packets.push(encodePacket(Op.WRITE, i, 0, Buffer.from(`/burst/${i % 500}/k${i}\0${"v".repeat(100)}`, "latin1")));
  const expected = packets.length;
  await new Promise<void>((resolve, reject) => {
    const s = connect(socket);
    let bytes = 0;
    let replies = 0;
    s.on("data", (d: Buffer) => {
      bytes += d.length;
      // Each reply to WRITE is a 16-byte header and "OK\0".
      replies = Math.floor(bytes / 19);
      if (replies >= expected) {
        s.end();
        resolve();
      }
    });
    s.on("error", reject);
    s.write(Buffer.concat(packets));
  });
}

test("the daemon's threads share one malloc arena (at most one thread arena besides the main one)", async () => {
  const d = await startTsxenstored();
  try {
    await burst(d.socket);
    assert.ok(threadArenas(d.pid) <= 1, `${threadArenas(d.pid)} thread arenas`);
  } finally {
    await d.stop();
  }
});
