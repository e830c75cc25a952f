/**
 * sd_notify from bin/tsxenstored, received by a test-owned NOTIFY_SOCKET (a
 * path or an abstract @name): READY=1 only once every socket accepts and
 * the pid file is written, STOPPING=1 on SIGTERM, watchdog pings (none for
 * another WATCHDOG_PID), a NOTIFY_SOCKET nobody listens on, and READY=1
 * from the detached daemon under legacy daemonizing.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Op } from "../../src/protocol/messages.js";
import { BIN, withoutStartLine } from "../helpers/daemon.js";
import { closeAllNotifyListeners, startNotifyListener, type NotifyMessage } from "../helpers/notify.js";
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
} from "../helpers/proc.js";

cleanUpAfterAll(closeAllNotifyListeners);

function firstWith(m: NotifyMessage[], line: string): NotifyMessage | undefined {
  return m.find((x) => x.lines.includes(line));
}

for (const kind of ["path", "abstract"] as const) {
  test(`sd_notify to ${kind === "path" ? "a filesystem path" : "an abstract @name"} NOTIFY_SOCKET: READY=1 only once every socket accepts, STOPPING=1 on SIGTERM`, async () => {
    const dir = tempDir();
    const pidFile = join(dir, "xenstored.pid");
    const rwPath = join(dir, "socket");
    const roPath = join(dir, "socket_ro");
    const address = kind === "path" ? join(dir, "notify.sock") : `@tsxs-test-${process.pid}-${randomBytes(6).toString("hex")}`;
    const notify = await startNotifyListener({ address, probes: [rwPath, roPath], pidFile });
    // Started directly (not through startForeground, which would poll the socket itself).
    const d = startProc(process.execPath, [BIN, "-N", "-F", pidFile], cleanEnv({ XENSTORED_RUNDIR: dir, NOTIFY_SOCKET: address }));
    try {
      await notify.waitFor((m) => m.length >= 1, "the first datagram");
      const first = notify.messages[0]!;
      assert.ok(first.lines.includes("READY=1"), `the first datagram has READY=1: ${JSON.stringify(first.msg)}`);
      const status = first.lines.find((l) => l.startsWith("STATUS="));
      assert.ok(status && status.length > "STATUS=".length, `the first datagram has a STATUS=: ${JSON.stringify(first.msg)}`);
      assert.ok(first.lines.includes(`MAINPID=${d.pid}`), JSON.stringify(first.msg));
      // At the moment READY=1 arrived, both sockets answered and the pid file was complete.
      for (const p of first.probes!) {
        assert.deepEqual(
          { path: p.path, ok: p.ok, error: p.error, type: p.type, reqId: p.reqId, payload: p.payload },
          { path: p.path, ok: true, error: undefined, type: Op.READ, reqId: 0x5eed, payload: "" },
          `probe of ${p.path} right after READY=1`,
        );
      }
      assert.deepEqual(
        first.probes!.map((p) => p.path),
        [rwPath, roPath],
      );
      assert.equal(first.pidfile, `${d.pid}\n`, "the pid file was written before READY=1");

      const { code, signal } = await d.stop("SIGTERM");
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, d.stderr());
      await notify.waitFor((m) => firstWith(m, "STOPPING=1") !== undefined, "STOPPING=1");
      const stopping = firstWith(notify.messages, "STOPPING=1")!;
      assert.ok(notify.messages.indexOf(stopping) > 0, "STOPPING=1 comes after READY=1");
      assert.deepEqual(
        notify.messages.map((m) => m.lines.filter((l) => l === "READY=1" || l === "STOPPING=1")).flat(),
        ["READY=1", "STOPPING=1"],
        "exactly one READY=1 and one STOPPING=1",
      );
      assert.equal(withoutStartLine(d.stderr()), "", "no complaint about the notify socket");
    } finally {
      await d.stop("SIGKILL");
      await notify.close();
    }
  });
}

test("WATCHDOG_USEC=200000: several WATCHDOG=1 pings within a second, none after STOPPING=1", async () => {
  const dir = tempDir();
  const notify = await startNotifyListener({ address: join(dir, "notify.sock") });
  const d = await startForeground([], { dir, env: { NOTIFY_SOCKET: notify.address, WATCHDOG_USEC: "200000" } });
  try {
    await notify.waitFor((m) => firstWith(m, "READY=1") !== undefined, "READY=1");
    const ready = firstWith(notify.messages, "READY=1")!;
    await new Promise((r) => setTimeout(r, 1100));
    const pings = notify.messages.filter((m) => m.msg === "WATCHDOG=1" && m.t - ready.t <= 1.0);
    // One every 100 ms is the target; allow for a busy machine.
    assert.ok(pings.length >= 4, `only ${pings.length} WATCHDOG=1 pings within 1 s of READY=1: ${JSON.stringify(notify.messages.map((m) => [m.msg, m.t - ready.t]))}`);
    for (const m of notify.messages) if (m !== ready) assert.equal(m.msg, "WATCHDOG=1");
    const { code } = await d.stop("SIGTERM");
    assert.equal(code, 0, d.stderr());
    await notify.waitFor((m) => firstWith(m, "STOPPING=1") !== undefined, "STOPPING=1");
    const stopAt = notify.messages.indexOf(firstWith(notify.messages, "STOPPING=1")!);
    assert.deepEqual(notify.messages.slice(stopAt + 1), [], "no datagram after STOPPING=1");
  } finally {
    await d.stop("SIGKILL");
    await notify.close();
  }
});

test("WATCHDOG_PID naming another process: no WATCHDOG=1 pings", async () => {
  const dir = tempDir();
  const notify = await startNotifyListener({ address: join(dir, "notify.sock") });
  const d = await startForeground([], { dir, env: { NOTIFY_SOCKET: notify.address, WATCHDOG_USEC: "200000", WATCHDOG_PID: "1" } });
  try {
    await notify.waitFor((m) => firstWith(m, "READY=1") !== undefined, "READY=1");
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(
      notify.messages.filter((m) => m.lines.includes("WATCHDOG=1")).length,
      0,
      JSON.stringify(notify.messages.map((m) => m.msg)),
    );
  } finally {
    await d.stop("SIGTERM");
    await notify.close();
  }
});

test("NOTIFY_SOCKET pointing at nothing does not prevent start-up or a clean exit", async () => {
  for (const address of [join(tempDir(), "nobody-listens"), `@tsxs-test-nobody-${process.pid}-${randomBytes(6).toString("hex")}`]) {
    const dir = tempDir();
    const d = await startForeground(["-F", join(dir, "pid")], { dir, env: { NOTIFY_SOCKET: address, WATCHDOG_USEC: "200000" } });
    try {
      await assertAnswers(join(dir, "socket"), `socket with NOTIFY_SOCKET=${address}`);
      await assertAnswers(join(dir, "socket_ro"), `socket_ro with NOTIFY_SOCKET=${address}`);
      assert.equal(readIfExists(join(dir, "pid")), `${d.pid}\n`);
    } finally {
      const { code, signal } = await d.stop("SIGTERM");
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, `NOTIFY_SOCKET=${address}: ${d.stderr()}`);
    }
    assert.deepEqual(readdirSync(dir), ["state"]);
  }
});

test("legacy daemonizing under Type=notify (launch-xenstore): the detached daemon has sent READY=1 with its own MAINPID before the launcher exits", async () => {
  const dir = tempDir();
  const pidFile = join(dir, "xenstored.pid");
  const notify = await startNotifyListener({ address: join(dir, "notify.sock"), probes: [join(dir, "run", "socket")], pidFile });
  const r = await runLauncher(["-F", pidFile], { XENSTORED_RUNDIR: join(dir, "run"), NOTIFY_SOCKET: notify.address });
  const pid = Number(readIfExists(pidFile));
  if (pid > 0) trackDetached(pid);
  try {
    assert.equal(r.code, 0, r.stderr);
    assert.ok(pid > 0);
    // The datagram was sent before the launcher was released; allow only for delivery to the listener.
    await notify.waitFor((m) => m.length > 0, "READY=1", 2000);
    const ready = notify.messages[0]!;
    assert.ok(ready.lines.includes("READY=1"), ready.msg);
    assert.ok(ready.lines.includes(`MAINPID=${pid}`), `MAINPID is the daemon, not the launcher: ${ready.msg}`);
    assert.equal(ready.probes![0]!.ok, true, `socket answered at READY=1: ${ready.probes![0]!.error}`);
    assert.equal(ready.pidfile, `${pid}\n`, "pid file written before READY=1");
    await assertAnswers(join(dir, "run", "socket"), "socket");
  } finally {
    if (pid > 0 && alive(pid)) await stopDetached(pid);
    await notify.close();
  }
});
