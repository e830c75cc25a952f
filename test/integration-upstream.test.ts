/**
 * Integration tests with the upstream clients: test-xenstore, the xenstore-*
 * CLI tools and pyxs drive the real daemon (bin/tsxenstored). Every scripted
 * sequence is checked against explicit expected outputs and, when the
 * upstream peers (../shared/peers) are present, against C xenstored 4.17
 * ("cx") running the very same sequence.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test, type TestContext } from "node:test";
import {
  PEERS,
  TEST_XENSTORE,
  peersUnavailable,
  runWith,
  startPeer,
  startTsxenstored,
  waitForSocket,
  type RunningDaemon,
} from "./helpers/daemon.js";
import {
  XENSTORE_CONTROL,
  cliUnavailable,
  pyxsUnavailable,
  runAsync,
  runPython,
  startAsync,
  transcript,
  type RunResult,
  type Started,
} from "./helpers/clients.js";

// ---------------------------------------------------------------------------
// Daemons: each test gets a fresh tsxenstored and (when possible) a fresh cx.

const running = new Set<RunningDaemon>();

after(async () => {
  for (const d of running) await d.stop().catch(() => undefined);
  running.clear();
});

// If the test process goes away early, do not leave daemons behind.
process.on("exit", () => {
  for (const d of running) {
    if (d.child) d.child.kill("SIGKILL");
    else spawnSync(join(PEERS, "stop-peer.sh"), [d.dir], { timeout: 10000 });
  }
});

async function track(d: Promise<RunningDaemon>): Promise<RunningDaemon> {
  const r = await d;
  running.add(r);
  return r;
}

async function stop(d: RunningDaemon | null): Promise<void> {
  if (!d) return;
  running.delete(d);
  await d.stop();
}

interface Pair {
  ts: RunningDaemon;
  cx: RunningDaemon | null;
  /** Why there is no cx to compare with (false when there is one). */
  cxSkip: string | false;
}

async function startPair(): Promise<Pair> {
  const ts = await track(startTsxenstored());
  const why = peersUnavailable("cxenstored");
  if (why) return { ts, cx: null, cxSkip: `C xenstored peer unavailable: ${why}` };
  try {
    const cx = await track(startPeer("cxenstored"));
    return { ts, cx, cxSkip: false };
  } catch (e) {
    return { ts, cx: null, cxSkip: `C xenstored peer did not start: ${(e as Error).message}` };
  }
}

async function withPair(t: TestContext, body: (p: Pair) => Promise<void>): Promise<void> {
  const p = await startPair();
  if (p.cxSkip) t.diagnostic(p.cxSkip);
  try {
    await body(p);
  } finally {
    await stop(p.ts);
    await stop(p.cx);
  }
}

/** Compare two transcripts line by line; report every differing line. */
function assertSameLines(actual: string[], expected: string[], what: string): void {
  const diffs: string[] = [];
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) {
      diffs.push(`line ${i + 1}:\n  tsxenstored: ${JSON.stringify(actual[i])}\n  cxenstored:  ${JSON.stringify(expected[i])}`);
    }
  }
  assert.equal(diffs.length, 0, `${what}: ${diffs.length} line(s) differ from C xenstored:\n${diffs.slice(0, 40).join("\n")}`);
}

// ---------------------------------------------------------------------------
// 1. upstream test-xenstore

const TEST_NAMES = [
  "read 1",
  "read 2000",
  "write 1",
  "write 2000",
  "dir",
  "rm node",
  "rm dir",
  "ta empty",
  "ta empty x",
  "ta rmw",
  "ta rmw x",
  "ta err",
];

