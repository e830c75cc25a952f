/**
 * systemd socket activation of bin/tsxenstored with the real
 * systemd-socket-activate: one or two inherited sockets, their roles by
 * LISTEN_FDNAMES (or the socket units' names), LISTEN_* meant for another
 * process, the systemd variables taken out of the environment, and
 * inherited fds that are not Unix stream listening sockets refused with a
 * clear error.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { XenStoreClient } from "../../src/client/index.js";
import { Op } from "../../src/protocol/messages.js";
import { takeListenFds } from "../../src/system/activation.js";
import { native } from "../../src/system/native.js";
import { Notifier } from "../../src/system/sdnotify.js";
import { BIN, haveCommand, withoutStartLine } from "../helpers/daemon.js";
import { closeAllNotifyListeners, startNotifyListener } from "../helpers/notify.js";
import {
  assertAnswers,
  cleanEnv,
  cleanUpAfterAll,
  cli,
  expectErrno,
  freePort,
  isSocketFile,
  rawRequest,
  startForeground,
  startProc,
  tempDir,
  withTimeout,
  type Proc,
} from "../helpers/proc.js";

cleanUpAfterAll(closeAllNotifyListeners);

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
    assert.deepEqual(existsSync(own) ? readdirSync(own) : [], ["state"], "the daemon created no socket of its own, only its state directory (the journal)");
    assert.equal(proc.running(), true);
  } finally {
    const { code, signal } = await proc.stop("SIGTERM");
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, proc.stderr());
  }
  assert.ok(isSocketFile(sock), "the inherited socket file is still there after SIGTERM");
  assert.deepEqual(readdirSync(own), ["state"], "only the state directory (the journal) in the rundir");
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
    assert.deepEqual(existsSync(own) ? readdirSync(own) : [], ["state"], "the daemon created no sockets of its own, only its state directory");
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
    assert.equal(withoutStartLine(d.stderr()), "");
  } finally {
    const { code } = await d.stop("SIGTERM");
    assert.equal(code, 0, d.stderr());
  }
  assert.deepEqual(readdirSync(dir), ["state"], "its own sockets removed on exit; the state directory stays for the next start");
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
