/**
 * The daemon process itself (bin/tsxenstored): command line, sockets and
 * their modes, XENSTORED_PATH, the read-only socket, signals, the pid file,
 * the trace file (and SIGHUP reopening it), and the C xenstored quota flags.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { XenStoreClient } from "../src/client/index.js";
import { BIN, NO_XEN_LINE, PEERS, peersUnavailable, runWith, waitForSocket, withoutStartLine } from "./helpers/daemon.js";
import { XENSTORE_CONTROL, cliUnavailable } from "./helpers/clients.js";
import { cleanEnv, cleanUpAfterAll, expectErrno, readIfExists, tempDir, waitUntil, withTimeout } from "./helpers/proc.js";

// ---------------------------------------------------------------------------
// Starting the daemon with full control over its environment.

interface Launched {
  child: ChildProcess;
  dir: string;
  socket: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (unless already exited), wait, remove the temp dir. */
  stop(): Promise<void>;
}

const launched = new Set<Launched>();

cleanUpAfterAll(async () => {
  for (const l of launched) await l.stop().catch(() => undefined);
});

// If the test process goes away early, do not leave daemons behind.
process.on("exit", () => {
  for (const l of launched) if (l.child.exitCode === null && l.child.signalCode === null) l.child.kill("SIGKILL");
});

/** Run the daemon to completion (for options that make it exit at once). */
function runDaemon(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string; dir: string } {
  const dir = tempDir();
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: cleanEnv({ XENSTORED_RUNDIR: dir, ...env }),
    encoding: "utf8",
    timeout: 15000,
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", dir };
}