test("upstream test-xenstore passes all 12 tests against tsxenstored", { skip: existsSync(TEST_XENSTORE) ? false : `${TEST_XENSTORE} not installed` }, async () => {
  const listed = runWith("/nonexistent", TEST_XENSTORE, ["-l"]);
  const names = listed.stdout
    .split("\n")
    .filter((l) => l.includes(":"))
    .map((l) => l.slice(0, l.indexOf(":")).trim());
  assert.deepEqual(names, TEST_NAMES, "test-xenstore -l lists the 12 tests");

  const ts = await track(startTsxenstored());
  try {
    const r = await runAsync(ts.socket, TEST_XENSTORE, ["-i", "20"], { timeoutMs: 40000 });
    const all = r.stdout + r.stderr;
    assert.equal(r.timedOut, false, `test-xenstore timed out:\n${all}`);
    assert.equal(r.status, 0, `test-xenstore exit status:\n${all}`);
    assert.doesNotMatch(all, /failed/i, all);
    for (const name of TEST_NAMES) {
      const re = new RegExp(`^${name}\\s*: avg: \\d+ ns \\(\\d+ ns \\.\\. \\d+ ns\\)$`, "m");
      assert.match(r.stdout, re, `test "${name}" reported a time in ns:\n${r.stdout}`);
    }
    assert.equal((r.stdout.match(/ ns \(/g) ?? []).length, 12, r.stdout);
    // The test cleaned up after itself and the daemon still answers.
    const alive = runWith(ts.socket, "xenstore-exists", ["/"]);
    assert.equal(alive.status, 0, alive.stderr);
  } finally {
    await stop(ts);
  }
});
test("the benchmarks' yardstick, bench/minimal-xenstored.ts, passes test-xenstore too", { skip: existsSync(TEST_XENSTORE) ? false : `${TEST_XENSTORE} not installed` }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "minimal-xs-"));
  const socket = join(dir, "socket");
  const server = spawn(process.execPath, [new URL("../bench/minimal-xenstored.js", import.meta.url).pathname, socket], { stdio: "ignore" });
  try {
    await waitForSocket(socket, 10000, () => server.exitCode === null);
    const r = await runAsync(socket, TEST_XENSTORE, ["-i", "20"], { timeoutMs: 40000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal((r.stdout.match(/ ns \(/g) ?? []).length, 12, r.stdout);
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});


// ---------------------------------------------------------------------------
// 2. xenstore-* CLI: one scripted sequence, run against both daemons.

interface Expect {
  status: number;
  stdout: string;
  stderr?: string;
}

type Step =
  | { kind: "run"; cmd: string; args: string[]; expect: Expect }
  /** Start `xenstore-watch args` in the background, wait for its first event line. */
  | { kind: "watch"; id: string; args: string[] }
  /** Wait until watch `id` exits (-n reached). */
  | { kind: "wait"; id: string; expect: Expect };

const XCTL = XENSTORE_CONTROL;

function x(cmd: string, args: string[], status: number, stdout = "", stderr = ""): Step {
  return { kind: "run", cmd, args, expect: { status, stdout, stderr } };
}

const CONTROL_HELP =
  "check\t\nlog\ton|off\nlive-update\t[-c <cmdline>] [-F] [-t <timeout>] <file>\n    Default timeout is 60 seconds.\n" +
  "logfile\t<file>\nmemreport\t[<file>]\nprint\t<string>\nquota\t[set <name> <val>|<domid>]\nquota-soft\t[set <name> <val>]\nhelp\t\n";

function quotaTable(nodes = 1000): string {
  return (
    "Quota settings:\n" +
    `nodes            : ${String(nodes).padStart(8)} Nodes per domain\n` +
    "watches          :      128 Watches per domain\n" +
    "transactions     :       10 Transactions per domain\n" +
    "outstanding      :       20 Outstanding requests per domain\n" +
    "transaction-nodes:     1024 Max. number of accessed nodes per transaction\n" +
    "memory           :  2621440 Total Xenstore memory per domain (error level)\n" +
    "node-size        :     2048 Max. size of a node\n" +
    "path-max         :     2048 Max. length of a node path\n" +
    "permissions      :        5 Max. number of permissions per node\n"
  );
}

const CLI_SCRIPT: Step[] = [
  // write / read
  x("xenstore-write", ["/cli/a", "1", "/cli/b/c", "2", "/cli/d", "hello world"], 0),
  x("xenstore-read", ["/cli/a", "/cli/b/c", "/cli/d"], 0, "1\n2\nhello world\n"),
  x("xenstore-read", ["-p", "/cli/a"], 0, "/cli/a: 1\n"),
  x("xenstore-read", ["/cli/b"], 0, "\n"),
  x("xenstore-read", ["/cli/missing"], 1, "", "xenstore-read: couldn't read path /cli/missing\n"),
  x("xenstore-read", [], 1, "", "xenstore-read: Usage: xenstore-read [-h] [-p] [-s] [-R] key [...]\n"),
  x("xenstore-write", ["/cli/odd"], 1, "", "xenstore-write: Usage: xenstore-write [-h] [-s] [-R] key value [...]\n"),
  x("xenstore-write", ["/cli/esc", "a\\x41\\tb\\\\c"], 0),
  x("xenstore-read", ["/cli/esc"], 0, "aA\\tb\\\\c\n"),
  // -R prints the raw value without a newline
  x("xenstore-read", ["-R", "/cli/esc"], 0, "aA\tb\\c"),
  x("xenstore-write", ["-R", "/cli/raw", "x\\x41"], 0),
  x("xenstore-read", ["/cli/raw"], 0, "x\\\\x41\n"),
  x("xenstore-write", ["rel/cli", "r"], 0),
  x("xenstore-read", ["/local/domain/0/rel/cli", "rel/cli"], 0, "r\nr\n"),
  x("xenstore-write", ["-s", "/cli/s", "sock"], 0),
  x("xenstore-read", ["-s", "/cli/s"], 0, "sock\n"),
  x("xenstore-write", ["/cli/bad//path", "1"], 1, "", "xenstore-write: could not write path /cli/bad//path\n"),
  x("xenstore-write", ["/cli/bad path", "1"], 1, "", "xenstore-write: could not write path /cli/bad path\n"),
  x("xenstore-write", ["/cli/long", "v".repeat(150)], 0),
  // ls
  x(
    "xenstore-ls",
    ["/cli"],
    0,
    'a = "1"\nb = ""\n c = "2"\nd = "hello world"\nesc = "aA\\tb\\\\c"\nraw = "x\\\\x41"\ns = "sock"\n' +
      `long = "${"v".repeat(68)}\\..."\n`,
  ),
  x(
    "xenstore-ls",
    ["-f", "/cli"],
    0,
    '/cli/a = "1"\n/cli/b = ""\n/cli/b/c = "2"\n/cli/d = "hello world"\n/cli/esc = "aA\\tb\\\\c"\n/cli/raw = "x\\\\x41"\n/cli/s = "sock"\n' +
      `/cli/long = "${"v".repeat(150)}"\n`,
  ),
  x("xenstore-rm", ["/cli/long", "/cli/esc", "/cli/raw", "/cli/s"], 0),
  x(
    "xenstore-ls",
    ["-p", "/cli"],
    0,
    // 80 columns (no tty): "name = value", then ". " padding, then the perms.
    'a = "1"  . . . . . . . . . . . . . . . . . . . . . . . . . .  (n0)\n' +
      'b = "" . . . . . . . . . . . . . . . . . . . . . . . . . . .  (n0)\n' +
      ' c = "2" . . . . . . . . . . . . . . . . . . . . . . . . . .  (n0)\n' +
      'd = "hello world"  . . . . . . . . . . . . . . . . . . . . .  (n0)\n',
  ),
  x("xenstore-ls", ["-f", "-p", "/cli"], 0, '/cli/a = "1"   (n0)\n/cli/b = ""   (n0)\n/cli/b/c = "2"   (n0)\n/cli/d = "hello world"   (n0)\n'),
  x("xenstore-ls", ["/cli/missing"], 1, "", "xenstore-ls: xs_directory (/cli/missing): No such file or directory\n"),
  x("xenstore-ls", ["/local/domain/0"], 0, 'rel = ""\n cli = "r"\n'),
  // list / exists
  x("xenstore-list", ["/cli"], 0, "a\nb\nd\n"),
  x("xenstore-list", ["-p", "/cli"], 0, "/cli/a\n/cli/b\n/cli/d\n"),
  x("xenstore-list", ["/cli", "/cli/b"], 0, "a\nb\nd\nc\n"),
  x("xenstore-list", ["/cli/a"], 0, ""),
  x("xenstore-list", ["/cli/missing"], 1, "", "xenstore-list: could not list path /cli/missing\n"),
  x("xenstore-exists", ["/cli/a"], 0),
  x("xenstore-exists", ["/cli/b", "/cli/d"], 0),
  x("xenstore-exists", ["/cli/missing"], 1),
  x("xenstore-exists", ["/cli/a", "/cli/missing"], 1),
  // chmod
  x("xenstore-chmod", ["/cli/a", "b1", "r2"], 0),
  x("xenstore-chmod", ["-r", "/cli/b", "n0", "r5"], 0),
  x("xenstore-chmod", ["-u", "/cli/d", "w7"], 0),
  x("xenstore-ls", ["-f", "-p", "/cli"], 0, '/cli/a = "1"   (b1,r2)\n/cli/b = ""   (n0,r5)\n/cli/b/c = "2"   (n0,r5)\n/cli/d = "hello world"   (w7)\n'),
  x("xenstore-chmod", ["/cli/a", "x1"], 1, "", "xenstore-chmod: Invalid permission specification: 'x'\n"),
  x("xenstore-chmod", ["/cli/missing", "n0"], 1, "", "xenstore-chmod: Error occurred setting permissions on '/cli/missing': No such file or directory\n"),
  x("xenstore-chmod", ["/cli/a", "n40000"], 1, "", "xenstore-chmod: Error occurred setting permissions on '/cli/a': No such file or directory\n"),
  x("xenstore-chmod", ["/cli/a"], 1, "", "xenstore-chmod: Error occurred setting permissions on '/cli/a': Invalid argument\n"),
  x("xenstore-write", ["/cli/b/new", "n"], 0),
  x("xenstore-ls", ["-f", "-p", "/cli/b"], 0, '/cli/b/c = "2"   (n0,r5)\n/cli/b/new = "n"   (n0,r5)\n'),
  // rm
  x("xenstore-rm", ["/cli/b/c"], 0),
  x("xenstore-rm", ["/cli/missing"], 0),
  x("xenstore-rm", ["/cli/missing/deeper"], 1, "", "xenstore-rm: could not remove path /cli/missing/deeper\n"),
  x("xenstore-write", ["/cli/e/f/g", "1", "/cli/e/h", "2"], 0),
  x("xenstore-rm", ["-t", "/cli/e/f/g"], 0),
  x("xenstore-ls", ["-f", "/cli/e"], 0, '/cli/e/h = "2"\n'),
  x("xenstore-rm", ["-t", "/cli/e/h"], 0),
  x("xenstore-exists", ["/cli/e"], 1),
  x("xenstore-rm", ["/"], 1, "", "xenstore-rm: could not remove path /\n"),
  x("xenstore-rm", ["/cli/a", "/cli/d"], 0),
  x("xenstore-ls", ["-f", "/cli"], 0, '/cli/b = ""\n/cli/b/new = "n"\n'),
  // watch
  { kind: "watch", id: "w1", args: ["-n", "5", "/cli/w"] },
  { kind: "watch", id: "w2", args: ["-n", "4", "/cli/w/a"] },
  { kind: "watch", id: "w3", args: ["-n", "2", "/cli/w/a/deep/x"] },
  x("xenstore-write", ["/cli/w/a", "1"], 0),
  x("xenstore-write", ["/cli/other", "1"], 0),
  x("xenstore-chmod", ["/cli/w/a", "n0", "r1"], 0),
  x("xenstore-rm", ["/cli/w"], 0),
  { kind: "wait", id: "w2", expect: { status: 0, stdout: "/cli/w/a\n/cli/w/a\n/cli/w/a\n/cli/w/a\n" } },
  x("xenstore-write", ["/cli/w/a/deep/x", "1"], 0),
  { kind: "wait", id: "w1", expect: { status: 0, stdout: "/cli/w\n/cli/w/a\n/cli/w/a\n/cli/w\n/cli/w/a/deep/x\n" } },
  { kind: "wait", id: "w3", expect: { status: 0, stdout: "/cli/w/a/deep/x\n/cli/w/a/deep/x\n" } },
  { kind: "watch", id: "rel", args: ["-n", "2", "relw"] },
  x("xenstore-write", ["relw/x", "1"], 0),
  { kind: "wait", id: "rel", expect: { status: 0, stdout: "relw\nrelw/x\n" } },
  { kind: "watch", id: "special", args: ["-n", "1", "@releaseDomain"] },
  { kind: "wait", id: "special", expect: { status: 0, stdout: "@releaseDomain\n" } },
  // control
  x(XCTL, [], 2, "", `Usage:\n${XCTL} <command> [<arg>...]\n`),
  x(XCTL, ["help"], 0, `${CONTROL_HELP}\n`),
  x(XCTL, ["quota"], 0, `${quotaTable()}\n`),
  x(XCTL, ["quota-soft"], 0, "Quota settings:\nmemory           :  2097152 Total Xenstore memory per domain (warning level)\n\n"),
  x(XCTL, ["quota", "set", "nodes", "500"], 0, "OK\n"),
  x(XCTL, ["quota"], 0, `${quotaTable(500)}\n`),
  x(XCTL, ["quota", "set", "bogus", "5"], 3, "", `Command not supported. Valid commands are:\n${CONTROL_HELP}\n`),
  x(XCTL, ["quota", "set", "nodes"], 3, "", `Command not supported. Valid commands are:\n${CONTROL_HELP}\n`),
  x(XCTL, ["quota-soft", "set", "memory", "1000"], 0, "OK\n"),
  x(XCTL, ["quota-soft"], 0, "Quota settings:\nmemory           :     1000 Total Xenstore memory per domain (warning level)\n\n"),
  x(XCTL, ["quota-soft", "set", "nodes", "10"], 3, "", `Command not supported. Valid commands are:\n${CONTROL_HELP}\n`),
  x(XCTL, ["quota", "999"], 3, "", "Error 2 when trying to execute command.\n"),
  x(XCTL, ["bogus"], 3, "", `Command not supported. Valid commands are:\n${CONTROL_HELP}\n`),
  x(XCTL, ["print", "hello"], 0, "OK\n"),
  x(XCTL, ["check"], 0, "OK\n"),
  x(XCTL, ["live-update"], 2, "", "Missing binary specification\n"),
  // limits and odd paths
  x("xenstore-write", ["/cli/big", "x".repeat(4000)], 0),
  x("xenstore-read", ["/cli/big"], 0, `${"x".repeat(4000)}\n`),
  x("xenstore-write", ["/cli/toobig", "x".repeat(4100)], 1, "", "xenstore-write: could not write path /cli/toobig\n"),
  x("xenstore-write", [`/cli/${"p".repeat(2040)}`, "1"], 0),
  x("xenstore-write", [`/cli/${"q".repeat(2050)}`, "1"], 1, "", `xenstore-write: could not write path /cli/${"q".repeat(2050)}\n`),
  x("xenstore-rm", ["/cli/big", `/cli/${"p".repeat(2040)}`], 0),
  x("xenstore-write", ["/cli/trailing/", "1"], 1, "", "xenstore-write: could not write path /cli/trailing/\n"),
  x("xenstore-read", ["/cli/b/"], 1, "", "xenstore-read: couldn't read path /cli/b/\n"),
  x("xenstore-read", [""], 1, "", "xenstore-read: couldn't read path \n"),
  x("xenstore-read", ["@releaseDomain"], 1, "", "xenstore-read: couldn't read path @releaseDomain\n"),
  x("xenstore-write", ["@foo", "1"], 1, "", "xenstore-write: could not write path @foo\n"),
  x("xenstore-rm", ["@releaseDomain"], 1, "", "xenstore-rm: could not remove path @releaseDomain\n"),
  x("xenstore-list", ["@introduceDomain"], 1, "", "xenstore-list: could not list path @introduceDomain\n"),
  x("xenstore-exists", ["@releaseDomain"], 1),
  x("xenstore-chmod", ["@releaseDomain", "n0"], 0),
  x("xenstore-watch", ["-n", "1", "///bad"], 1, "", "xenstore-watch: Unable to add watch on ///bad\n\n"),
  x("xenstore-watch", ["-n", "1", "bad path"], 1, "", "xenstore-watch: Unable to add watch on bad path\n\n"),
  // the whole tree at the end
  x(
    "xenstore-ls",
    ["-f"],
    0,
    '/tool = ""\n/tool/xenstored = ""\n/cli = ""\n/cli/b = ""\n/cli/b/new = "n"\n/cli/other = "1"\n/cli/w = ""\n/cli/w/a = ""\n/cli/w/a/deep = ""\n/cli/w/a/deep/x = "1"\n' +
      '/local = ""\n/local/domain = ""\n/local/domain/0 = ""\n/local/domain/0/rel = ""\n/local/domain/0/rel/cli = "r"\n/local/domain/0/relw = ""\n/local/domain/0/relw/x = "1"\n',
  ),
];

interface StepResult {
  step: Step;
  label: string;
  result: RunResult;
}

async function runCliScript(socket: string, steps: readonly Step[]): Promise<StepResult[]> {
  const out: StepResult[] = [];
  const watches = new Map<string, Started>();
  try {
    for (const step of steps) {
      if (step.kind === "run") {
        const r = runWith(socket, step.cmd, step.args);
        out.push({ step, label: `${step.cmd} ${step.args.join(" ")}`, result: { ...r, timedOut: false } });
      } else if (step.kind === "watch") {
        const w = startAsync(socket, "xenstore-watch", step.args, { timeoutMs: 10000 });
        watches.set(step.id, w);
        // The first event (the watch firing on registration) says it is in place.
        await w.lines(1).catch(() => undefined);
      } else {
        const w = watches.get(step.id)!;
        let timer: NodeJS.Timeout | undefined;
        const r = await Promise.race([
          w.done,
          new Promise<RunResult>((res) => {
            timer = setTimeout(() => {
              w.kill();
              res({ status: -1, stdout: w.stdout(), stderr: "", timedOut: true });
            }, 5000);
          }),
        ]);
        clearTimeout(timer);
        watches.delete(step.id);
        out.push({ step, label: `xenstore-watch [${step.id}] (exit)`, result: r });
      }
    }
  } finally {
    for (const w of watches.values()) w.kill();
  }
  return out;
}

/** Check every step's status and output against its expectation; report all mismatches. */
function checkExpected(run: readonly StepResult[]): void {
  const failures: string[] = [];
  for (const { step, label, result } of run) {
    if (step.kind === "watch") continue;
    const want = step.expect;
    const got: Record<string, unknown> = { status: result.timedOut ? "timeout" : result.status, stdout: result.stdout };
    const exp: Record<string, unknown> = { status: want.status, stdout: want.stdout };
    if (step.kind === "run") {
      got.stderr = result.stderr;
      exp.stderr = want.stderr ?? "";
    }
    try {
      assert.deepEqual(got, exp);
    } catch {
      failures.push(`$ ${label}\n  got:      ${JSON.stringify(got)}\n  expected: ${JSON.stringify(exp)}`);
    }
  }
  assert.equal(failures.length, 0, `${failures.length} command(s) gave unexpected output:\n${failures.join("\n")}`);
}

test(
  "xenstore-* CLI: same output and exit status as C xenstored, and the expected outputs",
  { skip: cliUnavailable() ?? false, timeout: 50000 },
  async (t) => {
    await withPair(t, async ({ ts, cx, cxSkip }) => {
      const tsRun = await runCliScript(ts.socket, CLI_SCRIPT);
      const cxRun = cx ? await runCliScript(cx.socket, CLI_SCRIPT) : null;

      await t.test("tsxenstored gives the expected outputs", () => checkExpected(tsRun));

      await t.test("C xenstored gives the same outputs, line by line", { skip: cxSkip }, () => {
        const a = tsRun.flatMap((s) => transcript(s.label, s.result));
        const b = cxRun!.flatMap((s) => transcript(s.label, s.result));
        assertSameLines(a, b, "xenstore-* CLI transcript");
      });
    });
  },
);

// Memory accounting as shown by `xenstore-control quota <domid>`: C xenstored
// charges each node's header, permissions, value and child list plus the
// length of its path.
function domainQuota(domid: number, nodes: number, memory: number): string {
  return (
    `Domain ${domid}:\n` +
    `nodes           : ${String(nodes).padStart(8)}\n` +
    "watches         :        0\ntransactions    :        0\noutstanding     :        0\n" +
    `memory          : ${String(memory).padStart(8)}\n\n`
  );
}

test("xenstore-control quota <domid>: node and memory accounting as in C xenstored", { skip: cliUnavailable() ?? false }, async (t) => {
  const steps: Step[] = [
    x(XCTL, ["quota", "0"], 0, domainQuota(0, 3, 132)),
    x("xenstore-write", ["/mq/a", "1", "/mq/bb/c", "hello"], 0),
    x("xenstore-chmod", ["-r", "/mq", "n7", "r1"], 0),
    x(XCTL, ["quota", "7"], 0, domainQuota(7, 4, 195)),
    x(XCTL, ["quota", "0"], 0, domainQuota(0, 3, 135)),
    x("xenstore-rm", ["/mq/bb"], 0),
    x(XCTL, ["quota", "7"], 0, domainQuota(7, 2, 91)),
    // A socket client's watch is charged to dom0 (its path and token), though not counted under "watches".
    { kind: "watch", id: "qw", args: ["-n", "2", "/mq/watched"] },
    x(XCTL, ["quota", "0"], 0, domainQuota(0, 3, 157)),
    x("xenstore-write", ["/mq/watched", "1"], 0),
    { kind: "wait", id: "qw", expect: { status: 0, stdout: "/mq/watched\n/mq/watched\n" } },
    x(XCTL, ["quota", "0"], 0, domainQuota(0, 3, 135)),
  ];
  await withPair(t, async ({ ts, cx, cxSkip }) => {
    const tsRun = await runCliScript(ts.socket, steps);
    const cxRun = cx ? await runCliScript(cx.socket, steps) : null;
    await t.test("tsxenstored reports C xenstored's numbers", () => checkExpected(tsRun));
    await t.test("C xenstored gives the same outputs, line by line", { skip: cxSkip }, () => {
      assertSameLines(
        tsRun.flatMap((s) => transcript(s.label, s.result)),
        cxRun!.flatMap((s) => transcript(s.label, s.result)),
        "xenstore-control quota transcript",
      );
    });
  });
});

// ---------------------------------------------------------------------------
// 3. pyxs

const PY_PRELUDE = String.raw`
import errno, json, queue, sys
from pyxs import Client, PyXSError
out = []
def conv(v):
    if isinstance(v, bytes): return v.decode("latin1")
    if isinstance(v, (list, tuple)): return [conv(x) for x in v]
    return v
def rec(name, f):
    try:
        out.append([name, "ok", conv(f())])
    except PyXSError as e:
        code = e.args[0]
        out.append([name, "err", errno.errorcode.get(code, str(code)) if isinstance(code, int) else conv(code)])
    except Exception as e:
        out.append([name, "exc", type(e).__name__])
def errname(f):
    try:
        f()
        return "no error"
    except PyXSError as e:
        return errno.errorcode.get(e.args[0], str(e.args[0]))
`;

const PY_BASIC = String.raw`
with Client() as c:
    rec("write", lambda: c.write(b"/py/a", b"hello"))
    rec("read", lambda: c.read(b"/py/a"))
    rec("read-default", lambda: c.read(b"/py/none", b"dflt"))
    rec("read-missing", lambda: c.read(b"/py/none"))
    rec("read-dir", lambda: c.read(b"/py"))
    rec("write-empty", lambda: c.write(b"/py/empty", b""))
    rec("read-empty", lambda: c.read(b"/py/empty"))
    rec("write-punct", lambda: c.write(b"/py/punct", b"a b=c;d,e:f/g'h\"i"))
    rec("read-punct", lambda: c.read(b"/py/punct"))
    rec("overwrite", lambda: (c.write(b"/py/a", b"second"), c.read(b"/py/a"))[1])
    rec("mkdir", lambda: c.mkdir(b"/py/d/e/f"))
    rec("mkdir-again", lambda: c.mkdir(b"/py/d/e/f"))
    rec("read-mkdir", lambda: c.read(b"/py/d/e"))
    rec("mkdir-keeps-value", lambda: (c.mkdir(b"/py/a"), c.read(b"/py/a"))[1])
    rec("list", lambda: c.list(b"/py"))
    rec("list-leaf", lambda: c.list(b"/py/a"))
    rec("list-missing", lambda: c.list(b"/py/none"))
    rec("exists", lambda: c.exists(b"/py/d/e"))
    rec("exists-no", lambda: c.exists(b"/py/none"))
    rec("rm", lambda: c.delete(b"/py/d/e"))
    rec("list-after-rm", lambda: c.list(b"/py/d"))
    rec("exists-after-rm", lambda: c.exists(b"/py/d/e/f"))
    rec("rm-missing", lambda: c.delete(b"/py/none"))
    rec("rm-missing-parent", lambda: c.delete(b"/py/none/x"))
    rec("rm-root", lambda: c.delete(b"/"))
    rec("relative-write", lambda: c.write(b"rel/x", b"r"))
    rec("relative-read", lambda: c.read(b"rel/x"))
    rec("relative-abs-read", lambda: c.read(b"/local/domain/0/rel/x"))
    rec("walk", lambda: [[p, v, ch] for p, v, ch in c.walk(b"/py")])
    rec("get-perms", lambda: c.get_perms(b"/py/a"))
    rec("set-perms", lambda: c.set_perms(b"/py/a", [b"b0", b"r1", b"w2", b"n3"]))
    rec("get-perms2", lambda: c.get_perms(b"/py/a"))
    rec("set-perms-owner", lambda: c.set_perms(b"/py/d", [b"r5", b"b6"]))
    rec("get-perms-owner", lambda: c.get_perms(b"/py/d"))
    rec("inherit", lambda: (c.write(b"/py/d/child/x", b"x"), c.get_perms(b"/py/d/child"), c.get_perms(b"/py/d/child/x"))[1:])
    rec("set-perms-missing", lambda: c.set_perms(b"/py/none", [b"n0"]))
    rec("set-perms-baddom", lambda: c.set_perms(b"/py/a", [b"n40000"]))
    rec("get-perms-missing", lambda: c.get_perms(b"/py/none"))
    rec("get-perms-root", lambda: c.get_perms(b"/"))
    rec("domain-path", lambda: c.get_domain_path(3))
    rec("introduced0", lambda: c.is_domain_introduced(0))
    def tx_commit():
        c.transaction()
        c.write(b"/py/tx/a", b"1")
        v = c.read(b"/py/tx/a")
        l = c.list(b"/py/tx")
        ok = c.commit()
        return [v, l, ok, c.read(b"/py/tx/a")]
    rec("tx-commit", tx_commit)
    def tx_abort():
        c.transaction()
        c.write(b"/py/tx/b", b"2")
        inside = c.exists(b"/py/tx/b")
        c.rollback()
        return [inside, c.exists(b"/py/tx/b")]
    rec("tx-abort", tx_abort)
    def tx_conflict():
        with Client() as c2:
            c.transaction()
            v = c.read(b"/py/tx/a")
            c2.write(b"/py/tx/a", b"changed")
            c.write(b"/py/tx/a", v + b"x")
            inside = c.read(b"/py/tx/a")
            ok = c.commit()
            return [inside, ok, c.read(b"/py/tx/a")]
    rec("tx-conflict", tx_conflict)
    def tx_rm_conflict():
        with Client() as c2:
            c.write(b"/py/tx/r", b"v")
            c.transaction()
            v = c.read(b"/py/tx/r")
            c2.delete(b"/py/tx/r")
            c.write(b"/py/tx/other", v)
            ok = c.commit()
            return [ok, c.exists(b"/py/tx/other")]
    rec("tx-rm-conflict", tx_rm_conflict)
    def tx_isolation():
        with Client() as c2:
            c.transaction()
            c.write(b"/py/tx/iso", b"inside")
            outside = c2.read(b"/py/tx/iso", b"<none>")
            ok = c.commit()
            return [outside, ok, c2.read(b"/py/tx/iso")]
    rec("tx-isolation", tx_isolation)
    def tx_rm():
        c.transaction()
        c.delete(b"/py/tx/iso")
        e = c.exists(b"/py/tx/iso")
        ok = c.commit()
        return [e, ok, c.exists(b"/py/tx/iso")]
    rec("tx-rm", tx_rm)
    def tx_perms():
        c.transaction()
        c.set_perms(b"/py/tx/a", [b"n0", b"r9"])
        inside = c.get_perms(b"/py/tx/a")
        with Client() as c2:
            outside = c2.get_perms(b"/py/tx/a")
        ok = c.commit()
        return [inside, outside, ok, c.get_perms(b"/py/tx/a")]
    rec("tx-perms", tx_perms)
    def tx_errors():
        c.transaction()
        r = [errname(lambda: c.read(b"/py/none")), errname(lambda: c.delete(b"/py/none/x"))]
        r.append(c.commit())
        return r
    rec("tx-errors", tx_errors)
    def bad_tx():
        c.tx_id = 4242
        try:
            return errname(lambda: c.read(b"/py/a"))
        finally:
            c.tx_id = 0
    rec("bad-txid", bad_tx)
    rec("final-list", lambda: c.list(b"/py/tx"))
for o in out:
    print(json.dumps(o))
`;

const PY_BASIC_EXPECTED: unknown[] = [
  ["write", "ok", null],
  ["read", "ok", "hello"],
  ["read-default", "ok", "dflt"],
  ["read-missing", "err", "ENOENT"],
  ["read-dir", "ok", ""],
  ["write-empty", "ok", null],
  ["read-empty", "ok", ""],
  ["write-punct", "ok", null],
  ["read-punct", "ok", "a b=c;d,e:f/g'h\"i"],
  ["overwrite", "ok", "second"],
  ["mkdir", "ok", null],
  ["mkdir-again", "ok", null],
  ["read-mkdir", "ok", ""],
  ["mkdir-keeps-value", "ok", "second"],
  ["list", "ok", ["a", "empty", "punct", "d"]],
  ["list-leaf", "ok", []],
  ["list-missing", "err", "ENOENT"],
  ["exists", "ok", true],
  ["exists-no", "ok", false],
  ["rm", "ok", null],
  ["list-after-rm", "ok", []],
  ["exists-after-rm", "ok", false],
  ["rm-missing", "ok", null],
  ["rm-missing-parent", "err", "ENOENT"],
  ["rm-root", "err", "EINVAL"],
  ["relative-write", "ok", null],
  ["relative-read", "ok", "r"],
  ["relative-abs-read", "ok", "r"],
  [
    "walk",
    "ok",
    [
      ["/py", "", ["a", "empty", "punct", "d"]],
      ["/py/a", "second", []],
      ["/py/empty", "", []],
      ["/py/punct", "a b=c;d,e:f/g'h\"i", []],
      ["/py/d", "", []],
    ],
  ],
  ["get-perms", "ok", ["n0"]],
  ["set-perms", "ok", null],
  ["get-perms2", "ok", ["b0", "r1", "w2", "n3"]],
  ["set-perms-owner", "ok", null],
  ["get-perms-owner", "ok", ["r5", "b6"]],
  ["inherit", "ok", [["r5", "b6"], ["r5", "b6"]]],
  ["set-perms-missing", "err", "ENOENT"],
  ["set-perms-baddom", "err", "ENOENT"],
  ["get-perms-missing", "err", "ENOENT"],
  ["get-perms-root", "ok", ["n0"]],
  ["domain-path", "ok", "/local/domain/3"],
  ["introduced0", "ok", true],
  ["tx-commit", "ok", ["1", ["a"], true, "1"]],
  ["tx-abort", "ok", [true, false]],
  ["tx-conflict", "ok", ["1x", false, "changed"]],
  ["tx-rm-conflict", "ok", [false, false]],
  ["tx-isolation", "ok", ["<none>", true, "inside"]],
  ["tx-rm", "ok", [false, true, false]],
  ["tx-perms", "ok", [["n0", "r9"], ["n0"], true, ["n0", "r9"]]],
  ["tx-errors", "ok", ["ENOENT", "ENOENT", true]],
  ["bad-txid", "ok", "ENOENT"],
  ["final-list", "ok", ["a"]],
];

function parseJsonLines(r: RunResult, what: string): unknown[] {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as unknown);
}

/** Per-record comparison, so a failure names the operations that differ. */
function assertSameRecords(actual: unknown[], expected: unknown[], what: string): void {
  const diffs: string[] = [];
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    try {
      assert.deepEqual(actual[i], expected[i]);
    } catch {
      diffs.push(`  got:      ${JSON.stringify(actual[i])}\n  expected: ${JSON.stringify(expected[i])}`);
    }
  }
  assert.equal(diffs.length, 0, `${what}: ${diffs.length} result(s) differ:\n${diffs.join("\n")}`);
}

