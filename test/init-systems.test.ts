/**
 * Init-system integration of bin/tsxenstored: systemd socket activation
 * (with the real systemd-socket-activate), sd_notify readiness, stopping and
 * watchdog pings (received by a test-owned NOTIFY_SOCKET), legacy
 * daemonizing (the launcher returns only once the daemon is ready), the pid
 * file guard, shutdown on signals with requests in flight, a
 * launch-xenstore-style script, and the generated systemd units.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { XenStoreClient } from "../src/client/index.js";
import { Op, type Packet } from "../src/protocol/messages.js";
import { PacketParser } from "../src/protocol/parser.js";
import { encodePacket } from "../src/protocol/serializer.js";
import { takeListenFds } from "../src/system/activation.js";
import { native } from "../src/system/native.js";
import { PidFile, PidFileError } from "../src/system/pidfile.js";
import { Notifier } from "../src/system/sdnotify.js";
import { BIN, haveCommand } from "./helpers/daemon.js";
import { cliUnavailable } from "./helpers/clients.js";
import { closeAllNotifyListeners, startNotifyListener, type NotifyMessage } from "./helpers/notify.js";
import {
  alive,
  assertAnswers,
  cleanEnv,
  cleanUpAfterAll,
  cli,
  expectErrno,
  freePort,
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
  type Proc,
} from "./helpers/proc.js";

cleanUpAfterAll(closeAllNotifyListeners);

// ---------------------------------------------------------------------------
// systemd socket activation with the real systemd-socket-activate

const SSA = "systemd-socket-activate";
const noSsa = haveCommand(SSA) ? false : `${SSA} not installed`;

interface Activated {
  proc: Proc;
  /** Where the daemon would create sockets of its own (must stay empty). */
  own: string;
}

/**
 * `systemd-socket-activate -l PATH... [flags] node bin/tsxenstored -N args`:
 * resolves once it listens (the daemon is exec'd on the first connection).
 */
async function activate(listen: string[], flags: string[], args: string[], o: { dir: string; env?: NodeJS.ProcessEnv }): Promise<Activated> {
  const own = join(o.dir, "own");
  // systemd-socket-activate passes the program only LISTEN_* and what -E sets.
  const childEnv = { XENSTORED_RUNDIR: own, ...o.env };
  const ssaArgs = [
    ...listen.flatMap((l) => ["-l", l]),
    ...Object.entries(childEnv).map(([k, v]) => `-E${k}=${v}`),
    ...flags,
    process.execPath,
    BIN,
    "-N",
    ...args,
  ];
  const proc = startProc(SSA, ssaArgs, cleanEnv());
  for (const l of listen) {
    const esc = l.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    await proc.waitStderr(new RegExp(`Listening on ${esc} as \\d+\\.`));
  }
  return { proc, own };
}

test("socket activation, one socket: served on the inherited socket, nothing created, nothing removed", { skip: noSsa }, async () => {
  const dir = tempDir();
  const act = join(dir, "act");
  mkdirSync(act);
  const sock = join(act, "socket");
  const { proc, own } = await activate([sock], [], [], { dir });
  try {
    // The first connection makes systemd-socket-activate exec the daemon; it is answered.
    const c = await XenStoreClient.connect(sock);
    try {
      await c.write("/act/one", "1");
      assert.equal(await c.readString("/act/one"), "1");
    } finally {
      c.close();
    }
    await proc.waitStderr(/Execing /);
    const r = cli(sock, "xenstore-read", ["/act/one"]);
    assert.equal(r.stdout, "1\n", r.stderr);
    assert.equal(r.status, 0);
    assert.deepEqual(readdirSync(act), ["socket"], "the daemon created no socket beside the inherited one");
    assert.equal(existsSync(own), false, `the daemon created its rundir ${own}: ${existsSync(own) ? readdirSync(own).join(",") : ""}`);
    assert.equal(proc.running(), true);
  } finally {
    const { code, signal } = await proc.stop("SIGTERM");
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, proc.stderr());
  }
  assert.ok(isSocketFile(sock), "the inherited socket file is still there after SIGTERM");
  assert.equal(existsSync(own), false);
});