async function launch(args: string[], opts: { env?: NodeJS.ProcessEnv; socket?: string; dir?: string } = {}): Promise<Launched> {
  const dir = opts.dir ?? tempDir();
  const socket = opts.socket ?? join(dir, "socket");
  const child = spawn(process.execPath, [BIN, "-N", ...args], {
    env: cleanEnv({ XENSTORED_RUNDIR: dir, ...opts.env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("exit", (code, signal) => r({ code, signal })),
  );
  const l: Launched = {
    child,
    dir,
    socket,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      launched.delete(l);
    },
  };
  launched.add(l);
  try {
    await Promise.race([
      // Ready means both sockets accept: socket_ro is opened after socket.
      Promise.all([waitForSocket(socket), waitForSocket(`${socket}_ro`)]),
      exited.then(({ code }) => {
        throw new Error(`tsxenstored exited (${code}) during start: ${out}`);
      }),
    ]);
  } catch (e) {
    await l.stop();
    throw e;
  }
  return l;
}

// ---------------------------------------------------------------------------
// Command line

test("--help and -H print the usage with the options and exit 0", () => {
  for (const flag of ["--help", "-H"]) {
    const r = runDaemon([flag]);
    assert.equal(r.status, 0, `${flag}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage:/);
    for (const opt of [
      "-N, --no-fork",
      "-F, --pid-file <file>",
      "-T, --trace-file <file>",
      "-H, --help",
      "-E, --entry-nb <nb>",
      "-S, --entry-size <size>",
      "-W, --watch-nb <nb>",
      "-t, --transaction <nb>",
      "-A, --perm-nb <nb>",
      "-M, --path-max <chars>",
      "-Q, --quota <what>=<nb>",
      "-q, --quota-soft <what>=<nb>",
      "-K, --keep-orphans",
      "-V, --verbose",
    ]) {
      assert.ok(r.stdout.includes(opt), `${flag} output lists ${opt}:\n${r.stdout}`);
    }
    assert.equal(r.stderr, "");
    // It did not start a daemon.
    assert.deepEqual(readdirSync(r.dir), [], `${flag} created files in the rundir`);
  }
});

test("an unknown option exits with status 2 and a clear message on stderr", () => {
  for (const [args, name] of [
    [["--bogus"], "--bogus"],
    [["-N", "-Z"], "-Z"],
  ] as const) {
    const r = runDaemon([...args]);
    assert.equal(r.status, 2, `${args.join(" ")}: status; stderr: ${r.stderr}`);
    assert.match(r.stderr, /unknown option/i, r.stderr);
    assert.ok(r.stderr.includes(name), `stderr names ${name}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.deepEqual(readdirSync(r.dir), [], "no socket was created");
  }
});

test("a positional argument exits with status 2", () => {
  const r = runDaemon(["-N", "extra"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /No arguments desired/);
  assert.deepEqual(readdirSync(r.dir), []);
});

test("bad option values exit with status 2 and name the problem", () => {
  for (const [args, re] of [
    [["-Q", "bogus=1"], /unknown quota.*bogus/],
    [["--quota", "bogus=1"], /unknown quota.*bogus/],
    [["-Q", "nodes"], /<what>=<nb>/],
    [["-q", "bogus=5"], /unknown quota.*bogus/],
    [["-E", "abc"], /invalid.*abc/],
    [["-Q", "memory=abc"], /invalid.*abc/],
    [["--warm-up", "lots"], /invalid parameter value "lots" for --warm-up/],
    [["--idle-poll", "soon"], /invalid parameter value "soon" for --idle-poll/],
    [["--idle-poll", "10001"], /--idle-poll: at most 10000 microseconds/],
  ] as const) {
    const r = runDaemon([...args]);
    assert.equal(r.status, 2, `${args.join(" ")}: status; stderr: ${r.stderr}`);
    assert.match(r.stderr, re, `${args.join(" ")}: ${r.stderr}`);
    assert.deepEqual(readdirSync(r.dir), [], `${args.join(" ")}: no socket was created`);
  }
});

// ---------------------------------------------------------------------------
// Sockets

test("socket at $XENSTORED_RUNDIR/socket with mode 0600, socket_ro beside it with mode 0660", async () => {
  const d = await launch([]);
  try {
    const rw = statSync(join(d.dir, "socket"));
    const ro = statSync(join(d.dir, "socket_ro"));
    assert.ok(rw.isSocket(), "socket is a Unix socket");
    assert.ok(ro.isSocket(), "socket_ro is a Unix socket");
    assert.equal((rw.mode & 0o777).toString(8), "600");
    assert.equal((ro.mode & 0o777).toString(8), "660");
    // The CLI finds it through XENSTORED_RUNDIR alone, as libxenstore does.
    const env = cleanEnv({ XENSTORED_RUNDIR: d.dir });
    const w = spawnSync("xenstore-write", ["/rundir/probe", "yes"], { env, encoding: "utf8" });
    assert.equal(w.status, 0, w.stderr);
    const r = spawnSync("xenstore-read", ["/rundir/probe"], { env, encoding: "utf8" });
    assert.equal(r.stdout, "yes\n", r.stderr);
  } finally {
    await d.stop();
  }
});

test("XENSTORED_PATH overrides the socket path", async () => {
  const dir = tempDir();
  const custom = join(dir, "custom.sock");
  const d = await launch([], { dir, socket: custom, env: { XENSTORED_PATH: custom } });
  try {
    assert.ok(statSync(custom).isSocket());
    assert.equal((statSync(custom).mode & 0o777).toString(8), "600");
    assert.equal(existsSync(join(dir, "socket")), false, "no socket at $XENSTORED_RUNDIR/socket");
    const w = runWith(custom, "xenstore-write", ["/custom/path", "ok"]);
    assert.equal(w.status, 0, w.stderr);
    assert.equal(runWith(custom, "xenstore-read", ["/custom/path"]).stdout, "ok\n");
  } finally {
    await d.stop();
  }
  assert.equal(existsSync(custom), false, "socket removed on exit");
});

test("the read-only socket answers reads and watches; modifying requests get EACCES", async () => {
  const d = await launch([]);
  const rw = await XenStoreClient.connect(d.socket);
  const ro = await XenStoreClient.connect(join(d.dir, "socket_ro"));
  try {
    await rw.write("/ro/a", "value");
    await rw.setPerms("/ro/a", ["n0", "r3"]);
    assert.equal(await ro.readString("/ro/a"), "value");
    assert.deepEqual(await ro.list("/ro"), ["a"]);
    assert.deepEqual(await ro.getPerms("/ro/a"), [
      { domid: 0, read: false, write: false },
      { domid: 3, read: true, write: false },
    ]);
    assert.equal(await ro.exists("/ro/missing"), false);
    assert.equal(await ro.getDomainPath(1), "/local/domain/1");

    const w = await ro.watch("/ro", { token: "rotok" });
    assert.deepEqual(await withTimeout(w.next(), 3000, "initial event"), { path: "/ro", token: "rotok" });
    await rw.write("/ro/b", "2");
    assert.deepEqual(await withTimeout(w.next(), 3000, "event for a write on the rw socket"), { path: "/ro/b", token: "rotok" });

    await expectErrno(ro.write("/ro/a", "changed"), "EACCES", "WRITE of an existing node");
    await expectErrno(ro.write("/ro/new", "x"), "EACCES", "WRITE of a new node");
    await expectErrno(ro.mkdir("/ro/dir"), "EACCES", "MKDIR");
    await expectErrno(ro.rm("/ro/a"), "EACCES", "RM");
    await expectErrno(ro.setPerms("/ro/a", ["b0"]), "EACCES", "SET_PERMS");

    // Nothing changed, and the connection is still usable.
    assert.equal(await rw.readString("/ro/a"), "value");
    assert.deepEqual(await rw.list("/ro"), ["a", "b"]);
    assert.deepEqual(await rw.getPerms("/ro/a"), await ro.getPerms("/ro/a"));
    assert.equal(await ro.readString("/ro/b"), "2");
    await w.close();
    // The CLI sees the same through socket_ro.
    const cli = runWith(join(d.dir, "socket_ro"), "xenstore-write", ["/ro/cli", "x"]);
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /could not write path \/ro\/cli/);
    assert.equal(runWith(join(d.dir, "socket_ro"), "xenstore-read", ["/ro/a"]).stdout, "value\n");
  } finally {
    ro.close();
    rw.close();
    await d.stop();
  }
});

// ---------------------------------------------------------------------------
// Signals and the pid file

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  test(`${sig} shuts down cleanly: exit code 0, sockets and pid file removed`, async () => {
    const dir = tempDir();
    const pidFile = join(dir, "xenstored.pid");
    const d = await launch(["-F", pidFile], { dir });
    // An idle client connected at shutdown does not hold it up.
    const c = await XenStoreClient.connect(d.socket);
    await c.write("/sig/a", "1");
    await waitUntil(() => existsSync(pidFile), "the pid file");
    d.child.kill(sig);
    const { code, signal } = await withTimeout(d.exited, 8000, `exit after ${sig}`);
    c.close();
    assert.equal(signal, null, `terminated by signal ${signal}; output: ${d.output()}`);
    assert.equal(code, 0, d.output());
    assert.equal(existsSync(join(dir, "socket")), false, "socket removed");
    assert.equal(existsSync(join(dir, "socket_ro")), false, "socket_ro removed");
    assert.equal(existsSync(pidFile), false, "pid file removed");
    await d.stop();
  });
}

test("-F writes the daemon's pid to the pid file and removes it on exit", async () => {
  const dir = tempDir();
  const pidFile = join(dir, "tsxenstored.pid");
  const d = await launch(["--pid-file", pidFile], { dir });
  try {
    // Claimed (empty) at start, written once the daemon is ready.
    await waitUntil(() => readFileSync(pidFile, "utf8") !== "", "the pid in the pid file");
    assert.equal(readFileSync(pidFile, "utf8"), `${d.child.pid}\n`);
    // No temporary files left next to it.
    assert.deepEqual(readdirSync(dir).sort(), ["socket", "socket_ro", "state", "tsxenstored.pid"]);
  } finally {
    await d.stop();
  }
  assert.equal(existsSync(pidFile), false, "pid file removed on exit");
});

// ---------------------------------------------------------------------------
// Trace file

/** IN/OUT lines of the trace, parsed as [direction, op, payload]. */
function traceIo(text: string): [string, string, string][] {
  const out: [string, string, string][] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("IN ") && !line.startsWith("OUT ")) continue;
    const m = /^(IN|OUT) \S+(?: \(d\d+\))? \d{8} \d\d:\d\d:\d\d ([A-Z_]+) \((.*)\)$/s.exec(line);
    assert.ok(m, `trace line in C xenstored's layout: ${JSON.stringify(line)}`);
    out.push([m[1]!, m[2]!, m[3]!]);
  }
  return out;
}