test("pyxs: reads, writes, mkdir/rm/ls, perms, transactions: expected results, same as C xenstored", { skip: pyxsUnavailable() ?? false }, async (t) => {
  await withPair(t, async ({ ts, cx, cxSkip }) => {
    const tsOut = parseJsonLines(await runPython(ts.socket, PY_PRELUDE + PY_BASIC), "pyxs script on tsxenstored");
    await t.test("tsxenstored gives the expected results", () => {
      assertSameRecords(tsOut, PY_BASIC_EXPECTED, "pyxs on tsxenstored");
    });
    await t.test("C xenstored gives the same results", { skip: cxSkip }, async () => {
      const cxOut = parseJsonLines(await runPython(cx!.socket, PY_PRELUDE + PY_BASIC), "pyxs script on cxenstored");
      assertSameRecords(tsOut, cxOut, "pyxs tsxenstored vs cxenstored");
    });
  });
});

const PY_COUNTER = String.raw`
import sys
from pyxs import Client
n = int(sys.argv[1])
retries = 0
with Client() as c:
    for i in range(n):
        while True:
            c.transaction()
            v = int(c.read(b"/counter/value", b"0"))
            c.write(b"/counter/value", str(v + 1).encode())
            c.write(b"/counter/last", sys.argv[2].encode())
            if c.commit():
                break
            retries += 1
print(retries)
`;

