/**
 * `tsxs read|write|ls|list|exists|rm|chmod|watch` against the upstream
 * xenstore-* tools (Debian's xenstore-utils 4.17) on the same tree of a
 * real daemon (bin/tsxenstored): identical stdout and exit status, the
 * same stderr with `tsxs VERB` for `xenstore-VERB`, the same tree after the
 * modifying verbs; the exact --json outputs; one run against cxenstored.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { XenStoreClient } from "../src/client/index.js";
import { cliUnavailable, startAsync } from "./helpers/clients.js";
import { peersUnavailable, ROOT, runWith, startPeer, startTsxenstored, type RunningDaemon } from "./helpers/daemon.js";

const TSXS = join(ROOT, "bin/tsxs");
const LONG = "L".repeat(3000);

let d: RunningDaemon;
let xs: XenStoreClient;

/** The tree every comparison starts from (rebuilt before each modifying case). */
async function build(client: XenStoreClient): Promise<void> {
  await client.rm("/t").catch(() => undefined);
  await client.rm("/local/domain/0/rel").catch(() => undefined);
  const w = (p: string, v: string | Buffer): Promise<void> => client.write(p, v);
  await w("/t/a/b", "hello");
  await w("/t/a/c", "with space");
  await w("/t/a/d/e", "x\ny");
  await w("/t/a/tab", "tab\there \\ back");
  await w("/t/a/bin", Buffer.from([0x00, 0x01, 0x07, 0x08, 0x7f, 0xc3, 0xa9, 0xff]));
  await w("/t/a/utf8", "h\u00e9llo \u2603");
  await w("/t/long", LONG);
  await w("/t/names/n", "v".repeat(100));
  await w(`/t/names/${"n".repeat(80)}`, "short");
  await w(`/t/names/${"m".repeat(60)}`, "v".repeat(20));
  await w("/t/names/deep/er/and/deeper", "x");
  await w("/t/tidy/v", "val");
  await w("/t/tidy/v/c", "1");
  await w("/t/tidy/e/c", "1");
  await w("/t/tidy/e/d", "1");
  await w("/t/x", "2");
  await w("/t/y", "3");
  await w("/t/@odd-_name", "odd");
  await w("/local/domain/0/rel/x", "1");
  await client.setPerms("/t/a/c", ["r5", "w6"]);
  await client.setPerms("/t/a/d", ["b7", "n0"]);
  await client.setPerms("/t/a/d/e", ["n3", "r4", "w5", "b6"]);
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function tsxs(socket: string, args: string[]): Run {
  return runWith(socket, process.execPath, [TSXS, ...args]);
}

/** Our stderr in upstream's words: `tsxs VERB` → `xenstore-VERB`, usage without our --json. */
function asUpstream(verb: string, stderr: string): string {
  return stderr.replaceAll(`tsxs ${verb}`, `xenstore-${verb}`).replaceAll(" [--json]", "");
}

/** Both tools on the same tree; for modifying verbs the tree afterwards too. */
async function compare(verb: string, args: string[], modifies = false): Promise<Run> {
  const snapshot = (): string => runWith(d.socket, "xenstore-ls", ["-f", "-p", "/"]).stdout;
  if (modifies) await build(xs);
  const theirs = runWith(d.socket, `xenstore-${verb}`, args);
  const theirTree = modifies ? snapshot() : "";
  if (modifies) await build(xs);
  const ours = tsxs(d.socket, [verb, ...args]);
  const ourTree = modifies ? snapshot() : "";
  const what = `tsxs ${verb} ${args.join(" ")}`;
  assert.deepEqual({ status: ours.status, stdout: ours.stdout, stderr: asUpstream(verb, ours.stderr) }, theirs, what);
  assert.equal(ourTree, theirTree, `${what}: the tree afterwards`);
  return ours;
}

const skip = cliUnavailable();

before(async () => {
  d = await startTsxenstored();
  xs = await XenStoreClient.connect(d.socket);
  await build(xs);
});

after(async () => {
  xs?.close();
  await d?.stop();
});

test("tsxs read, list, exists: as xenstore-read, -list, -exists (escapes, -p, -R, relative paths, errors, usage)", { skip: skip ?? false }, async () => {
  const cases: [string, string[]][] = [
    ["read", ["/t/a/b"]],
    ["read", ["/t/a/b", "/t/a/c", "/t/a/d/e", "/t/a/tab", "/t/a/bin", "/t/a/utf8", "/t/long"]],
    ["read", ["-p", "/t/a/b", "/t/a/bin"]],
    ["read", ["-R", "/t/a/bin"]],
    ["read", ["-p", "-R", "/t/a/b"]],
    ["read", ["-s", "/t/a"]],
    ["read", ["rel/x"]],
    ["read", ["/t/a/b", "/t/nope", "/t/a/c"]],
    ["read", [""]],
    ["read", ["/t/a/"]],
    ["read", []],
    ["read", ["-h"]],
    ["read", ["-f", "/t/a/b"]],
    ["read", ["-z", "/t/a/b"]],
    ["read", ["--pre", "/t/a/b"]],
    ["read", ["--raw=1", "/t/a/b"]],
    ["read", ["/t/a/b", "-p"]],
    ["list", ["/t/a"]],
    ["list", ["-p", "/t/a", "/t/names"]],
    ["list", ["-p", "/"]],
    ["list", ["/t/a", "/t/nope", "/t"]],
    ["list", ["/t/a/b"]],
    ["list", []],
    ["list", ["-R", "/t"]],
    ["exists", ["/t/a"]],
    ["exists", ["/t/a", "/t/nope"]],
    ["exists", [""]],
    ["exists", ["-p", "/t/a"]],
  ];
  for (const [verb, args] of cases) await compare(verb, args);
});

test("tsxs ls: as xenstore-ls (-f, -p, truncation at 80 columns, padding, depth, several paths, errors)", { skip: skip ?? false }, async () => {
  const cases: string[][] = [
    ["/t"],
    ["-f", "/t"],
    ["-p", "/t"],
    ["-f", "-p", "/t"],
    ["-fp", "/t/a"],
    ["-s", "/t/names"],
    [],
    ["-f"],
    ["rel"],
    ["-f", "rel"],
    ["/t/nope"],
    ["/t/a", "/t/nope"],
    [""],
    ["/t/a/"],
    ["/t/a/b"],
    ["-R", "/t"],
    ["-h"],
  ];
  for (const args of cases) await compare("ls", args);
});

test("tsxs write, rm, chmod: as xenstore-write, -rm, -chmod (same tree afterwards; all or nothing; -t, -u, -r)", { skip: skip ?? false }, async () => {
  const cases: [string, string[]][] = [
    ["write", ["/t/n", "1"]],
    ["write", ["/t/n", "a\\x41\\tb\\\\c\\101\\777\\x\\q", "/t/o", "end\\"]],
    ["write", ["-R", "/t/n", "a\\x41"]],
    ["write", ["/t/n", "1", "/t/bad/", "2"]],
    ["write", ["/t/n"]],
    ["write", ["/t/n", "-5"]],
    ["write", ["--", "/t/n", "-5"]],
    ["write", ["rel/y", "h\u00e9"]],
    ["rm", ["/t/x"]],
    ["rm", ["/t/x", "/nope/a", "/t/y"]],
    ["rm", ["/t/zz"]],
    ["rm", ["-t", "/t/tidy/v/c"]],
    ["rm", ["-t", "/t/tidy/e/c"]],
    ["rm", ["-t", "/t/names/deep/er/and/deeper"]],
    ["rm", ["-t", "rel/x"]],
    ["rm", ["/"]],
    ["rm", []],
    ["chmod", ["/t/a", "r5"]],
    ["chmod", ["/t/a", "n1", "r2", "w3", "b4"]],
    ["chmod", ["-r", "/t/a", "b9"]],
    ["chmod", ["-u", "/t/a/d/e", "r7"]],
    ["chmod", ["-u", "-r", "/t/a/d", "n8", "w1"]],
    ["chmod", ["-u", "rel/x", "r4"]],
    ["chmod", ["/t/a", "x1"]],
    ["chmod", ["/t/a", "r", "w-1"]],
    ["chmod", ["/t/a", "r1x", "r0x10"]],
    ["chmod", ["/t/a"]],
    ["chmod", ["/t/nope", "r1"]],
    ["chmod", ["-r", "/t/nope", "r1"]],
    ["chmod", ["-t", "/t/a", "r1"]],
  ];
  for (const [verb, args] of cases) await compare(verb, args, true);
  await build(xs);
});

test("tsxs watch: as xenstore-watch (-n, several keys, a bad key), and --json lines", { skip: skip ?? false }, async () => {
  await xs.write("/w/a", "0");
  const run = async (cmd: string, args: string[]): Promise<Run> => {
    const p = startAsync(d.socket, cmd, args);
    await p.lines(2); // each watch's first event
    await xs.write("/w/a/b", "1");
    await xs.write("/v/c", "2");
    await xs.rm("/w/a");
    const r = await p.done;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const theirs = await run("xenstore-watch", ["-n", "5", "/w", "/v"]);
  assert.deepEqual(theirs, { status: 0, stdout: "/w\n/v\n/w/a/b\n/v/c\n/w/a\n", stderr: "" });
  assert.deepEqual(await run(process.execPath, [TSXS, "watch", "-n", "5", "/w", "/v"]), theirs);
  await xs.write("/w/a", "0");
  assert.deepEqual(await run(process.execPath, [TSXS, "watch", "--json", "--number", "5", "/w", "/v"]), {
    status: 0,
    stdout: ['{"path":"/w","watch":"/w"}', '{"path":"/v","watch":"/v"}', '{"path":"/w/a/b","watch":"/w"}', '{"path":"/v/c","watch":"/v"}', '{"path":"/w/a","watch":"/w"}', ""].join("\n"),
    stderr: "",
  });
  const bad = runWith(d.socket, "xenstore-watch", ["-n", "1", "bad//"]);
  assert.deepEqual(bad, { status: 1, stdout: "", stderr: "xenstore-watch: Unable to add watch on bad//\n\n" });
  const ours = tsxs(d.socket, ["watch", "-n", "1", "bad//"]);
  assert.deepEqual({ ...ours, stderr: asUpstream("watch", ours.stderr) }, bad);
  for (const args of [["-n", "0", "/w"], [], ["-p", "/w"]]) await compare("watch", args);
});

test("tsxs verbs --json: the exact documents, with `error` on failure", async () => {
  await build(xs);
  const json = (args: string[]): { status: number; doc: unknown; stderr: string } => {
    const r = tsxs(d.socket, [...args, "--json"]);
    // runWith reads the output as latin1 (bytes); JSON is UTF-8.
    return { status: r.status, doc: JSON.parse(Buffer.from(r.stdout, "latin1").toString("utf8")), stderr: r.stderr };
  };
  assert.deepEqual(json(["read", "/t/a/b", "/t/a/bin", "/t/a/utf8", "/t/nope", "/t/a/c"]), {
    status: 1,
    doc: {
      values: [
        { path: "/t/a/b", value: "hello" },
        { path: "/t/a/bin", value: "AAEHCH/Dqf8=", encoding: "base64" },
        { path: "/t/a/utf8", value: "h\u00e9llo \u2603" },
      ],
      error: { path: "/t/nope", errno: "ENOENT", message: "couldn't read path /t/nope" },
    },
    stderr: "tsxs read: couldn't read path /t/nope\n",
  });
  assert.deepEqual(json(["ls", "-p", "/t/a/d"]), { status: 0, doc: { nodes: [{ path: "/t/a/d/e", value: "x\ny", perms: ["n3", "r4", "w5", "b6"] }] }, stderr: "" });
  assert.deepEqual(json(["ls", "/t/tidy"]), {
    status: 0,
    doc: {
      nodes: [
        { path: "/t/tidy/v", value: "val" },
        { path: "/t/tidy/v/c", value: "1" },
        { path: "/t/tidy/e", value: "" },
        { path: "/t/tidy/e/c", value: "1" },
        { path: "/t/tidy/e/d", value: "1" },
      ],
    },
    stderr: "",
  });
  assert.deepEqual(json(["ls", "/t/nope"]), {
    status: 1,
    doc: { nodes: [], error: { path: "/t/nope", errno: "ENOENT", message: "xs_directory (/t/nope): No such file or directory" } },
    stderr: "tsxs ls: xs_directory (/t/nope): No such file or directory\n",
  });
  assert.deepEqual(json(["list", "/t/a/d", "/t/tidy"]), { status: 0, doc: { lists: [{ path: "/t/a/d", children: ["e"] }, { path: "/t/tidy", children: ["v", "e"] }] }, stderr: "" });
  assert.deepEqual(json(["exists", "/t/a", "/t/nope", "bad//"]), {
    status: 1,
    doc: { exists: [{ path: "/t/a", exists: true }, { path: "/t/nope", exists: false }, { path: "bad//", exists: false, errno: "EINVAL" }] },
    stderr: "",
  });
  assert.deepEqual(json(["write", "/t/j", "a\\xff", "/t/k", "\\x41"]), {
    status: 0,
    doc: { written: [{ path: "/t/j", value: "Yf8=", encoding: "base64" }, { path: "/t/k", value: "A" }] },
    stderr: "",
  });
  assert.deepEqual(json(["rm", "-t", "/t/tidy/e/c", "/t/tidy/e/d"]), { status: 0, doc: { removed: ["/t/tidy/e/c", "/t/tidy/e/d", "/t/tidy/e"] }, stderr: "" });
  assert.deepEqual(json(["chmod", "-u", "/t/a/d", "b3"]), { status: 0, doc: { perms: ["b3"], changed: ["/t/a/d", "/t/a", "/t"] }, stderr: "" });
  assert.deepEqual(json(["chmod", "/t/nope", "b3"]), {
    status: 1,
    doc: { perms: ["b3"], changed: [], error: { path: "/t/nope", errno: "ENOENT", message: "Error occurred setting permissions on '/t/nope': No such file or directory" } },
    stderr: "tsxs chmod: Error occurred setting permissions on '/t/nope': No such file or directory\n",
  });
  const gone = runWith("/nonexistent/socket", process.execPath, [TSXS, "read", "--json", "/t"]);
  assert.deepEqual(gone, { status: 1, stdout: '{"error":{"errno":"ENOENT","message":"cannot reach xenstored"}}\n', stderr: "tsxs read: xs_open: No such file or directory\n" });
  await build(xs);
});

test("tsxs finds the daemon as libxenstore does: XENSTORED_PATH, else XENSTORED_RUNDIR/socket", () => {
  const env = { ...process.env };
  delete env.XENSTORED_PATH;
  const r = spawnSync(process.execPath, [TSXS, "read", "/t/a/b"], { env: { ...env, XENSTORED_RUNDIR: d.dir }, encoding: "utf8" });
  assert.deepEqual({ status: r.status, stdout: r.stdout, stderr: r.stderr }, { status: 0, stdout: "hello\n", stderr: "" });
});

test("tsxs verbs against cxenstored: the same answers as the upstream tools there", { skip: skip ?? peersUnavailable("cxenstored") ?? false }, async () => {
  const cx = await startPeer("cxenstored");
  const c = await XenStoreClient.connect(cx.socket);
  try {
    await build(c);
    for (const [verb, args] of [
      ["ls", ["-p", "/t"]],
      ["ls", ["-f", "/t/names"]],
      ["read", ["-p", "/t/a/bin", "/t/a/tab", "/t/long"]],
      ["list", ["-p", "/t/a"]],
      ["exists", ["/t/a", "/t/nope"]],
    ] as [string, string[]][]) {
      const theirs = runWith(cx.socket, `xenstore-${verb}`, args);
      const ours = tsxs(cx.socket, [verb, ...args]);
      assert.deepEqual({ ...ours, stderr: asUpstream(verb, ours.stderr) }, theirs, `${verb} ${args.join(" ")} on cx`);
    }
    const ours = tsxs(cx.socket, ["chmod", "-u", "-r", "/t/a/d", "b2"]);
    assert.deepEqual(ours, { status: 0, stdout: "", stderr: "" });
    assert.equal(runWith(cx.socket, "xenstore-ls", ["-f", "-p", "/t/a"]).stdout.split("\n").filter((l) => l.endsWith("(b2)")).length, 2);
    assert.deepEqual(tsxs(cx.socket, ["rm", "-t", "/t/tidy/e/c", "/t/tidy/e/d"]), { status: 0, stdout: "", stderr: "" });
    assert.deepEqual(runWith(cx.socket, "xenstore-list", ["/t/tidy"]), { status: 0, stdout: "v\n", stderr: "" });
  } finally {
    c.close();
    await cx.stop();
  }
});