test("-T writes one line per request, reply and watch event, starting with IN / OUT", async () => {
  const dir = tempDir();
  const trace = join(dir, "trace.log");
  const d = await launch(["-T", trace], { dir });
  const c = await XenStoreClient.connect(d.socket);
  try {
    const w = await c.watch("/tr", { token: "tk" });
    await w.next();
    await c.write("/tr/a", "1");
    await w.next();
    assert.equal(await c.readString("/tr/a"), "1");
    assert.deepEqual(await c.list("/tr"), ["a"]);
    await c.rm("/tr/a");
    await expectErrno(c.read("/tr/a"), "ENOENT", "READ after RM");
    const expected: [string, string, string][] = [
      ["IN", "WATCH", "/tr tk "],
      ["OUT", "WATCH", "OK "],
      ["OUT", "WATCH_EVENT", "/tr tk "],
      ["IN", "WRITE", "/tr/a 1"],
      ["OUT", "WRITE", "OK "],
      ["OUT", "WATCH_EVENT", "/tr/a tk "],
      ["IN", "READ", "/tr/a "],
      ["OUT", "READ", "1"],
      ["IN", "DIRECTORY", "/tr "],
      ["OUT", "DIRECTORY", "a "],
      ["IN", "RM", "/tr/a "],
      ["OUT", "RM", "OK "],
      ["OUT", "WATCH_EVENT", "/tr/a tk "],
      ["IN", "READ", "/tr/a "],
      ["OUT", "ERROR", "ENOENT "],
    ];
    await waitUntil(() => /ERROR \(ENOENT \)\n/.test(readIfExists(trace) ?? ""), "the trace to reach the last reply");
    const text = readIfExists(trace) ?? "";
    assert.deepEqual(traceIo(text), expected, text);
    // Every line that is about this connection's messages starts with IN or OUT.
    const ioLines = text.split("\n").filter((l) => l.includes("/tr/a") || l.includes("ENOENT"));
    for (const l of ioLines) assert.match(l, /^(IN|OUT) /);
  } finally {
    c.close();
    await d.stop();
  }
});