test("socket activation, two named sockets: read-write and read-only served, READY=1 sent, inherited files kept", { skip: noSsa }, async () => {
  const dir = tempDir();
  const act = join(dir, "act");
  mkdirSync(act);
  const rwPath = join(act, "socket");
  const roPath = join(act, "socket_ro");
  const notify = await startNotifyListener({ address: join(dir, "notify"), probes: [rwPath, roPath] });
  const { proc, own } = await activate([rwPath, roPath], ["--fdname=socket:socket_ro"], [], { dir, env: { NOTIFY_SOCKET: notify.address } });
  try {
    const rw = await XenStoreClient.connect(rwPath);
    const ro = await XenStoreClient.connect(roPath);
    try {
      await rw.write("/act/two", "rw");
      assert.equal(await ro.readString("/act/two"), "rw");
      await expectErrno(ro.write("/act/two", "ro"), "EACCES", "WRITE on the inherited read-only socket");
      await expectErrno(ro.mkdir("/act/dir"), "EACCES", "MKDIR on the inherited read-only socket");
      await expectErrno(ro.rm("/act/two"), "EACCES", "RM on the inherited read-only socket");
      assert.equal(await rw.readString("/act/two"), "rw");
    } finally {
      ro.close();
      rw.close();
    }
    const w = cli(roPath, "xenstore-write", ["/act/cli", "x"]);
    assert.notEqual(w.status, 0, "xenstore-write through the read-only socket fails");
    assert.match(w.stderr, /could not write path \/act\/cli/);
    assert.equal(cli(rwPath, "xenstore-exists", ["/act/cli"]).status, 1, "nothing was written");
    assert.equal(cli(rwPath, "xenstore-write", ["/act/cli", "y"]).status, 0);
    assert.equal(cli(roPath, "xenstore-read", ["/act/cli"]).stdout, "y\n");

    await notify.waitFor((m) => m.some((x) => x.lines.includes("READY=1")), "READY=1");
    const ready = notify.messages[0]!;
    assert.ok(ready.lines.includes("READY=1"), `first datagram: ${ready.msg}`);
    assert.ok(ready.lines.includes(`MAINPID=${proc.pid}`), `MAINPID is the daemon (exec'd in place): ${ready.msg}`);
    assert.ok(ready.lines.some((l) => /^STATUS=.*2 socket/.test(l)), `STATUS names both sockets: ${ready.msg}`);
    assert.deepEqual(
      ready.probes!.map((p) => ({ path: p.path, ok: p.ok, type: p.type, reqId: p.reqId })),
      [rwPath, roPath].map((path) => ({ path, ok: true, type: Op.READ, reqId: 0x5eed })),
    );
    assert.deepEqual(readdirSync(act).sort(), ["socket", "socket_ro"], "the daemon created no socket beside the inherited ones");
    assert.equal(existsSync(own), false, "the daemon created no sockets of its own");
  } finally {
    const { code, signal } = await proc.stop("SIGTERM");
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, proc.stderr());
    await notify.close();
  }
  assert.ok(isSocketFile(rwPath), "inherited socket kept after SIGTERM");
  assert.ok(isSocketFile(roPath), "inherited socket_ro kept after SIGTERM");
});

/**
 * Activate with the read-only socket as fd 3 and the read-write one as fd
 * 4, named by `fdnames`: the names, not the order, must decide the roles.
 */
async function assertRolesByName(fdnames: string, key: string): Promise<void> {
  const dir = tempDir();
  const act = join(dir, "act");
  mkdirSync(act);
  const roPath = join(act, "ro");
  const rwPath = join(act, "rw");
  const { proc } = await activate([roPath, rwPath], [`--fdname=${fdnames}`], [], { dir });
  try {
    const ro = await XenStoreClient.connect(roPath);
    const rw = await XenStoreClient.connect(rwPath);
    try {
      await expectErrno(ro.write(`/${key}/x`, "1"), "EACCES", `WRITE on the socket named ${fdnames.split(":")[0]} (fd 3)`);
      await rw.write(`/${key}/x`, "2");
      assert.equal(await ro.readString(`/${key}/x`), "2");
    } finally {
      ro.close();
      rw.close();
    }
  } finally {
    const { code } = await proc.stop("SIGTERM");
    assert.equal(code, 0, proc.stderr());
  }
}

test("socket activation: LISTEN_FDNAMES decide which socket is read-only, not their order", { skip: noSsa }, async () => {
  await assertRolesByName("socket_ro:socket", "order");
});

test("LISTEN_PID naming another process: the variables are ignored and the daemon creates its own sockets", async () => {
  const dir = tempDir();
  // fd 3 is a pipe: adopting it would fail. LISTEN_PID is not ours.
  const d = await startForeground([], { dir, env: { LISTEN_PID: "1", LISTEN_FDS: "1", LISTEN_FDNAMES: "socket" }, extraPipes: 1 });
  try {
    assert.ok(isSocketFile(join(dir, "socket")), "own socket created");
    assert.ok(isSocketFile(join(dir, "socket_ro")), "own socket_ro created");
    await assertAnswers(join(dir, "socket"), "own socket");
    await assertAnswers(join(dir, "socket_ro"), "own socket_ro");
    assert.equal(d.stderr(), "");
  } finally {
    const { code } = await d.stop("SIGTERM");
    assert.equal(code, 0, d.stderr());
  }
  assert.deepEqual(readdirSync(dir), [], "its own sockets removed on exit");
});

