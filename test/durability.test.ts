/**
 * Crash recovery: the daemon killed with SIGKILL at random instants under
 * load loses no acknowledged change and half-applies nothing; torn and
 * corrupt journal tails; the durability modes; a state directory that
 * cannot be used; guests through their rings carrying on across a crash.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { XenStoreClient } from "../src/client/client.js";
import { BIN, waitForSocket } from "./helpers/daemon.js";
import { emulationUnavailable, startGuest } from "./helpers/emulated.js";
import { cleanEnv, tempDir, withTimeout } from "./helpers/proc.js";

interface Daemon {
  readonly child: ChildProcess;
  readonly socket: string;
  output(): string;
  readonly exited: Promise<void>;
}

/** Start the daemon in the foreground over `dir` (its rundir: the state is in `dir/state`). */
async function start(dir: string, args: string[] = []): Promise<Daemon> {
  const socket = join(dir, "socket");
  const child = spawn(process.execPath, [BIN, "-N", ...args], { env: cleanEnv({ XENSTORED_RUNDIR: dir }), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await Promise.race([
    Promise.all([waitForSocket(socket), waitForSocket(`${socket}_ro`)]),
    exited.then(() => {
      throw new Error(`tsxenstored exited during start: ${out}`);
    }),
  ]);
  return { child, socket, output: () => out, exited };
}

async function kill(d: Daemon): Promise<void> {
  d.child.kill("SIGKILL");
  await d.exited;
}

async function stop(d: Daemon): Promise<void> {
  d.child.kill("SIGTERM");
  await withTimeout(d.exited, 8000, "exit after SIGTERM");
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Clients writing under load until the daemon dies: each writer writes
 * `/crash/r<round>/w<i>/k<n>` = n in turn (one request in flight), each
 * transaction client writes `a` and `b` of its node in one transaction;
 * every acknowledged change is recorded.
 */
async function load(socket: string, round: number, acked: Map<string, string>, txAcked: Map<string, number>): Promise<void> {
  const writers = [0, 1, 2, 3, 4, 5].map(async (i) => {
    const c = await XenStoreClient.connect(socket);
    for (let n = 0; ; n++) {
      const path = `/crash/r${round}/w${i}/k${n}`;
      try {
        await c.write(path, String(n));
      } catch {
        return;
      }
      acked.set(path, String(n));
    }
  });
  const txs = [0, 1].map(async (i) => {
    const c = await XenStoreClient.connect(socket);
    const base = `/crash/r${round}/t${i}`;
    for (let n = 1; ; n++) {
      try {
        await c.transaction(async (tx) => {
          await tx.write(`${base}/a`, String(n));
          await tx.write(`${base}/b`, String(n));
        });
      } catch {
        return;
      }
      txAcked.set(base, n);
    }
  });
  await Promise.all([...writers, ...txs]);
}

async function readOr(c: XenStoreClient, path: string): Promise<string | null> {
  try {
    return (await c.read(path)).toString("latin1");
  } catch {
    return null;
  }
}

/** Kills per run of the crash test (TSXS_CRASH_ROUNDS=100 for the longer run recorded in docs/compat.md). */
const CRASH_ROUNDS = Number(process.env.TSXS_CRASH_ROUNDS ?? 20);

test(`SIGKILL at ${CRASH_ROUNDS} random instants under load: every acknowledged write and transaction survives, none is half-applied, CONTROL check is clean`, { timeout: 120_000 + CRASH_ROUNDS * 6000 }, async () => {
  const dir = tempDir();
  const acked = new Map<string, string>();
  const txAcked = new Map<string, number>();
  let d = await start(dir);
  for (let round = 0; round < CRASH_ROUNDS; round++) {
    const running = load(d.socket, round, acked, txAcked);
    await sleep(30 + Math.random() * 120);
    await kill(d);
    await running;
    d = await start(dir);
    const c = await XenStoreClient.connect(d.socket);
    for (const [path, value] of acked) assert.equal(await readOr(c, path), value, `${path} was acknowledged (round ${round})`);
    for (const [base, n] of txAcked) {
      const a = await readOr(c, `${base}/a`);
      const b = await readOr(c, `${base}/b`);
      assert.equal(a, b, `${base}: a transaction is all or nothing`);
      assert.ok(Number(a) >= n, `${base}: transaction ${n} was acknowledged, found ${a}`);
    }
    assert.equal(await c.control("check"), "OK");
    c.close();
  }
  assert.ok(acked.size > 100, `load was applied (${acked.size} writes)`);
  assert.doesNotMatch(d.output(), /inconsistent/);
  await stop(d);
});

test("a clean stop and start carries on too; --durability off keeps nothing", async () => {
  const dir = tempDir();
  let d = await start(dir);
  let c = await XenStoreClient.connect(d.socket);
  await c.write("/kept", "yes");
  await c.setPerms("/kept", ["n0", "r3"]);
  c.close();
  await stop(d);
  d = await start(dir);
  c = await XenStoreClient.connect(d.socket);
  assert.equal(await readOr(c, "/kept"), "yes");
  assert.deepEqual(await c.getPerms("/kept"), [
    { domid: 0, read: false, write: false },
    { domid: 3, read: true, write: false },
  ]);
  c.close();
  await stop(d);

  const off = tempDir();
  d = await start(off, ["--durability", "off"]);
  c = await XenStoreClient.connect(d.socket);
  await c.write("/gone", "1");
  c.close();
  await kill(d);
  assert.equal(existsSync(join(off, "state")), false, "no state directory");
  d = await start(off, ["--durability", "off"]);
  c = await XenStoreClient.connect(d.socket);
  assert.equal(await readOr(c, "/gone"), null);
  c.close();
  await stop(d);
});

test("--durability sync: acknowledged writes of 16 concurrent clients survive SIGKILL", async () => {
  const dir = tempDir();
  let d = await start(dir, ["--durability", "sync"]);
  const clients = await Promise.all(Array.from({ length: 16 }, () => XenStoreClient.connect(d.socket)));
  await Promise.all(clients.map(async (c, i) => {
    for (let n = 0; n < 20; n++) await c.write(`/sync/c${i}/k${n}`, `${n}`);
  }));
  await kill(d);
  d = await start(dir, ["--durability", "sync"]);
  const c = await XenStoreClient.connect(d.socket);
  for (let i = 0; i < 16; i++) assert.deepEqual((await c.list(`/sync/c${i}`)).length, 20);
  c.close();
  await stop(d);
});

/** The journal segment files of a state directory, oldest first. */
function segments(dir: string): string[] {
  return readdirSync(join(dir, "state"))
    .filter((f) => /^log\.\d{8}$/.test(f))
    .sort()
    .map((f) => join(dir, "state", f));
}

/** Where a segment's last entry starts, and where its entries end (the zero fill starts). */
function entryBounds(buf: Buffer): { last: number; end: number } {
  let off = 0;
  let last = 0;
  while (off + 8 <= buf.length && buf.readUInt32LE(off) !== 0) {
    last = off;
    off += 8 + buf.readUInt32LE(off);
  }
  return { last, end: off };
}

test("a torn last entry (a crash while writing it) is dropped: the state is what was acknowledged before it; the damage is logged", async () => {
  const dir = tempDir();
  let d = await start(dir);
  let c = await XenStoreClient.connect(d.socket);
  for (let n = 0; n < 5; n++) await c.write(`/torn/k${n}`, String(n));
  c.close();
  await kill(d);
  const seg = segments(dir).at(-1)!;
  // The last entry, cut in the middle: its length says more than there is.
  truncateSync(seg, entryBounds(readFileSync(seg)).last + 12);
  d = await start(dir);
  c = await XenStoreClient.connect(d.socket);
  assert.deepEqual(await c.list("/torn"), ["k0", "k1", "k2", "k3"]);
  // The daemon carries on from there: new writes are kept.
  await c.write("/torn/after", "x");
  c.close();
  await kill(d);
  assert.match(d.output(), /runs past the end|torn frame/);
  d = await start(dir);
  c = await XenStoreClient.connect(d.socket);
  assert.deepEqual(await c.list("/torn"), ["k0", "k1", "k2", "k3", "after"]);
  c.close();
  await stop(d);
});

test("a corrupt entry (checksum) ends the replay of its segment there; garbage after the entries is ignored", async () => {
  const dir = tempDir();
  let d = await start(dir);
  let c = await XenStoreClient.connect(d.socket);
  for (let n = 0; n < 4; n++) await c.write(`/bad/k${n}`, String(n));
  c.close();
  await kill(d);
  const seg = segments(dir).at(-1)!;
  const buf = readFileSync(seg);
  // Flip a byte inside the last entry's payload.
  const { last } = entryBounds(buf);
  buf[last + 10] = buf[last + 10]! ^ 0xff;
  writeFileSync(seg, buf);
  d = await start(dir);
  c = await XenStoreClient.connect(d.socket);
  assert.deepEqual(await c.list("/bad"), ["k0", "k1", "k2"]);
  c.close();
  await stop(d);
  assert.match(d.output(), /fails its checksum/);
  // Bytes that are not entries after the last one (the end of a file that was never zero-filled).
  const seg2 = segments(dir).at(-1)!;
  truncateSync(seg2, entryBounds(readFileSync(seg2)).end);
  appendFileSync(seg2, Buffer.from([1, 2, 3]));
  d = await start(dir);
  c = await XenStoreClient.connect(d.socket);
  assert.deepEqual(await c.list("/bad"), ["k0", "k1", "k2"]);
  c.close();
  await stop(d);
});

test("a state directory that cannot be used is a clear error at start; a second daemon on the same one is refused", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "file"), "");
  const r = spawn(process.execPath, [BIN, "-N", "--state-dir", join(dir, "file", "state")], { env: cleanEnv({ XENSTORED_RUNDIR: dir }), stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  r.stderr!.on("data", (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((res) => r.once("exit", (c) => res(c)));
  assert.equal(code, 1);
  assert.match(err, new RegExp(`^tsxenstored: cannot start: the state directory ${join(dir, "file", "state")} cannot be created: .*\\n$`));

  const d = await start(dir);
  const other = tempDir();
  const second = spawn(process.execPath, [BIN, "-N", "--state-dir", join(dir, "state")], { env: cleanEnv({ XENSTORED_RUNDIR: other }), stdio: ["ignore", "ignore", "pipe"] });
  let err2 = "";
  second.stderr!.on("data", (b: Buffer) => (err2 += b.toString()));
  assert.equal(await new Promise<number | null>((res) => second.once("exit", (c) => res(c))), 1);
  assert.match(err2, /the state directory .* is in use: another xenstored is running/);
  await stop(d);
  assert.ok(statSync(join(dir, "state")).isDirectory());
});

/** Mount a tmpfs of `size` at `dir` (root only); false when this machine cannot. */
function mountTmpfs(dir: string, options: string): boolean {
  if (process.getuid?.() !== 0) return false;
  mkdirSync(dir, { recursive: true });
  return spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]).status === 0;
}

function unmount(dir: string): void {
  spawnSync("umount", ["-l", dir]);
}

const canMount = ((): string | false => {
  const probe = join(tempDir(), "probe");
  if (!mountTmpfs(probe, "size=64k")) return "needs root and tmpfs mounts (mount -t tmpfs)";
  unmount(probe);
  return false;
})();

test("disk full at run time: the change that does not fit is refused with ENOSPC and nothing of it remains; what was acknowledged survives SIGKILL; a read-only state directory is a clear error at start", { skip: canMount }, async () => {
  const dir = tempDir();
  const state = join(dir, "state");
  // The journal reserves 4 MiB at a time: the first chunk fits, the second does not.
  assert.ok(mountTmpfs(state, "size=6m"));
  try {
    let d = await start(dir);
    const c = await XenStoreClient.connect(d.socket);
    const value = "v".repeat(4000);
    const acked: string[] = [];
    let refused: string | null = null;
    for (let i = 0; i < 5000 && !refused; i++) {
      const path = `/fill/n${i}`;
      try {
        await c.write(path, value);
        acked.push(path);
      } catch (e) {
        assert.equal((e as Error).message, "ENOSPC", `the write of ${path} is refused as disk full`);
        refused = path;
      }
    }
    assert.ok(refused && acked.length > 10, `the disk filled (${acked.length} writes fitted)`);
    assert.equal(await readOr(c, refused), null, "nothing of the refused write is in the store");
    // A transaction that does not fit fails whole.
    await assert.rejects(
      c.transaction(async (tx) => {
        await tx.write("/fill/tx/a", value);
        await tx.write("/fill/tx/b", value);
      }),
      (e: Error) => e.message === "ENOSPC",
    );
    assert.equal(await readOr(c, "/fill/tx/a"), null);
    assert.equal(await readOr(c, acked[0]!), value, "reads go on");
    assert.equal(await c.control("check"), "OK");
    c.close();
    await kill(d);
    d = await start(dir);
    const again = await XenStoreClient.connect(d.socket);
    for (const p of acked) assert.equal(await readOr(again, p), value, `${p} was acknowledged`);
    assert.equal(await readOr(again, refused), null);
    assert.equal(await again.control("check"), "OK");
    again.close();
    await stop(d);
  } finally {
    unmount(state);
  }
  // Full at start, and read-only: refused at start with the reason.
  const full = join(tempDir(), "state");
  assert.ok(mountTmpfs(full, "size=256k"));
  try {
    assert.deepEqual(await failedStart(dir, full), { code: 1, stderr: `tsxenstored: cannot start: the state directory ${full} is full\n` });
  } finally {
    unmount(full);
  }
  const ro = join(tempDir(), "state");
  assert.ok(mountTmpfs(ro, "size=64k,ro"));
  try {
    assert.deepEqual(await failedStart(dir, ro), { code: 1, stderr: `tsxenstored: cannot start: the state directory ${ro} is on a read-only file system\n` });
  } finally {
    unmount(ro);
  }
});

/** A daemon over `stateDir` that is expected not to start: its exit status and what it said. */
async function failedStart(rundir: string, stateDir: string): Promise<{ code: number | null; stderr: string }> {
  const r = spawn(process.execPath, [BIN, "-N", "--state-dir", stateDir], { env: cleanEnv({ XENSTORED_RUNDIR: rundir }), stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  r.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((res) => r.once("exit", (c) => res(c)));
  return { code, stderr };
}

const noEmulation = emulationUnavailable();

test("a guest carries on across a daemon crash: its ring and event channel are served again, its watch fires once, its writes go on", { skip: noEmulation ?? false }, async () => {
  const dir = join(tempDir("tsxs-emu-"), "host");
  let d = await start(dir, ["--emulate", dir]);
  const host = { daemon: "tsxenstored" as const, dir, socket: d.socket, stop: async () => {} };
  const guest = await startGuest(host, 7, { ownHome: true });
  try {
    const g = await XenStoreClient.connect(guest.socket);
    await g.write("data/before", "1");
    const w = await g.watch("data", { token: "tk" });
    const first = await w.next();
    assert.deepEqual([first.path, first.token], ["data", "tk"]);
    await kill(d);
    d = await start(dir, ["--emulate", dir]);
    assert.match(d.output(), /recovered revision \d+/);
    // The watch fires once when the guest is re-attached.
    const again = await withTimeout(w.next(), 5000, "the watch firing after the restart");
    assert.deepEqual([again.path, again.token], ["data", "tk"]);
    assert.equal(await readOr(g, "data/before"), "1");
    await g.write("data/after", "2");
    const ev = await withTimeout(w.next(), 5000, "an event for a write after the restart");
    assert.equal(ev.path, "data/after");
    const dom0 = await XenStoreClient.connect(d.socket);
    assert.equal(await readOr(dom0, "/local/domain/7/data/after"), "2");
    dom0.close();
    g.close();
  } finally {
    await guest.stop();
    await stop(d);
  }
});
