/**
 * Journal segments: appends go into mapped pages (the native mapShared)
 * and read back exactly as pwrite(2)n appends do, across the boundaries
 * between reserved ranges; a segment without mapping writes the same bytes.
 */
import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Segment } from "../src/durability/segment.js";
import { canMapFiles, mapShared, releasePages } from "../src/util/mapped-file.js";
import { tempDir } from "./helpers/proc.js";

/** Deterministic bytes: entry i is `size` bytes of (i % 251). */
function entry(i: number, size: number): Buffer {
  return Buffer.alloc(size, i % 251);
}

function fill(seg: Segment, sizes: readonly number[]): Buffer {
  const expected: Buffer[] = [];
  sizes.forEach((size, i) => {
    const e = entry(i, size);
    seg.ensure(e.length);
    // Only the first `size` bytes of a longer buffer are appended (the journal's pending writer is reused).
    seg.append(Buffer.concat([e, Buffer.alloc(7, 0xee)]), e.length);
    expected.push(e);
  });
  return Buffer.concat(expected);
}

test("mapShared maps a file range read-write: stores reach the file; bad arguments are errno values", { skip: !canMapFiles() && "the native addon did not build" }, () => {
  const dir = tempDir("seg");
  const seg = Segment.create(join(dir, "log.1"), 1);
  assert.equal(seg.mapped, true, "a new segment's reservation is mapped");
  assert.equal(mapShared(-1, 0, 4096), 9, "EBADF");
  assert.equal(mapShared(0, 1, 4096), 22, "EINVAL: offset not page-aligned");
  assert.equal(mapShared(0, 0, 0), 22, "EINVAL: empty");
  const file = join(dir, "plain");
  writeFileSync(file, Buffer.alloc(8192));
  const fd = openSync(file, "r+");
  const view = mapShared(fd, 4096, 4096);
  assert.ok(view instanceof Buffer && view.length === 4096);
  view.write("mapped", 10, "latin1");
  assert.equal(readFileSync(file).toString("latin1", 4096 + 10, 4096 + 16), "mapped", "a store is the file's content");
  // Released pages leave the resident set, not the file: the bytes are still there, and through the view too.
  assert.equal(releasePages(view, 0, 4096), 0);
  assert.equal(readFileSync(file).toString("latin1", 4096 + 10, 4096 + 16), "mapped");
  assert.equal(view.toString("latin1", 10, 16), "mapped");
  assert.equal(releasePages(view, 1, 4095), 22, "EINVAL: not page-aligned");
  assert.equal(releasePages(view, 0, 8192), 22, "EINVAL: past the mapping");
  assert.equal(releasePages(view, 0, 0), 22, "EINVAL: empty");
  closeSync(fd);
  seg.close();
});

test("appends into mapped pages read back byte for byte, across reserved ranges (entries of 4 MiB and more), and equal pwrite appends", () => {
  const dir = tempDir("seg");
  // 3,000 small entries, then some that each need a new reservation, then small ones again.
  const sizes = [...Array.from({ length: 3000 }, (_, i) => 1 + ((i * 37) % 300)), 5 * 1024 * 1024, 4 * 1024 * 1024 - 3, 100, 9 * 1024 * 1024, ...Array.from({ length: 500 }, (_, i) => 1 + i)];
  const mapped = Segment.create(join(dir, "log.1"), 1);
  const written = Segment.create(join(dir, "log.2"), 2, false);
  assert.equal(written.mapped, false);
  const a = fill(mapped, sizes);
  const b = fill(written, sizes);
  assert.ok(a.equals(b));
  assert.equal(mapped.size, a.length);
  // Before close (the reservation's zeros follow the entries), and after (truncated to the entries).
  assert.ok(readFileSync(join(dir, "log.1")).subarray(0, a.length).equals(a));
  mapped.close();
  written.close();
  assert.ok(readFileSync(join(dir, "log.1")).equals(a));
  assert.ok(readFileSync(join(dir, "log.2")).equals(a));
});