test("socket activation: LISTEN_FDNAMES with only a read-only name is refused with a clear error", { skip: noSsa }, async () => {
  const dir = tempDir();
  const sock = join(dir, "act.sock");
  const { proc, own } = await activate([sock], ["--fdname=xenstored_ro.socket"], [], { dir });
  // Trigger the exec; the daemon must refuse, closing our connection unanswered.
  await assert.rejects(rawRequest(sock, Op.READ, "/\0"));
  const { code, signal } = await withTimeout(proc.exited, 10000, "the daemon to exit");
  await proc.stop();
  assert.equal(signal, null);
  assert.equal(code, 1, proc.stderr());
  assert.match(proc.stderr(), /^tsxenstored: LISTEN_FDNAMES=xenstored_ro.socket has no read-write socket/m);
  assert.match(proc.stderr(), /FileDescriptorName=socket/);
  assert.ok(isSocketFile(sock), "the inherited socket file is not removed");
  assert.equal(existsSync(own), false, "no socket of its own");
});

test("socket activation: systemd's default names (the socket units' names) decide the roles too", { skip: noSsa }, async () => {
  // Unit names without FileDescriptorName= may come in any order.
  await assertRolesByName("xenstored_ro.socket:xenstored.socket", "units");
  const dir = tempDir();
  const act = join(dir, "act");
  mkdirSync(act);
  // One socket with any other name is the read-write one.
  const one = join(act, "one");
  const single = await activate([one], ["--fdname=xenstore"], [], { dir });
  try {
    const c = await XenStoreClient.connect(one);
    try {
      await c.write("/units/y", "1");
    } finally {
      c.close();
    }
  } finally {
    const { code } = await single.proc.stop("SIGTERM");
    assert.equal(code, 0, single.proc.stderr());
  }
});

test("the systemd variables are taken out of the environment whether or not they were meant for us", async (t) => {
  await t.test("LISTEN_* for another process", () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: "1", LISTEN_FDS: "2", LISTEN_FDNAMES: "socket:socket_ro", PATH: "/bin" };
    assert.equal(takeListenFds(env, 4242), null);
    assert.deepEqual(env, { PATH: "/bin" });
  });
  await t.test("LISTEN_* for us with no sockets", () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: "4242", LISTEN_FDS: "0", PATH: "/bin" };
    assert.equal(takeListenFds(env, 4242), null);
    assert.deepEqual(env, { PATH: "/bin" });
  });
  await t.test("NOTIFY_SOCKET and WATCHDOG_*", () => {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "1000", WATCHDOG_PID: "1", PATH: "/bin" };
    const n = new Notifier(env);
    assert.equal(n.enabled, true);
    assert.deepEqual(env, { PATH: "/bin" });
  });
});

/** Run the daemon with LISTEN_PID set to its own pid (via exec) and fd 3 as given. */
async function activatedWith(fd3: "file" | "connected", dir: string): Promise<{ code: number | null; stderr: string }> {
  const script = `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$1" -N`;
  let cleanup = (): void => {};
  let stdio3: number | Socket;
  if (fd3 === "file") {
    const f = join(dir, "plain");
    writeFileSync(f, "");
    stdio3 = openSync(f, "r");
    cleanup = () => closeSync(stdio3 as number);
  } else {
    const path = join(dir, "peer.sock");
    const server = createServer(() => {});
    await new Promise<void>((r) => server.listen(path, r));
    const sock = connect(path);
    await new Promise<void>((r, j) => sock.once("connect", r).once("error", j));
    stdio3 = sock;
    cleanup = () => {
      sock.destroy();
      server.close();
    };
  }
  try {
    const child = spawn("sh", ["-c", script, process.execPath, BIN], { env: cleanEnv({ XENSTORED_RUNDIR: dir }), stdio: ["ignore", "ignore", "pipe", stdio3] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString("latin1")));
    const code = await withTimeout(new Promise<number | null>((r) => child.once("close", (c) => r(c))), 10000, "the daemon to refuse");
    return { code, stderr };
  } finally {
    cleanup();
  }
}