async function counterRun(socket: string, procs: number, perProc: number): Promise<{ value: string; retries: number }> {
  const init = runWith(socket, "xenstore-write", ["/counter/value", "0"]);
  assert.equal(init.status, 0, init.stderr);
  const results = await Promise.all(Array.from({ length: procs }, (_, i) => runPython(socket, PY_COUNTER, [String(perProc), `p${i}`], 40000)));
  let retries = 0;
  for (const r of results) {
    assert.equal(r.status, 0, `counter process failed:\n${r.stdout}\n${r.stderr}`);
    retries += Number(r.stdout.trim());
  }
  const final = runWith(socket, "xenstore-read", ["/counter/value"]);
  assert.equal(final.status, 0, final.stderr);
  return { value: final.stdout.trim(), retries };
}

test("pyxs: concurrent transactional increments with retry on EAGAIN give an exact count", { skip: pyxsUnavailable() ?? false, timeout: 55000 }, async (t) => {
  const PROCS = 4;
  const PER = 25;
  await withPair(t, async ({ ts, cx, cxSkip }) => {
    const r = await counterRun(ts.socket, PROCS, PER);
    t.diagnostic(`tsxenstored: ${r.retries} EAGAIN retries`);
    assert.equal(r.value, String(PROCS * PER));
    await t.test("C xenstored gives the same count", { skip: cxSkip }, async () => {
      const c = await counterRun(cx!.socket, PROCS, PER);
      t.diagnostic(`cxenstored: ${c.retries} EAGAIN retries`);
      assert.equal(c.value, r.value);
    });
  });
});

