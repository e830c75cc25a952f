/**
 * `tsxs history` (bin/tsxs) and the upstream `xenstore-control history`
 * against a real daemon (bin/tsxenstored on a temporary socket): log, diff,
 * show with their `more:` pages followed, export into a git repository,
 * exit codes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { XenStoreClient } from "../src/client/index.js";
import { ROOT, XEN_BIN, runWith, startTsxenstored, type RunningDaemon } from "./helpers/daemon.js";

const TSXS = join(ROOT, "bin/tsxs");
const XENSTORE_CONTROL = join(XEN_BIN, "xenstore-control");

/** A fresh daemon (so revisions start at 0) and a client of it, both gone after the test. */
async function daemon(t: TestContext): Promise<{ d: RunningDaemon; xs: XenStoreClient }> {
  const d = await startTsxenstored();
  const xs = await XenStoreClient.connect(d.socket);
  t.after(async () => {
    xs.close();
    await d.stop();
  });
  return { d, xs };
}

function tsxs(d: RunningDaemon, ...args: string[]): { status: number; stdout: string; stderr: string } {
  return runWith(d.socket, process.execPath, [TSXS, ...args]);
}

interface LogCommit {
  revision: number;
  time: number;
  date: string;
  op: string;
  domain: number;
  connection: number;
  transaction: number;
  changes: { kind: string; path: string }[];
}

test("tsxs history log: text and --json, the same lines xenstore-control history log shows", async (t) => {
  const { d, xs } = await daemon(t);
  await xs.write("/h/a", "1");
  await xs.write("/h/a", "2");
  await xs.setPerms("/h/a", ["n0", "r3"]);
  await xs.write("/elsewhere", "x");
  await xs.rm("/h");
  const json = tsxs(d, "history", "log", "/h", "--json");
  assert.equal(json.status, 0, json.stderr);
  const { commits } = JSON.parse(json.stdout) as { commits: LogCommit[] };
  const conn = commits[0]!.connection;
  assert.ok(conn > 0);
  assert.deepEqual(
    commits.map(({ time: _t, date: _d, ...c }) => c),
    [
      { revision: 5, op: "RM", domain: 0, connection: conn, transaction: 0, changes: [{ kind: "removed", path: "/h/a" }, { kind: "removed", path: "/h" }] },
      { revision: 3, op: "SET_PERMS", domain: 0, connection: conn, transaction: 0, changes: [{ kind: "perms", path: "/h/a" }] },
      { revision: 2, op: "WRITE", domain: 0, connection: conn, transaction: 0, changes: [{ kind: "value", path: "/h/a" }] },
      { revision: 1, op: "WRITE", domain: 0, connection: conn, transaction: 0, changes: [{ kind: "created", path: "/h" }, { kind: "created", path: "/h/a" }] },
    ],
  );
  for (const c of commits) assert.equal(c.date, new Date(c.time).toISOString());
  const title = (c: LogCommit): string => `r${c.revision} ${c.date} ${c.op} by domain 0 (connection ${conn}, transaction 0)`;
  const [r5, r3, r2, r1] = commits as [LogCommit, LogCommit, LogCommit, LogCommit];
  const text = `${title(r5)}\n  removed /h/a\n  removed /h\n${title(r3)}\n  perms   /h/a\n${title(r2)}\n  value   /h/a\n${title(r1)}\n  created /h\n  created /h/a\n`;
  assert.deepEqual(tsxs(d, "history", "log", "/h"), { status: 0, stdout: text, stderr: "" });
  assert.equal(tsxs(d, "history", "log", "--since", r3.date).stdout.split("\n").filter((l) => l.startsWith("r")).length, 3);
  assert.equal(tsxs(d, "history", "log", "--domain", "7").stdout, "");
  if (!existsSync(XENSTORE_CONTROL)) return t.skip(`${XENSTORE_CONTROL} not installed`);
  // The upstream tool passes each argument as a NUL-separated string and prints the reply.
  assert.deepEqual(runWith(d.socket, XENSTORE_CONTROL, ["history", "log", "/h"]), { status: 0, stdout: text, stderr: "" });
});

test("tsxs history log follows `more:` pages to the end", async (t) => {
  const { d, xs } = await daemon(t);
  await Promise.all(Array.from({ length: 300 }, (_, i) => xs.write(`/many/n${i}`, String(i))));
  const text = tsxs(d, "history", "log", "/many");
  assert.equal(text.status, 0, text.stderr);
  const titles = text.stdout.split("\n").filter((l) => l.startsWith("r"));
  assert.deepEqual(titles.map((l) => Number(/^r(\d+) /.exec(l)![1])), Array.from({ length: 300 }, (_, i) => 300 - i));
  assert.ok(!text.stdout.includes("more:"));
  const json = JSON.parse(tsxs(d, "history", "log", "--json", "--limit", "250").stdout) as { commits: LogCommit[] };
  assert.deepEqual(json.commits.map((c) => c.revision), Array.from({ length: 250 }, (_, i) => 300 - i));
  // The daemon's own pages hold a few dozen commits each: what xenstore-control shows is the first.
  if (!existsSync(XENSTORE_CONTROL)) return t.skip(`${XENSTORE_CONTROL} not installed`);
  const page = runWith(d.socket, XENSTORE_CONTROL, ["history", "log", "/many"]);
  assert.equal(page.status, 0);
  assert.match(page.stdout, /\nmore: --before \d+\n$/);
  assert.ok(text.stdout.startsWith(page.stdout.slice(0, page.stdout.lastIndexOf("more:"))));
});