test("-V logs to stderr; without it the daemon is silent", async () => {
  const quiet = await launch([]);
  const loud = await launch(["-V"]);
  try {
    const c = await XenStoreClient.connect(loud.socket);
    c.close();
    await waitUntil(() => /^tsxenstored: ready: socket .*\/socket$/m.test(loud.output()), "the ready line on stderr");
  } finally {
    await quiet.stop();
    await loud.stop();
  }
  // Only the one line saying there is no hypervisor to serve guests for.
  assert.match(quiet.output(), NO_XEN_LINE);
  assert.equal(withoutStartLine(quiet.output()), "");
});

test("SIGHUP reopens the trace file (log rotation)", async () => {
  const dir = tempDir();
  const trace = join(dir, "trace.log");
  const rotated = join(dir, "trace.log.1");
  const d = await launch(["-T", trace], { dir });
  const c = await XenStoreClient.connect(d.socket);
  try {
    await c.write("/hup/before", "1");
    await waitUntil(() => /^OUT .* WRITE \(OK \)\n/m.test(readIfExists(trace) ?? ""), "the first request's reply in the trace");
    renameSync(trace, rotated);
    d.child.kill("SIGHUP");
    await waitUntil(() => existsSync(trace), "a fresh trace file after SIGHUP");
    await c.write("/hup/after", "2");
    // The reply's OUT line may reach the file a moment after the client has the reply.
    await waitUntil(
      () => /^IN .* WRITE \(\/hup\/after 2\)\n(?:.*\n)*OUT .* WRITE \(OK \)\n/m.test(readIfExists(trace) ?? ""),
      "the new request and its reply in the fresh trace file",
    );
    const fresh = readIfExists(trace) ?? "";
    const old = readIfExists(rotated) ?? "";
    assert.ok(old.includes("/hup/before"), old);
    assert.ok(!old.includes("/hup/after"), `the rotated file got a request after SIGHUP:\n${old}`);
    assert.ok(!fresh.includes("/hup/before"), `the fresh file repeats old requests:\n${fresh}`);
    assert.deepEqual(
      traceIo(fresh).filter(([, op]) => op === "WRITE"),
      [
        ["IN", "WRITE", "/hup/after 2"],
        ["OUT", "WRITE", "OK "],
      ],
    );
    // Still running and answering.
    assert.equal(d.child.exitCode, null);
    assert.equal(await c.readString("/hup/after"), "2");
  } finally {
    c.close();
    await d.stop();
  }
});