const PY_WATCH = String.raw`
with Client() as c:
    m = c.monitor()
    ev = []
    def drain(n):
        got = []
        for _ in range(n):
            try:
                p, t = m.events.get(timeout=3)
                got.append([p.decode(), t.decode()])
            except queue.Empty:
                got.append("timeout")
        return got
    def none_more():
        try:
            p, t = m.events.get(timeout=0.3)
            return [p.decode(), t.decode()]
        except queue.Empty:
            return "none"
    m.watch(b"/pw", b"tok1")
    ev.append(["initial", drain(1)])
    c.write(b"/pw/a", b"1")
    ev.append(["write-child", drain(1)])
    m.watch(b"/pw/a", b"tok2")
    ev.append(["initial2", drain(1)])
    c.write(b"/pw/a", b"2")
    ev.append(["write-both", drain(2)])
    c.write(b"/pw/a", b"2")
    ev.append(["same-value", drain(2)])
    c.mkdir(b"/pw/a")
    ev.append(["mkdir-existing", none_more()])
    c.mkdir(b"/pw/new/dir")
    ev.append(["mkdir-new", drain(1), none_more()])
    c.set_perms(b"/pw/a", [b"n0", b"r1"])
    ev.append(["perms", drain(2)])
    c.write(b"/other", b"x")
    ev.append(["unrelated", none_more()])
    c.transaction(); c.write(b"/pw/t1", b"1"); c.write(b"/pw/t2", b"2"); c.write(b"/pw/t1", b"3")
    ev.append(["in-tx", none_more()])
    c.commit()
    ev.append(["tx-commit", sorted(drain(2)), none_more()])
    c.transaction(); c.write(b"/pw/t3", b"1"); c.rollback()
    ev.append(["tx-abort", none_more()])
    with Client() as c2:
        c2.write(b"/pw/a", b"from-other-client")
    ev.append(["other-client", drain(2)])
    c.delete(b"/pw")
    ev.append(["rm", drain(2), none_more()])
    m.unwatch(b"/pw/a", b"tok2")
    c.write(b"/pw/a", b"3")
    ev.append(["after-unwatch", drain(1), none_more()])
    m.watch(b"relw", b"tok3")
    ev.append(["rel-initial", drain(1)])
    c.write(b"relw/x", b"1")
    ev.append(["rel-write", drain(1)])
    m.watch(b"@releaseDomain", b"tok4")
    ev.append(["special", drain(1)])
    m.watch(b"/pw", b"tok5")
    ev.append(["same-path-second-token", drain(1)])
    c.write(b"/pw/b", b"1")
    ev.append(["two-tokens", sorted(drain(2))])
    m.close()
    c.write(b"/pw/a", b"4")
    ev.append(["closed", none_more()])
    for e in ev:
        print(json.dumps(e))
`;

