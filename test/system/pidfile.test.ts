/**
 * The pid file guard of bin/tsxenstored: a second instance refuses while
 * the first runs (also when both start at the same moment), the lock a
 * claim holds, stale pid files replaced atomically, and a second instance
 * without a pid file refused because the socket is in use.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { XenStoreClient } from "../../src/client/index.js";
import { native } from "../../src/system/native.js";
import { PidFile, PidFileError } from "../../src/system/pidfile.js";
import { BIN } from "../helpers/daemon.js";
import {
  alive,
  assertAnswers,
  cleanEnv,
  cleanUpAfterAll,
  readIfExists,
  runLauncher,
  startForeground,
  startProc,
  stopDetached,
  tempDir,
  trackDetached,
  waitUntil,
  withTimeout,
} from "../helpers/proc.js";

cleanUpAfterAll();

test("pid file: a second instance with the same pid file refuses to start while the first runs", async () => {
  const dir = tempDir();
  const pidFile = join(dir, "xenstored.pid");
  const first = await startForeground(["-F", pidFile], { dir: join(dir, "first") });
  try {
    assert.equal(readIfExists(pidFile), `${first.pid}\n`);
    // In the foreground:
    const other = join(dir, "second");
    const second = startProc(process.execPath, [BIN, "-N", "-F", pidFile], cleanEnv({ XENSTORED_RUNDIR: other }));
    const { code } = await withTimeout(second.exited, 10000, "the second instance to exit");
    await second.stop();
    assert.equal(code, 1, second.stderr());
    assert.equal(second.stderr(), `tsxenstored: another xenstored (pid ${first.pid}) is running: pid file ${pidFile}\n`);
    assert.equal(existsSync(other), false, "the second instance created no sockets");
    // Through the launcher:
    const r = await runLauncher(["-F", pidFile], { XENSTORED_RUNDIR: other });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `tsxenstored: another xenstored (pid ${first.pid}) is running: pid file ${pidFile}\n`);
    assert.equal(existsSync(other), false);
    // The first one is untouched.
    assert.equal(readIfExists(pidFile), `${first.pid}\n`);
    await assertAnswers(join(dir, "first", "socket"), "first daemon");
    assert.deepEqual(readdirSync(dir).sort(), ["first", "xenstored.pid"]);
  } finally {
    const { code } = await first.stop();
    assert.equal(code, 0, first.stderr());
  }
  assert.equal(existsSync(pidFile), false, "removed on clean exit");
});

test("pid file: two daemons started at the same moment with the same pid file: exactly one runs", async (t) => {
  if (!native()) return t.skip("native helper not built: the pid file is checked but not locked");
  for (let round = 0; round < 8; round++) {
    const dir = tempDir();
    const pidFile = join(dir, "xenstored.pid");
    const [a, b] = await Promise.all([
      runLauncher(["-F", pidFile], { XENSTORED_RUNDIR: join(dir, "a") }),
      runLauncher(["-F", pidFile], { XENSTORED_RUNDIR: join(dir, "b") }),
    ]);
    const pid = Number(readIfExists(pidFile));
    if (pid > 0) trackDetached(pid);
    try {
      const codes = [a.code, b.code].sort();
      assert.deepEqual(codes, [0, 1], `round ${round}: ${a.stderr} / ${b.stderr}`);
      const loser = a.code === 0 ? b : a;
      assert.match(loser.stderr, /^tsxenstored: another xenstored (is starting: pid file .* is locked|\(pid \d+\) is running: pid file .*)\n$/);
      assert.ok(alive(pid), `round ${round}: the winner runs and its pid is in the file`);
    } finally {
      if (pid > 0 && alive(pid)) await stopDetached(pid);
    }
    assert.equal(existsSync(pidFile), false, `round ${round}: removed on exit`);
  }
});

test("pid file: a claim holds a lock until released; a daemon that never started leaves no empty file", (t) => {
  if (!native()) return t.skip("native helper not built");
  const dir = tempDir();
  const path = join(dir, "xenstored.pid");
  const first = PidFile.claim(path);
  assert.throws(() => PidFile.claim(path), new PidFileError(`another xenstored is starting: pid file ${path} is locked`));
  first.release();
  assert.equal(existsSync(path), false, "the empty file it created is gone");
  const second = PidFile.claim(path);
  second.write(4242);
  second.release(4242);
  assert.equal(existsSync(path), false);
});

test("pid file: a stale one (dead pid, garbage, a live process that is not xenstored) is replaced atomically", async () => {
  const dead = spawnSync("true").pid!;
  const sleeper = startProc("sleep", ["60"], cleanEnv());
  try {
    for (const [what, content] of [
      ["a dead pid", `${dead}\n`],
      ["garbage", "garbage\n"],
      ["an empty file", ""],
      ["a live process that is not xenstored", `${sleeper.pid}\n`],
    ] as const) {
      const dir = tempDir();
      const pidFile = join(dir, "xenstored.pid");
      writeFileSync(pidFile, content);
      const before = statSync(pidFile).ino;
      const d = await startForeground(["-F", pidFile], { dir: join(dir, "run") });
      try {
        await waitUntil(() => readIfExists(pidFile) === `${d.pid}\n`, `${what}: the pid file to hold the new pid`);
        assert.notEqual(statSync(pidFile).ino, before, `${what}: replaced by a rename, not rewritten in place`);
        assert.deepEqual(readdirSync(dir).sort(), ["run", "xenstored.pid"], `${what}: no temporary file left`);
      } finally {
        const { code } = await d.stop();
        assert.equal(code, 0, `${what}: ${d.stderr()}`);
      }
      assert.equal(existsSync(pidFile), false, `${what}: removed on clean exit`);
      assert.equal(sleeper.running(), true, "the unrelated process was not touched");
    }
  } finally {
    await sleeper.stop("SIGKILL");
  }
});

test("a second instance without a pid file but on the same socket refuses: in use", async () => {
  const dir = tempDir();
  const first = await startForeground([], { dir });
  try {
    const c = await XenStoreClient.connect(join(dir, "socket"));
    await c.write("/first/alive", "yes");
    const second = startProc(process.execPath, [BIN, "-N"], cleanEnv({ XENSTORED_RUNDIR: dir }));
    const { code } = await withTimeout(second.exited, 10000, "the second instance to exit");
    await second.stop();
    assert.equal(code, 1, second.stderr());
    assert.equal(second.stderr(), `tsxenstored: cannot start: ${join(dir, "socket")} is in use: another xenstored is running\n`);
    // Not disturbed: same sockets, same store, same connection.
    assert.equal(await c.readString("/first/alive"), "yes");
    c.close();
    assert.deepEqual(readdirSync(dir).sort(), ["socket", "socket_ro", "state"]);
    await assertAnswers(join(dir, "socket_ro"), "first daemon's socket_ro");
    const fresh = await XenStoreClient.connect(join(dir, "socket"));
    assert.equal(await fresh.readString("/first/alive"), "yes");
    fresh.close();
  } finally {
    const { code } = await first.stop();
    assert.equal(code, 0, first.stderr());
  }
});
