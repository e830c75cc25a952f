/**
 * Legacy daemonizing of bin/tsxenstored (no -N): the launcher returns only
 * once the detached daemon is ready (200 launches in a row, each answered
 * at once), -P, relative paths, and a daemon that cannot start making the
 * launcher exit non-zero with its error.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { XenStoreClient } from "../../src/client/index.js";
import { Op, type Packet } from "../../src/protocol/messages.js";
import { BIN } from "../helpers/daemon.js";
import {
  alive,
  assertAnswers,
  cleanEnv,
  cleanUpAfterAll,
  expectErrno,
  isSocketFile,
  rawRequest,
  readIfExists,
  runLauncher,
  startForeground,
  startProc,
  stopDetached,
  tempDir,
  trackDetached,
  waitUntil,
  withTimeout,
  type Exit,
} from "../helpers/proc.js";

cleanUpAfterAll();

function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  // pid (comm) state ppid pgrp session ...
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[3]);
}

test("legacy daemonizing: the launcher exits 0 once the daemon is ready; -P prints the daemon's pid", async () => {
  const dir = tempDir();
  const pidFile = join(dir, "xenstored.pid");
  const r = await runLauncher(["-F", pidFile, "-P"], { XENSTORED_RUNDIR: dir });
  const pidText = readIfExists(pidFile);
  const pid = Number(pidText);
  if (pid > 0) trackDetached(pid);
  try {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^\d+\n$/);
    assert.equal(pidText, r.stdout, "-P prints the pid that is in the pid file");
    assert.ok(alive(pid), "the daemon runs after the launcher exited");
    await assertAnswers(join(dir, "socket"), "socket");
    await assertAnswers(join(dir, "socket_ro"), "socket_ro");
    assert.equal((statSync(join(dir, "socket")).mode & 0o777).toString(8), "600");
    assert.equal((statSync(join(dir, "socket_ro")).mode & 0o777).toString(8), "660");
    assert.equal(sessionOf(pid), pid, "the daemon leads its own session (detached from the launcher's terminal)");
    assert.equal(readlinkSync(`/proc/${pid}/cwd`), "/", "the daemon changed directory to /");
    assert.deepEqual(readdirSync(dir).sort(), ["socket", "socket_ro", "state", "xenstored.pid"]);
  } finally {
    if (pid > 0 && alive(pid)) await stopDetached(pid, "SIGINT");
  }
  assert.deepEqual(readdirSync(dir), ["state"], "SIGINT: sockets and pid file removed (the state directory stays)");

  // -P in the foreground prints the pid once ready.
  const d = await startForeground(["-P"], { dir });
  try {
    await waitUntil(() => d.stdout().includes("\n"), "the pid on stdout");
    assert.equal(d.stdout(), `${d.pid}\n`);
  } finally {
    await d.stop();
  }
});

test("legacy daemonizing with relative paths: the daemon (which moves to /) keeps the rundir, pid file and domains file it was given, and removes its own sockets", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "doms"), "0-9\n");
  const r = await runLauncher(["-F", "pid", "--domains-file", "doms"], { XENSTORED_RUNDIR: "run" }, 15000, dir);
  const pid = Number(readIfExists(join(dir, "pid")));
  if (pid > 0) trackDetached(pid);
  try {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readlinkSync(`/proc/${pid}/cwd`), "/");
    await assertAnswers(join(dir, "run/socket"), "socket");
    await assertAnswers(join(dir, "run/socket_ro"), "socket_ro");
    const c = await XenStoreClient.connect(join(dir, "run/socket"));
    try {
      await c.introduce(3, 1, 1);
      await expectErrno(c.introduce(10, 1, 1), "EINVAL", "a domain the domains file does not list");
    } finally {
      await c.close();
    }
  } finally {
    if (pid > 0 && alive(pid)) await stopDetached(pid);
  }
  assert.deepEqual(readdirSync(join(dir, "run")), ["state"], "sockets removed where they were created");
  assert.deepEqual(readdirSync(dir).sort(), ["doms", "run"], "pid file removed");
});

test("legacy daemonizing race: 200 launches, each answered the instant its launcher exits, then stopped cleanly", async () => {
  const N = 200;
  const base = tempDir();
  const problems: string[] = [];
  // Shut the previous daemon down while the next one starts (at most one in flight).
  let stopping: Promise<void> | null = null;
  for (let i = 0; i < N; i++) {
    const dir = join(base, String(i));
    mkdirSync(dir);
    const pidFile = join(dir, "xenstored.pid");
    const socket = join(dir, "socket");
    const child = spawn(process.execPath, [BIN, "-F", pidFile], { env: cleanEnv({ XENSTORED_RUNDIR: dir }), stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const outcome = await new Promise<{ code: number | null; reply: Promise<Packet>; pidText: string | null }>((resolve) => {
      child.once("exit", (code) => {
        // The instant the launcher is gone: connect and ask, with no retry.
        const reply = rawRequest(socket, Op.READ, "/tool/xenstored\0", 1000 + i);
        reply.catch(() => undefined);
        resolve({ code, reply, pidText: readIfExists(pidFile) });
      });
    });
    const pid = Number(outcome.pidText);
    if (pid > 0) trackDetached(pid);
    let reply: Packet | Error;
    try {
      reply = await outcome.reply;
    } catch (e) {
      reply = e as Error;
    }
    if (outcome.code !== 0) problems.push(`#${i}: launcher exit ${outcome.code}: ${stderr}`);
    if (!/^\d+\n$/.test(outcome.pidText ?? "")) problems.push(`#${i}: pid file at launcher exit: ${JSON.stringify(outcome.pidText)}`);
    if (reply instanceof Error) problems.push(`#${i}: connection right after the launcher exited: ${reply.message}`);
    else if (reply.type !== Op.READ || reply.reqId !== 1000 + i || reply.payload.length !== 0)
      problems.push(`#${i}: unexpected reply type ${reply.type} reqId ${reply.reqId} payload ${JSON.stringify(reply.payload.toString("latin1"))}`);
    if (problems.length > 5) break;
    const previous = stopping;
    stopping =
      pid > 0
        ? (async () => {
            try {
              await stopDetached(pid);
              const left = readdirSync(dir).filter((f) => f !== "state");
              if (left.length) problems.push(`#${i}: left behind after SIGTERM: ${left.join(", ")}`);
              rmSync(dir, { recursive: true, force: true });
            } catch (e) {
              problems.push(`#${i}: stopping pid ${pid}: ${(e as Error).message}`);
            }
          })()
        : null;
    if (previous) await previous;
  }
  if (stopping) await stopping;
  assert.deepEqual(problems, []);
});

test("legacy daemonizing: a daemon that cannot start makes the launcher exit non-zero with the daemon's error", async (t) => {
  await t.test("the socket's directory cannot be created (a regular file is in the way)", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "file"), "");
    const r = await runLauncher(["-F", join(dir, "pid")], { XENSTORED_RUNDIR: join(dir, "file", "run") });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^tsxenstored: cannot start: .*(ENOTDIR|EEXIST).*file/m);
    assert.equal(r.stdout, "");
    assert.deepEqual(readdirSync(dir), ["file"], "no pid file");
  });
  await t.test("the socket's directory is not writable (sysfs)", async () => {
    const dir = tempDir();
    const sock = `/sys/tsxs-test-${randomBytes(6).toString("hex")}/socket`;
    const r = await runLauncher(["-F", join(dir, "pid")], { XENSTORED_PATH: sock, XENSTORED_RUNDIR: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^tsxenstored: cannot start: .*(EPERM|EACCES|EROFS)/m);
    // The state directory (empty of state) was made before the socket failed; no pid file.
    assert.deepEqual(readdirSync(dir), ["state"], "no pid file");
  });
  await t.test("the socket's directory is read-only (chmod 0555; skipped as root)", { skip: process.getuid?.() === 0 ? "root may write anywhere" : false }, async () => {
    const dir = tempDir();
    const ro = join(dir, "ro");
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    const r = await runLauncher([], { XENSTORED_RUNDIR: ro });
    chmodSync(ro, 0o755);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^tsxenstored: cannot start: .*EACCES/m);
  });
  await t.test("the socket is in use by another daemon", async () => {
    const dir = tempDir();
    const first = await startForeground([], { dir });
    try {
      const other = tempDir();
      const r = await runLauncher(["-F", join(other, "pid")], { XENSTORED_RUNDIR: dir });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^tsxenstored: cannot start: .*socket is in use: another xenstored is running/m);
      assert.deepEqual(readdirSync(other), [], "no pid file");
      // The first daemon is untouched.
      assert.ok(isSocketFile(join(dir, "socket")) && isSocketFile(join(dir, "socket_ro")));
      await assertAnswers(join(dir, "socket"), "first daemon's socket");
      await assertAnswers(join(dir, "socket_ro"), "first daemon's socket_ro");
    } finally {
      await first.stop();
    }
  });
});

test("legacy daemonizing: a socket directory under /proc (where recursive mkdir meets ENOENT) still fails promptly", async () => {
  const dir = tempDir();
  const sock = `/proc/tsxs-test-${randomBytes(6).toString("hex")}/socket`;
  const p = startProc(process.execPath, [BIN, "-F", join(dir, "pid")], cleanEnv({ XENSTORED_PATH: sock, XENSTORED_RUNDIR: dir }));
  let r: Exit | null = null;
  try {
    r = await withTimeout(p.exited, 5000, "the launcher to give up").catch(() => null);
  } finally {
    if (p.running()) {
      // Find the daemon (the launcher's child) before ending both.
      let kids: number[] = [];
      try {
        kids = readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, "latin1").trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        /* none */
      }
      for (const k of kids) {
        try {
          process.kill(k, "SIGKILL");
        } catch {
          /* gone */
        }
      }
      await p.stop("SIGKILL");
    } else {
      await p.stop();
    }
  }
  assert.ok(r !== null, `the launcher was still waiting after 5 s (the daemon spins in mkdir under /proc); stderr: ${p.stderr()}`);
  assert.equal(r.code, 1, p.stderr());
  assert.match(p.stderr(), /^tsxenstored: cannot start: /m);
});