const PY_WATCH_EXPECTED: unknown[] = [
  ["initial", [["/pw", "tok1"]]],
  ["write-child", [["/pw/a", "tok1"]]],
  ["initial2", [["/pw/a", "tok2"]]],
  ["write-both", [["/pw/a", "tok1"], ["/pw/a", "tok2"]]],
  ["same-value", [["/pw/a", "tok1"], ["/pw/a", "tok2"]]],
  ["mkdir-existing", "none"],
  ["mkdir-new", [["/pw/new/dir", "tok1"]], "none"],
  ["perms", [["/pw/a", "tok1"], ["/pw/a", "tok2"]]],
  ["unrelated", "none"],
  ["in-tx", "none"],
  ["tx-commit", [["/pw/t1", "tok1"], ["/pw/t2", "tok1"]], "none"],
  ["tx-abort", "none"],
  ["other-client", [["/pw/a", "tok1"], ["/pw/a", "tok2"]]],
  ["rm", [["/pw/a", "tok2"], ["/pw", "tok1"]], "none"],
  ["after-unwatch", [["/pw/a", "tok1"]], "none"],
  ["rel-initial", [["relw", "tok3"]]],
  ["rel-write", [["relw/x", "tok3"]]],
  ["special", [["@releaseDomain", "tok4"]]],
  ["same-path-second-token", [["/pw", "tok5"]]],
  ["two-tokens", [["/pw/b", "tok1"], ["/pw/b", "tok5"]]],
  ["closed", "none"],
];