// ---------------------------------------------------------------------------
// Quota flags

const QUOTA_ARGS = ["-E", "50", "-S", "300", "-W", "7", "-t", "3", "-A", "4", "-M", "100", "-Q", "transaction-nodes=77", "-Q", "outstanding=9", "-Q", "memory=99999", "-q", "memory=12345"];

const QUOTA_EXPECTED =
  "Quota settings:\n" +
  "nodes            :       50 Nodes per domain\n" +
  "watches          :        7 Watches per domain\n" +
  "transactions     :        3 Transactions per domain\n" +
  "outstanding      :        9 Outstanding requests per domain\n" +
  "transaction-nodes:       77 Max. number of accessed nodes per transaction\n" +
  "memory           :    99999 Total Xenstore memory per domain (error level)\n" +
  "node-size        :      300 Max. size of a node\n" +
  "path-max         :      100 Max. length of a node path\n" +
  "permissions      :        4 Max. number of permissions per node\n\n";

const QUOTA_SOFT_EXPECTED = "Quota settings:\nmemory           :    12345 Total Xenstore memory per domain (warning level)\n\n";

/** C xenstored started with daemon arguments through start-peer.sh. */
function startCxWithArgs(args: string[]): { socket: string; stop(): void } {
  const dir = tempDir("xs-cx-cli-");
  const r = spawnSync(join(PEERS, "start-peer.sh"), ["cxenstored", dir, "--", ...args], { encoding: "utf8", timeout: 30000 });
  if (r.status !== 0) throw new Error(`start-peer.sh failed: ${r.stderr}`);
  const socket = /XENSTORED_PATH=(.*)/.exec(r.stdout)![1]!.trim();
  return { socket, stop: () => void spawnSync(join(PEERS, "stop-peer.sh"), [dir], { timeout: 15000 }) };
}

test("C xenstored's quota flags are accepted and shown by xenstore-control quota", { skip: cliUnavailable() ?? false }, async (t) => {
  const d = await launch(QUOTA_ARGS);
  let ts: { quota: string; soft: string };
  try {
    const q = runWith(d.socket, XENSTORE_CONTROL, ["quota"]);
    const s = runWith(d.socket, XENSTORE_CONTROL, ["quota-soft"]);
    assert.equal(q.status, 0, q.stderr);
    assert.equal(s.status, 0, s.stderr);
    ts = { quota: q.stdout, soft: s.stdout };
    assert.equal(q.stdout, QUOTA_EXPECTED);
    assert.equal(s.stdout, QUOTA_SOFT_EXPECTED);
    // Long option spellings are the same options.
    const d2 = await launch(["--entry-nb", "51", "--watch-nb", "8", "--quota", "outstanding=10", "--quota-soft", "memory=4321"]);
    try {
      const q2 = runWith(d2.socket, XENSTORE_CONTROL, ["quota"]).stdout;
      assert.match(q2, /^nodes {12}: {7}51 /m);
      assert.match(q2, /^watches {10}: {8}8 /m);
      assert.match(q2, /^outstanding {6}: {7}10 /m);
      assert.match(runWith(d2.socket, XENSTORE_CONTROL, ["quota-soft"]).stdout, /^memory {11}: {5}4321 /m);
    } finally {
      await d2.stop();
    }
  } finally {
    await d.stop();
  }
  const why = peersUnavailable("cxenstored");
  await t.test("C xenstored shows the same settings for the same flags", { skip: why ? `C xenstored peer unavailable: ${why}` : false }, () => {
    const cx = startCxWithArgs(QUOTA_ARGS);
    try {
      assert.equal(ts.quota, runWith(cx.socket, XENSTORE_CONTROL, ["quota"]).stdout);
      assert.equal(ts.soft, runWith(cx.socket, XENSTORE_CONTROL, ["quota-soft"]).stdout);
    } finally {
      cx.stop();
    }
  });
});