test("tsxs history diff and show: exact text and --json", async (t) => {
  const { d, xs } = await daemon(t);
  await xs.write("/vm/name", "guest");
  await xs.write("/vm/dev/0", "disk");
  await xs.write("/vm/name", "renamed \"one\"");
  await xs.rm("/vm/dev");
  await xs.setPerms("/vm", ["n0", "b5"]);
  assert.deepEqual(tsxs(d, "history", "diff", "2", "5"), {
    status: 0,
    stdout: 'changed /vm (n0) -> (n0,b5)\nremoved /vm/dev "" (n0)\nremoved /vm/dev/0 "disk" (n0)\nchanged /vm/name "guest" -> "renamed \\"one\\""\n',
    stderr: "",
  });
  assert.deepEqual(JSON.parse(tsxs(d, "history", "diff", "0", "1", "--json").stdout), {
    from: 0,
    to: 1,
    path: "/",
    changes: [
      { path: "/vm", kind: "added", before: null, after: { value: "", perms: ["n0"] } },
      { path: "/vm/name", kind: "added", before: null, after: { value: "guest", perms: ["n0"] } },
    ],
  });
  assert.deepEqual(tsxs(d, "history", "show", "3", "/vm"), { status: 0, stdout: '/vm at r3\nvalue ""\nperms n0\nchild dev\nchild name\n', stderr: "" });
  assert.deepEqual(tsxs(d, "history", "show", "5", "/vm/dev"), { status: 0, stdout: "/vm/dev at r5: not there\n", stderr: "" });
  assert.deepEqual(JSON.parse(tsxs(d, "history", "show", "5", "/vm", "--json").stdout), { revision: 5, path: "/vm", exists: true, value: "", perms: ["n0", "b5"], children: ["name"] });
  // Children over several pages come back as one list.
  await Promise.all(Array.from({ length: 500 }, (_, i) => xs.write(`/wide/c${i}`, "")));
  const wide = JSON.parse(tsxs(d, "history", "show", "505", "/wide", "--json").stdout) as { children: string[] };
  assert.deepEqual(new Set(wide.children), new Set(Array.from({ length: 500 }, (_, i) => `c${i}`)));
  assert.equal(wide.children.length, 500);
});

function git(dir: string, ...args: string[]): string {
  const r = spawnSync("git", ["-C", dir, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test("tsxs history export --git DIR: a repository with one commit per revision, the newest state checked out; again after more changes", async (t) => {
  const { d, xs } = await daemon(t);
  const parent = mkdtempSync(join(tmpdir(), "tsxs-git-"));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const repo = join(parent, "store");
  await xs.write("/vm/1/name", "one");
  await xs.setPerms("/vm/1/name", ["n1", "r0"]);
  const first = tsxs(d, "history", "export", "--git", repo);
  assert.deepEqual(first, { status: 0, stdout: `exported r0..r2 into ${repo}\n`, stderr: "" });
  const subjects = git(repo, "log", "--format=%an|%s", "main").split("\n").filter(Boolean);
  assert.equal(subjects.length, 3);
  assert.match(subjects[0]!, /^domain 0\|r2 SET_PERMS by domain 0 \(connection \d+, transaction 0\)$/);
  assert.match(subjects[1]!, /^domain 0\|r1 WRITE by domain 0 \(connection \d+, transaction 0\)$/);
  assert.equal(subjects[2], "tsxenstored|r0 the tree where the retained history begins");
  assert.equal(git(repo, "show", "HEAD~1:vm/1/name/.perms"), "n0\n");
  assert.equal(readFileSync(join(repo, "vm/1/name/.value"), "utf8"), "one", "the working tree shows the newest state");
  assert.equal(readFileSync(join(repo, "vm/1/name/.perms"), "utf8"), "n1\nr0\n");
  assert.equal(git(repo, "status", "--porcelain"), "");
  assert.deepEqual(readdirSync(parent), ["store"], "the temporary stream is gone");
  // Exporting again replaces the branch with the history as it is now.
  await xs.rm("/vm");
  assert.equal(tsxs(d, "history", "export", "--git", repo).status, 0);
  assert.equal(git(repo, "log", "--format=%s", "-1"), `r3 RM by domain 0 (connection ${/connection (\d+)/.exec(subjects[0]!)![1]}, transaction 0)\n`);
  assert.equal(existsSync(join(repo, "vm")), false);
  assert.equal(git(repo, "rev-list", "--count", "main"), "4\n");
});

test("tsxs exit codes: 2 for bad usage, 1 for what the daemon refuses (a revision not retained is named) or no daemon", async (t) => {
  const { d } = await daemon(t);
  const usage = tsxs(d, "history", "frobnicate");
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /^Usage:\n {2}tsxs history log/);
  assert.equal(tsxs(d, "history", "diff", "1").status, 2);
  assert.equal(tsxs(d, "history", "log", "--nope").status, 2);
  assert.equal(tsxs(d, "history", "export").status, 2);
  assert.deepEqual(tsxs(d, "history", "show", "9", "/"), { status: 1, stdout: "", stderr: "tsxs: revision 9 is not retained (retained: r0..r0)\n" });
  assert.deepEqual(tsxs(d, "history", "log", "--since", "never"), { status: 1, stdout: "", stderr: "tsxs: the daemon answered EINVAL (bad arguments)\n" });
  const gone = runWith(join(d.dir, "no-socket"), process.execPath, [TSXS, "history", "log"]);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /^tsxs: cannot reach xenstored at .*no-socket: /);
});