test("socket activation: an inherited fd that is not a socket, or a socket that is not listening, is refused", async (t) => {
  if (!native()) return t.skip("native helper not built");
  await t.test("a regular file", async () => {
    const dir = tempDir();
    const r = await activatedWith("file", dir);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^tsxenstored: inherited fd 3 is not a socket$/m);
    assert.equal(existsSync(join(dir, "socket")), false, "no socket of its own");
  });
  await t.test("a connected Unix stream socket", async () => {
    const dir = tempDir();
    const r = await activatedWith("connected", dir);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^tsxenstored: inherited fd 3 is not listening$/m);
    assert.equal(existsSync(join(dir, "socket")), false, "no socket of its own");
  });
});

function sendDatagram(path: string): void {
  const r = spawnSync("python3", ["-c", "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'x', sys.argv[1])", path]);
  assert.equal(r.status, 0, r.stderr?.toString());
}

test("socket activation: an inherited fd that is not a Unix stream listening socket is refused with a clear error", { skip: noSsa }, async (t) => {
  const cases: { name: string; listen: () => Promise<string>; flags: string[]; trigger: (addr: string) => Promise<void>; re: RegExp }[] = [
    {
      name: "a Unix datagram socket (--datagram)",
      listen: async () => join(tempDir(), "dgram"),
      flags: ["--datagram"],
      trigger: async (addr) => sendDatagram(addr),
      re: /^tsxenstored: inherited fd 3 is a unix dgram socket; a Unix stream socket is needed/m,
    },
    {
      name: "a Unix seqpacket socket (--seqpacket)",
      listen: async () => join(tempDir(), "seqpacket"),
      flags: ["--seqpacket"],
      trigger: async (addr) => {
        const r = spawnSync("python3", ["-c", "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])", addr]);
        assert.equal(r.status, 0, r.stderr?.toString());
      },
      re: /^tsxenstored: inherited fd 3 is a unix seqpacket socket; a Unix stream socket is needed/m,
    },
    {
      name: "a TCP socket (-l 127.0.0.1:PORT)",
      listen: async () => `127.0.0.1:${await freePort()}`,
      flags: [],
      trigger: async (addr) => {
        const [host, port] = addr.split(":");
        await new Promise<void>((resolve) => {
          const s = connect(Number(port), host!);
          s.on("connect", () => undefined);
          s.on("error", () => resolve());
          s.on("close", () => resolve());
        });
      },
      re: /^tsxenstored: inherited fd 3 is a inet stream socket; a Unix stream socket is needed/m,
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const dir = tempDir();
      const addr = await c.listen();
      const { proc, own } = await activate([addr], c.flags, [], { dir });
      try {
        await c.trigger(addr);
        const { code, signal } = await withTimeout(proc.exited, 10000, "the daemon to exit");
        assert.equal(signal, null);
        assert.notEqual(code, 0, proc.stderr());
        assert.equal(code, 1, proc.stderr());
        assert.match(proc.stderr(), c.re);
        assert.equal(existsSync(own), false, "no socket of its own");
        if (addr.startsWith("/")) assert.ok(existsSync(addr), "the inherited socket file is not removed");
      } finally {
        await proc.stop("SIGKILL");
      }
    });
  }
});

// ---------------------------------------------------------------------------
// sd_notify

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
      assert.equal(d.stderr(), "", "no complaint about the notify socket");
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
    assert.deepEqual(readdirSync(dir), []);
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

// ---------------------------------------------------------------------------
// Legacy daemonizing (no -N)

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
    assert.deepEqual(readdirSync(dir).sort(), ["socket", "socket_ro", "xenstored.pid"]);
  } finally {
    if (pid > 0 && alive(pid)) await stopDetached(pid, "SIGINT");
  }
  assert.deepEqual(readdirSync(dir), [], "SIGINT: sockets and pid file removed");

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
  assert.deepEqual(readdirSync(join(dir, "run")), [], "sockets removed where they were created");
  assert.deepEqual(readdirSync(dir).sort(), ["doms", "run"], "pid file removed");
});

test("legacy daemonizing race: 200 launches, each answered the instant its launcher exits, then stopped cleanly", async () => {
  const N = 200;
  const base = tempDir();
  const started = Date.now();
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
              const left = readdirSync(dir);
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
  const elapsed = Date.now() - started;
  assert.deepEqual(problems, []);
  assert.ok(elapsed < 110000, `200 launches took ${elapsed} ms`);
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
    assert.deepEqual(readdirSync(dir), [], "no pid file");
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

// ---------------------------------------------------------------------------
// The pid file

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
    assert.deepEqual(readdirSync(dir).sort(), ["socket", "socket_ro"]);
    await assertAnswers(join(dir, "socket_ro"), "first daemon's socket_ro");
    const fresh = await XenStoreClient.connect(join(dir, "socket"));
    assert.equal(await fresh.readString("/first/alive"), "yes");
    fresh.close();
  } finally {
    const { code } = await first.stop();
    assert.equal(code, 0, first.stderr());
  }
});