test("pyxs: Monitor watches receive the expected events, same as C xenstored", { skip: pyxsUnavailable() ?? false }, async (t) => {
  await withPair(t, async ({ ts, cx, cxSkip }) => {
    const tsOut = parseJsonLines(await runPython(ts.socket, PY_PRELUDE + PY_WATCH), "pyxs watch script on tsxenstored");
    await t.test("tsxenstored sends the expected events", () => {
      assertSameRecords(tsOut, PY_WATCH_EXPECTED, "pyxs watches on tsxenstored");
    });
    await t.test("C xenstored sends the same events", { skip: cxSkip }, async () => {
      const cxOut = parseJsonLines(await runPython(cx!.socket, PY_PRELUDE + PY_WATCH), "pyxs watch script on cxenstored");
      assertSameRecords(tsOut, cxOut, "pyxs watches tsxenstored vs cxenstored");
    });
  });
});

// Domain introduction and release through pyxs (RELEASE sent raw: pyxs only
// allows it where /proc/xen says we are the control domain).
const PY_DOMAINS = String.raw`
from pyxs._internal import Op, NUL
def en(f):
    try:
        return conv(f())
    except PyXSError as e:
        return errno.errorcode.get(e.args[0], str(e.args[0]))
with Client() as c:
    m = c.monitor()
    def ev():
        got = []
        while True:
            try:
                p, t = m.events.get(timeout=0.3)
                got.append([p.decode(), t.decode()])
            except queue.Empty:
                return got
    m.watch(b"@introduceDomain", b"intro")
    m.watch(b"@releaseDomain", b"rel")
    out.append(["initial", ev()])
    out.append(["introduced-before", en(lambda: c.is_domain_introduced(5))])
    out.append(["introduce", en(lambda: c.introduce_domain(5, 1234, 7)), ev()])
    out.append(["introduced", en(lambda: c.is_domain_introduced(5))])
    out.append(["introduce-again", en(lambda: c.introduce_domain(5, 1234, 7)), ev()])
    out.append(["domain-path", en(lambda: c.get_domain_path(5))])
    c.write(b"/local/domain/5/data/x", b"1")
    c.set_perms(b"/local/domain/5", [b"n5", b"r0"])
    c.write(b"/vm/5/name", b"guest")
    c.set_perms(b"/vm/5", [b"b5"])
    c.write(b"/shared/a", b"1")
    c.set_perms(b"/shared/a", [b"n0", b"r5"])
    m.watch(b"/local/domain/5", b"d5")
    m.watch(b"/vm", b"vm")
    out.append(["watch-initial", ev()])
    out.append(["release", en(lambda: c.execute_command(Op.RELEASE, b"5" + NUL)), ev()])
    out.append(["introduced-after", en(lambda: c.is_domain_introduced(5))])
    out.append(["domain-nodes-after", en(lambda: c.exists(b"/local/domain/5")), en(lambda: c.exists(b"/local/domain/5/data/x"))])
    out.append(["vm-nodes-after", en(lambda: c.exists(b"/vm/5")), en(lambda: c.list(b"/vm"))])
    out.append(["acl-entry-after", en(lambda: c.get_perms(b"/shared/a"))])
    out.append(["release-again", en(lambda: c.execute_command(Op.RELEASE, b"5" + NUL))])
    out.append(["release-0", en(lambda: c.execute_command(Op.RELEASE, b"0" + NUL))])
    out.append(["introduce-missing-domain", en(lambda: c.introduce_domain(40000, 1234, 7))])
for o in out:
    print(json.dumps(o))
`;