// ---------------------------------------------------------------------------
// Signals with requests in flight

/**
 * Write `n` pipelined requests in one go (small enough to fit in the socket
 * buffer at once), send `sig` to the daemon as soon as they have all been
 * written, and collect everything it sends back until it closes the
 * connection. Requests are WRITEs of small values, or, with `bigReplies`,
 * READs of one 4000-byte node (so the replies far outgrow the socket buffers).
 */
async function burstThenSignal(sig: NodeJS.Signals, n: number, bigReplies: boolean): Promise<void> {
  const dir = tempDir();
  const trace = join(dir, "trace.log");
  const d = await startForeground(["-T", trace], { dir });
  const big = "x".repeat(4000);
  if (bigReplies) {
    const c = await XenStoreClient.connect(join(dir, "socket"));
    await c.write("/big", big);
    c.close();
  }
  const request = (i: number): Buffer =>
    bigReplies ? encodePacket(Op.READ, i + 1, 0, Buffer.from("/big\0", "latin1")) : encodePacket(Op.WRITE, i + 1, 0, Buffer.from(`/pipe/${i + 1}\0value-${i + 1}`, "latin1"));
  const expected = bigReplies ? { type: Op.READ, payload: big } : { type: Op.WRITE, payload: "OK\0" };
  const requests = Buffer.concat(Array.from({ length: n }, (_, i) => request(i)));
  const chunks: Buffer[] = [];
  let error: Error | null = null;
  const s: Socket = connect(join(dir, "socket"));
  await new Promise<void>((resolve, reject) => {
    s.once("connect", resolve);
    s.once("error", reject);
  });
  s.on("data", (c: Buffer) => chunks.push(c));
  s.on("error", (e) => (error = e));
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  try {
    await withTimeout(new Promise<void>((r) => s.write(requests, () => r())), 10000, `writing ${requests.length} bytes of requests`);
    // Every request has been written: signal at once.
    d.child.kill(sig);
    await withTimeout(closed, 10000, "the daemon to close the connection");
    const { code, signal } = await withTimeout(d.exited, 10000, "the daemon to exit");
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, d.stderr());
  } finally {
    s.destroy();
    await d.stop("SIGKILL");
  }
  const parser = new PacketParser();
  const replies = parser.push(Buffer.concat(chunks));
  const lines = (readIfExists(trace) ?? "").split("\n");
  const processed = lines.filter((l) => (bigReplies ? /^IN conn\d+ .* READ \(\/big \)$/ : /^IN conn\d+ .* WRITE \(\/pipe\//).test(l)).length;
  const answered = lines.filter((l) => (bigReplies ? /^OUT conn\d+ .* READ \(x+\)$/ : /^OUT conn\d+ .* WRITE \(OK \)$/).test(l)).length;
  const summary = `${replies.length} complete replies and ${parser.buffered} stray bytes received; ${processed} of the ${n} requests processed per the trace`;
  assert.equal(parser.buffered, 0, `a truncated packet at the end: ${summary}`);
  assert.deepEqual(
    replies.map((p, i) => (p.type === expected.type && p.reqId === i + 1 && p.payload.toString("latin1") === expected.payload ? null : { i, type: p.type, reqId: p.reqId })).filter((x) => x),
    [],
    "replies in order, each as expected",
  );
  assert.equal(answered, processed, `the trace shows a reply for every processed request: ${summary}`);
  assert.equal(replies.length, processed, `every processed request's reply reached the client: ${summary}`);
  assert.equal(error, null, `the connection ended with an error instead of a clean close (end of file): ${summary}: ${String(error)}`);
  assert.deepEqual(readdirSync(dir), ["trace.log"], "sockets removed");
}

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  test(`${sig} right after a burst of pipelined requests: every processed request is answered, no truncated packet, clean close`, async () => {
    // 5000 WRITEs: 150 kB of requests.
    await burstThenSignal(sig, 5000, false);
  });
}

test("SIGTERM while a watcher is not reading: every event already raised reaches it before the connection closes", async () => {
  const dir = tempDir();
  const d = await startForeground([], { dir });
  const N = 20000;
  const watcher = await new Promise<Socket>((resolve, reject) => {
    const s = connect(join(dir, "socket"), () => resolve(s));
    s.once("error", reject);
  });
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((r) => watcher.once("end", () => r()));
  watcher.on("data", (b: Buffer) => chunks.push(b));
  watcher.write(encodePacket(Op.WATCH, 1, 0, Buffer.from("/flood\0tok\0", "latin1")));
  await waitUntil(() => chunks.length > 0, "the WATCH reply");
  watcher.pause(); // from now on the kernel buffers fill up, then the daemon holds the rest
  const c = await XenStoreClient.connect(join(dir, "socket"));
  try {
    await Promise.all(Array.from({ length: N }, (_, i) => c.write(`/flood/${i}`, "v")));
  } finally {
    c.close();
  }
  // The watcher starts reading again as the daemon shuts down (within its grace period).
  const stopped = d.stop("SIGTERM");
  watcher.resume();
  const { code } = await stopped;
  assert.equal(code, 0, d.stderr());
  await withTimeout(ended, 10000, "the watcher's end of stream");
  const packets = new PacketParser(1 << 20).push(Buffer.concat(chunks));
  const events = packets.filter((p) => p.type === Op.WATCH_EVENT);
  assert.equal(packets[0]!.type, Op.WATCH);
  assert.equal(events.length, N + 1, "the initial event and one per write");
  assert.equal(events[N]!.payload.toString("latin1"), `/flood/${N - 1}\0tok\0`);
  watcher.destroy();
});

test("SIGTERM with idle clients that never close their end: the daemon does not wait for them", async () => {
  const dir = tempDir();
  const d = await startForeground([], { dir });
  const clients = await Promise.all(
    [join(dir, "socket"), join(dir, "socket_ro")].map(
      (path) =>
        new Promise<Socket>((resolve, reject) => {
          // allowHalfOpen: our FIN does not make the client close its side.
          const s = connect({ path, allowHalfOpen: true }, () => resolve(s));
          s.once("error", reject);
        }),
    ),
  );
  const fins = clients.map((s) => new Promise<void>((r) => s.once("end", () => r())));
  for (const s of clients) s.resume();
  const t0 = Date.now();
  const { code } = await d.stop("SIGTERM");
  const ms = Date.now() - t0;
  assert.equal(code, 0, d.stderr());
  await Promise.all(fins);
  assert.ok(ms < 1000, `exited ${ms} ms after SIGTERM (it used to wait 2 s for such clients)`);
  for (const s of clients) s.destroy();
  assert.deepEqual(readdirSync(dir), []);
});

test("SIGTERM right after a burst of pipelined requests with large replies: every processed request is answered, no truncated packet", async () => {
  // 4000 READs (84 kB) whose replies (16 MB) cannot all be in the socket buffers when the signal arrives.
  await burstThenSignal("SIGTERM", 4000, true);
});

// ---------------------------------------------------------------------------
// launch-xenstore

const LAUNCH_XENSTORE = String.raw`#!/bin/bash
# Modelled on xen:tools/hotplug/Linux/launch-xenstore.in (daemon branch).
XENSTORED=${"$"}{XENSTORED:?}
RUNDIR=${"$"}{RUNDIR:?}
XEN_LOG_DIR=${"$"}{XEN_LOG_DIR:-$RUNDIR}

test_xenstore () {
	test -f $RUNDIR/xenstored.pid
	return $?
}

timeout_xenstore () {
	local time=0
	local timeout=30

	while [ $time -lt $timeout ] && ! test_xenstore ; do
		echo -n .
		time=$(($time+1))
		sleep 1
	done
	echo

	# Exit if we timed out
	if ! [ $time -lt $timeout ] ; then
		echo "Could not start $@"
		return 1
	fi

	return 0
}

test_xenstore && exit 0

[ "$XENSTORETYPE" = "" ] && XENSTORETYPE=daemon

/bin/mkdir -p $RUNDIR

[ "$XENSTORETYPE" = "daemon" ] && {
	[ -z "$XENSTORED_TRACE" ] || XENSTORED_ARGS="$XENSTORED_ARGS -T $XEN_LOG_DIR/xenstored-trace.log"
	[ -x "$XENSTORED" ] || {
		echo "No xenstored found"
		exit 1
	}
	XS_OOM_SCORE=-$((${"$"}{XENSTORED_OOM_MEM_THRESHOLD:-50} * 10))

	rm -f $RUNDIR/xenstored.pid

	echo -n Starting $XENSTORED...
	$XENSTORED --pid-file $RUNDIR/xenstored.pid $XENSTORED_ARGS

	systemd-notify --booted 2>/dev/null || timeout_xenstore $XENSTORED || exit 1
	XS_PID=${"`"}cat $RUNDIR/xenstored.pid${"`"}
	echo $XS_OOM_SCORE >/proc/$XS_PID/oom_score_adj

	exit 0
}

echo "illegal value $XENSTORETYPE for XENSTORETYPE"
exit 1
`;

test("a launch-xenstore-style script starts the daemon; xenstore-read -s / answers right after", { skip: cliUnavailable() ?? false }, async () => {
  const dir = tempDir();
  const script = join(dir, "launch-xenstore");
  writeFileSync(script, LAUNCH_XENSTORE, { mode: 0o755 });
  const rundir = join(dir, "run");
  const env = cleanEnv({ XENSTORED: BIN, RUNDIR: rundir, XENSTORED_RUNDIR: rundir, XENSTORED_TRACE: "1", XENSTORED_ARGS: "--domains 0-63" });
  const started = Date.now();
  const r = spawnSync("bash", [script], { env, encoding: "utf8", timeout: 40000 });
  const elapsed = Date.now() - started;
  const pidText = readIfExists(join(rundir, "xenstored.pid"));
  const pid = Number(pidText);
  if (pid > 0) trackDetached(pid);
  try {
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    // The pid file was there when the daemon returned: no "." from the wait loop, no second of sleep.
    assert.equal(r.stdout, `Starting ${BIN}...\n`);
    assert.ok(elapsed < 10000, `the script took ${elapsed} ms`);
    assert.match(pidText ?? "", /^\d+\n$/);
    assert.ok(alive(pid));
    // Lowering an OOM score needs CAP_SYS_RESOURCE, which a container may lack.
    const canLower = spawnSync("sh", ["-c", "echo -1 > /proc/$$/oom_score_adj"], { stdio: "ignore" }).status === 0;
    if (canLower) assert.equal(readFileSync(`/proc/${pid}/oom_score_adj`, "latin1").trim(), "-500", "the script adjusted the daemon's OOM score through the pid file");
    // Otherwise the write is refused, but /proc/<pid>/oom_score_adj opened: the pid file named a live process.
    else assert.match(r.stderr, /^[^\n]*write error: Permission denied\n$/, r.stderr);
    const read = spawnSync("xenstore-read", ["-s", "/"], { env: cleanEnv({ XENSTORED_RUNDIR: rundir }), encoding: "utf8", timeout: 10000 });
    assert.equal(read.status, 0, read.stderr);
    assert.equal(read.stdout, "\n");
    assert.ok(existsSync(join(rundir, "xenstored-trace.log")), "XENSTORED_TRACE added -T");
    // Run again: already running, exits 0 at once without starting another.
    const again = spawnSync("bash", [script], { env, encoding: "utf8", timeout: 40000 });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, "");
    assert.equal(readIfExists(join(rundir, "xenstored.pid")), pidText);
  } finally {
    if (pid > 0 && alive(pid)) await stopDetached(pid);
  }
  assert.equal(existsSync(join(rundir, "xenstored.pid")), false, "pid file removed at exit");
  assert.equal(existsSync(join(rundir, "socket")), false, "socket removed at exit");
});