/** What C xenstored 4.17 answers: RELEASE deletes every node the domain owns, with their subtrees. */
const PY_DOMAINS_EXPECTED: unknown[] = [
  ["initial", [["@introduceDomain", "intro"], ["@releaseDomain", "rel"]]],
  ["introduced-before", false],
  ["introduce", null, [["@introduceDomain", "intro"]]],
  ["introduced", true],
  ["introduce-again", null, []],
  ["domain-path", "/local/domain/5"],
  ["watch-initial", [["/local/domain/5", "d5"], ["/vm", "vm"]]],
  ["release", "OK", [["/local/domain/5", "d5"], ["/vm/5", "vm"], ["@releaseDomain", "rel"]]],
  ["introduced-after", false],
  ["domain-nodes-after", false, false],
  ["vm-nodes-after", false, []],
  ["acl-entry-after", ["n0", "r5"]],
  ["release-again", "ENOENT"],
  ["release-0", "EINVAL"],
  ["introduce-missing-domain", "EINVAL"],
];

test("pyxs: introduce and release a domain; release deletes the domain's nodes, as in C xenstored", { skip: pyxsUnavailable() ?? false }, async (t) => {
  await withPair(t, async ({ ts, cx, cxSkip }) => {
    const tsOut = parseJsonLines(await runPython(ts.socket, PY_PRELUDE + PY_DOMAINS), "pyxs domain script on tsxenstored");
    await t.test("tsxenstored gives the expected results", () => {
      assertSameRecords(tsOut, PY_DOMAINS_EXPECTED, "pyxs domains on tsxenstored");
    });
    await t.test("the node ownership tally is still consistent (xenstore-control check)", { skip: cliUnavailable() ?? false }, () => {
      // `check` recounts which domain owns how many nodes (and repairs the tally);
      // `quota 5` must read the same before and after it.
      const before = runWith(ts.socket, XENSTORE_CONTROL, ["quota", "5"]);
      const check = runWith(ts.socket, XENSTORE_CONTROL, ["check"]);
      const afterCheck = runWith(ts.socket, XENSTORE_CONTROL, ["quota", "5"]);
      assert.equal(check.stdout, "OK\n");
      assert.deepEqual(before, afterCheck, "quota 5 changed when `check` recounted node ownership");
    });
    await t.test("C xenstored gives the same results", { skip: cxSkip }, async () => {
      const cxOut = parseJsonLines(await runPython(cx!.socket, PY_PRELUDE + PY_DOMAINS), "pyxs domain script on cxenstored");
      assertSameRecords(tsOut, cxOut, "pyxs domains tsxenstored vs cxenstored");
    });
  });
});