// ---------------------------------------------------------------------------
// systemd units

function printUnits(args: string[], env: NodeJS.ProcessEnv, bin = BIN): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { env: cleanEnv(env), encoding: "utf8", timeout: 15000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Split `# name\n<text>\n` sections. */
function sections(out: string): Record<string, string> {
  const res: Record<string, string> = {};
  const parts = out.split(/^# (\S+)\n/m);
  assert.equal(parts[0], "", `output starts with a "# name" line: ${out}`);
  // Each unit's text is followed by an empty line.
  for (let i = 1; i < parts.length; i += 2) res[parts[i]!] = parts[i + 1]!.replace(/\n$/, "");
  return res;
}

/** The key=value lines of one [section] of a unit file. */
function unitSection(text: string, name: string): string[] {
  const m = new RegExp(`^\\[${name}\\]\\n([^[]*)`, "m").exec(text);
  assert.ok(m, `[${name}] in\n${text}`);
  return m[1]!.split("\n").filter((l) => l && !l.startsWith("#"));
}

test("--print-units prints the notify service and both socket units for this installation", () => {
  const rundir = "/run/tsxs-units-test";
  const r = printUnits(["--print-units"], { XENSTORED_RUNDIR: rundir });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  const u = sections(r.stdout);
  assert.deepEqual(Object.keys(u), ["xenstored.service", "xenstored.socket", "xenstored_ro.socket"]);
  const service = unitSection(u["xenstored.service"]!, "Service");
  assert.ok(service.includes("Type=notify"), service.join("\n"));
  const exec = service.filter((l) => l.startsWith("ExecStart="));
  assert.equal(exec.length, 1);
  const quote = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  // Node.js by absolute path, with the executable's flags: systemd's PATH need not find node.
  assert.equal(exec[0], `ExecStart=${process.execPath} --max-semi-space-size=2 ${realpathSync(BIN)} --no-fork $XENSTORED_ARGS`);
  assert.match(readFileSync(BIN, "utf8"), new RegExp(`^#!/usr/bin/env -S node ${quote("--max-semi-space-size=2")}\n`), "the flags are the shebang's");
  assert.ok(service.includes(`Environment=XENSTORED_RUNDIR=${rundir}`), service.join("\n"));
  const unit = unitSection(u["xenstored.service"]!, "Unit");
  assert.ok(unit.some((l) => /^Requires=.*\bxenstored\.socket\b/.test(l)), unit.join("\n"));

  const rw = unitSection(u["xenstored.socket"]!, "Socket");
  for (const l of [`ListenStream=${rundir}/socket`, "SocketMode=0600", "FileDescriptorName=socket", "Service=xenstored.service"]) assert.ok(rw.includes(l), `${l} in\n${rw.join("\n")}`);
  const ro = unitSection(u["xenstored_ro.socket"]!, "Socket");
  for (const l of [`ListenStream=${rundir}/socket_ro`, "SocketMode=0660", "FileDescriptorName=socket_ro", "Service=xenstored.service"]) assert.ok(ro.includes(l), `${l} in\n${ro.join("\n")}`);
  // The default rundir when XENSTORED_RUNDIR is unset.
  const def = sections(printUnits(["--print-units"], {}).stdout);
  assert.ok(unitSection(def["xenstored.socket"]!, "Socket").includes("ListenStream=/var/run/xenstored/socket"));
});

test("--print-units through a symlink (npm i -g) names the real absolute path of bin/tsxenstored", () => {
  const dir = tempDir();
  const link = join(dir, "tsxenstored");
  symlinkSync(BIN, link);
  const r = printUnits(["--print-units"], { XENSTORED_RUNDIR: "/run/xenstored" }, link);
  assert.equal(r.status, 0, r.stderr);
  const exec = unitSection(sections(r.stdout)["xenstored.service"]!, "Service").find((l) => l.startsWith("ExecStart="))!;
  const [node, , path = ""] = exec.slice("ExecStart=".length).split(" ");
  assert.equal(node, process.execPath);
  assert.ok(path.startsWith("/"), exec);
  assert.equal(realpathSync(path), realpathSync(BIN));
  assert.ok((statSync(path).mode & 0o111) !== 0, `${path} is executable`);
});

test("--print-units --prefix DIR writes the three unit files; --prefix alone exits 2", async (t) => {
  const dir = tempDir();
  const out = join(dir, "units");
  const env = { XENSTORED_RUNDIR: "/run/xenstored" };
  const r = printUnits(["--print-units", "--prefix", out], env);
  assert.equal(r.status, 0, r.stderr);
  const names = ["xenstored.service", "xenstored.socket", "xenstored_ro.socket"];
  assert.deepEqual(readdirSync(out).sort(), [...names].sort());
  assert.equal(r.stdout, names.map((n) => `wrote ${join(out, n)}\n`).join(""));
  const printed = sections(printUnits(["--print-units"], env).stdout);
  for (const n of names) {
    assert.equal(readFileSync(join(out, n), "utf8"), printed[n], `${n} is what --print-units prints`);
    assert.equal((statSync(join(out, n)).mode & 0o777).toString(8), "644");
  }

  const bad = printUnits(["--prefix", out], env);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--prefix only goes with --print-units/);
  assert.equal(bad.stdout, "");
  const badN = printUnits(["-N", "--prefix", join(dir, "other")], env);
  assert.equal(badN.status, 2, badN.stderr);
  assert.equal(existsSync(join(dir, "other")), false);

  // systemd-analyze verify, when it can run here.
  const why = ((): string | null => {
    if (!haveCommand("systemd-analyze")) return "systemd-analyze not installed";
    const probe = join(dir, "probe");
    mkdirSync(probe);
    writeFileSync(join(probe, "tsxs-probe.service"), "[Service]\nType=oneshot\nExecStart=/bin/true\n");
    const p = spawnSync("systemd-analyze", ["verify", "--man=no", join(probe, "tsxs-probe.service")], { encoding: "utf8", timeout: 30000 });
    return p.status === 0 ? null : `systemd-analyze verify cannot run here: ${p.stderr.trim()}`;
  })();
  await t.test("systemd-analyze verify accepts the generated units", { skip: why ?? false }, () => {
    const v = spawnSync("systemd-analyze", ["verify", "--man=no", ...names.map((n) => join(out, n))], { encoding: "utf8", timeout: 30000 });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stderr.trim(), "", "no warnings");
  });
});
