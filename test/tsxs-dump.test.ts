/**
 * `tsxs dump` and `tsxs restore` against real daemons (the round trip into
 * a fresh daemon, bad files, batches), and unit tests of what the verbs
 * share: the value escapes, option parsing, ls lines and the progress line.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { XenStoreClient } from "../src/client/index.js";
import { checkDump, DumpError } from "../src/cli/dump.js";
import { sanitise, unsanitise } from "../src/cli/escape.js";
import { getopt } from "../src/cli/getopt.js";
import { Progress } from "../src/cli/progress.js";
import { lsLine } from "../src/cli/xenstore.js";
import { ROOT, runWith, startTsxenstored, type RunningDaemon } from "./helpers/daemon.js";

const TSXS = join(ROOT, "bin/tsxs");

function tsxs(d: RunningDaemon, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = runWith(d.socket, process.execPath, [TSXS, ...args], input === undefined ? undefined : Buffer.from(input, "utf8").toString("latin1"));
  // runWith reads the output as latin1 (bytes); ours is UTF-8 text.
  return { ...r, stdout: Buffer.from(r.stdout, "latin1").toString("utf8") };
}

async function daemon(t: TestContext): Promise<{ d: RunningDaemon; xs: XenStoreClient }> {
  const d = await startTsxenstored(["--durability", "off"]);
  const xs = await XenStoreClient.connect(d.socket);
  t.after(async () => {
    xs.close();
    await d.stop();
  });
  return { d, xs };
}

function tempFile(t: TestContext, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tsxs-dump-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

test("tsxs dump: the documented JSON (values as UTF-8 or base64, ACL letters, children in order)", async (t) => {
  const { d, xs } = await daemon(t);
  await xs.write("/vm/name", "h\u00e9 \"q\"\n");
  await xs.write("/vm/bin", Buffer.from([0xff, 0x00, 0x41]));
  await xs.write("/vm/dev/0", "");
  await xs.setPerms("/vm", ["b5", "r0"]);
  await xs.setPerms("/vm/dev/0", ["n1", "w2"]);
  const r = tsxs(d, ["dump", "/vm", "--compact"]);
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
  const n = (name: string, value: string, perms: string[], children: unknown[] = [], encoding?: string): unknown =>
    encoding ? { name, value, encoding, perms, children } : { name, value, perms, children };
  const expected = {
    format: "tsxs-dump",
    version: 1,
    path: "/vm",
    tree: n("vm", "", ["b5", "r0"], [n("name", "h\u00e9 \"q\"\n", ["n0"]), n("bin", "/wBB", ["n0"], [], "base64"), n("dev", "", ["n0"], [n("0", "", ["n1", "w2"])])]),
  };
  assert.equal(r.stdout, `${JSON.stringify(expected)}\n`);
  // Without --compact: the same document, indented.
  assert.equal(tsxs(d, ["dump", "/vm"]).stdout, `${JSON.stringify(expected, null, 1)}\n`);
  assert.deepEqual(tsxs(d, ["dump", "/nope"]), { status: 1, stdout: "", stderr: "tsxs dump: /nope: No such file or directory\n" });
  assert.equal(tsxs(d, ["dump", "relative"]).status, 2);
  assert.equal(tsxs(d, ["dump", "/a", "/b"]).status, 2);
});

test("tsxs restore: dump, restore into a fresh daemon (in batches), dump again: identical; --at moves it", async (t) => {
  const { d: a, xs } = await daemon(t);
  const writes: Promise<void>[] = [];
  for (let dom = 1; dom <= 40; dom++) {
    for (const k of ["name", "memory/target", "device/vif/0/mac", "device/vbd/51712/state"]) writes.push(xs.write(`/local/domain/${dom}/${k}`, `${k}-${dom}`));
  }
  writes.push(xs.write("/local/domain/7/odd", Buffer.from([0x80, 0x0a, 0x5c])));
  writes.push(xs.write("/local/domain/8/long", "x".repeat(4000)));
  // More than a pipe holds at once (64 KiB), so the dump is written in several goes.
  for (let i = 0; i < 20; i++) writes.push(xs.write(`/local/domain/9/big/k${i}`, String.fromCharCode(65 + i).repeat(4000)));
  await Promise.all(writes);
  await xs.setPerms("/local/domain/3", ["n3", "r0"]);
  await xs.setPerms("/local/domain/3/device/vif/0/mac", ["b3"]);
  const dump = tsxs(a, ["dump", "/local/domain"]);
  assert.equal(dump.status, 0, dump.stderr);
  assert.ok(dump.stdout.length > 100000);
  const file = tempFile(t, "dump.json", dump.stdout);

  const { d: b } = await daemon(t);
  const restored = tsxs(b, ["restore", file, "--batch", "50"]);
  // 1 + 40 domains * 11 nodes + 2 + 21 = 464 nodes: 10 transactions of at most 50.
  assert.deepEqual(restored, { status: 0, stdout: "restored 464 nodes at /local/domain in 10 transactions\n", stderr: "" });
  assert.equal(tsxs(b, ["dump", "/local/domain"]).stdout, dump.stdout);

  const moved = tsxs(b, ["restore", "-", "--at", "/backup/domains", "--json"], dump.stdout);
  assert.deepEqual(moved, { status: 0, stdout: '{"path":"/backup/domains","nodes":464,"transactions":1}\n', stderr: "" });
  const again = JSON.parse(tsxs(b, ["dump", "/backup/domains"]).stdout) as { path: string; tree: { name: string } };
  const original = JSON.parse(dump.stdout) as { path: string; tree: { name: string } };
  assert.deepEqual({ ...again, path: original.path, tree: { ...again.tree, name: original.tree.name } }, original);
  // A whole-store dump restores too (the root's value and ACL included).
  const all = tsxs(b, ["dump"]);
  const { d: c } = await daemon(t);
  assert.equal(tsxs(c, ["restore", "-"], all.stdout).status, 0);
  assert.equal(tsxs(c, ["dump"]).stdout, all.stdout);
});

test("tsxs restore: a bad file writes nothing and says why (exit 1); a refused batch says how much was restored", async (t) => {
  const { d, xs } = await daemon(t);
  const node = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name, value: "", perms: ["n0"], children: [], ...extra });
  const doc = (tree: unknown, top: Record<string, unknown> = {}): string => JSON.stringify({ format: "tsxs-dump", version: 1, path: "/r", tree, ...top });
  const bad: [string, string][] = [
    ["{", "not valid JSON: "],
    ["[]", "not a JSON object"],
    [doc(node("r"), { format: "other" }), '"format" is not "tsxs-dump"'],
    [doc(node("r"), { version: 2 }), 'unsupported "version" 2 (this tsxs reads version 1)'],
    [doc(node("r"), { path: "r" }), '"path" is not an absolute xenstore path'],
    [doc(node("x")), 'node /r: "name" is not "r" (the last part of "path")'],
    [doc(node("r", { children: [node("ok"), node("a.b")] })), 'node /r/a.b: "name" is not a valid node name'],
    [doc(node("r", { children: [node("ok", { value: 5 })] })), 'node /r/ok: "value" is not a string'],
    [doc(node("r", { children: [node("ok", { value: "!!", encoding: "base64" })] })), 'node /r/ok: "value" is not valid base64'],
    [doc(node("r", { children: [node("ok", { encoding: "hex" })] })), 'node /r/ok: "encoding" is neither absent nor "base64"'],
    [doc(node("r", { children: [node("ok", { perms: [] })] })), 'node /r/ok: "perms" is not a non-empty list of ACL entries like "n0", "r5", "w5", "b5"'],
    [doc(node("r", { children: [node("ok", { perms: ["x1"] })] })), 'node /r/ok: "perms" is not a non-empty list of ACL entries like "n0", "r5", "w5", "b5"'],
    [doc(node("r", { children: [node("ok", { children: {} })] })), 'node /r/ok: "children" is not a list'],
    [doc(node("r", { children: [node("a"), node("a")] })), 'node /r: two children named "a"'],
  ];
  for (const [text, why] of bad) {
    const f = tempFile(t, "bad.json", text);
    const r = tsxs(d, ["restore", f]);
    assert.equal(r.status, 1, text);
    assert.equal(r.stdout, "");
    assert.ok(r.stderr.startsWith(`tsxs restore: ${f}: ${why}`), `${r.stderr} (expected ${why})`);
    assert.ok(r.stderr.endsWith("; nothing was restored\n"), r.stderr);
    assert.equal(await xs.exists("/r"), false, "nothing written");
  }
  assert.equal(tsxs(d, ["restore", "/nonexistent/dump.json"]).stderr.startsWith("tsxs restore: /nonexistent/dump.json: cannot read it: "), true);
  assert.equal(tsxs(d, ["restore"]).status, 2);
  assert.equal(tsxs(d, ["restore", "f", "--batch", "0"]).status, 2);

  // The daemon refuses the third batch (a domain that does not exist in an ACL): two were committed.
  const children = Array.from({ length: 5 }, (_, i) => node(`n${i}`, i === 3 ? { perms: ["r40000"] } : {}));
  const f = tempFile(t, "partial.json", doc(node("r", { children })));
  assert.deepEqual(tsxs(d, ["restore", f, "--batch", "2"]), {
    status: 1,
    stdout: "",
    stderr: "tsxs restore: could not set the permissions of /r/n3: No such file or directory; stopped after 4 of 6 nodes (2 transactions committed): /r is only partly restored\n",
  });
  assert.deepEqual(await xs.list("/r"), ["n0", "n1", "n2"]);
});

test("checkDump lists the nodes parents first, siblings in order, with paths below the root", () => {
  const node = (name: string, children: unknown[] = []): unknown => ({ name, value: name, perms: ["n0"], children });
  const { path, items } = checkDump({ format: "tsxs-dump", version: 1, path: "/", tree: node("", [node("a", [node("b")]), node("c")]) });
  assert.equal(path, "/");
  assert.deepEqual(
    items.map((i) => [i.rel, i.value.toString()]),
    [
      ["", ""],
      ["/a", "a"],
      ["/a/b", "b"],
      ["/c", "c"],
    ],
  );
  assert.throws(() => checkDump(null), DumpError);
});

test("value escapes: sanitise as xenstore-read prints, unsanitise as xenstore-write reads", () => {
  assert.equal(sanitise(Buffer.from([0, 1, 7, 8, 9, 10, 13, 14, 0x1f, 0x20, 0x41, 0x5c, 0x7e, 0x7f, 0x80, 0xc3, 0xff])), "\\000\\001\\007\\x08\\t\\n\\r\\x0e\\x1f A\\\\~\\x7f\\x80\\xc3\\xff");
  const un = (s: string): number[] => [...unsanitise(Buffer.from(s, "latin1"))];
  assert.deepEqual(un("\\x41\\101\\n\\t\\r\\\\"), [0x41, 0x41, 10, 9, 13, 0x5c]);
  assert.deepEqual(un("\\x4g\\x414\\1234\\400\\8"), [4, 0x67, 0x41, 0x34, 0x53, 0x34, 0, 0x38]);
  assert.deepEqual(un("\\x\\xg\\a\\q"), [0x78, 0x78, 0x67, 0x61, 0x71]);
  assert.deepEqual(un("abc\\"), [0x61, 0x62, 0x63, 0]);
});

test("getopt: permutation, clusters, attached and separate arguments, long prefixes, unknown options reported", () => {
  const table = { short: "hfpn:", long: { help: "h", flat: "f", prefix: "p", number: "n", json: "J" } };
  assert.deepEqual(getopt(["/a", "-fp", "-n3", "--pre", "--number=4", "-n", "5", "--", "-x"], table), {
    options: [{ letter: "f" }, { letter: "p" }, { letter: "n", value: "3" }, { letter: "p" }, { letter: "n", value: "4" }, { letter: "n", value: "5" }],
    positionals: ["/a", "-x"],
    warnings: [],
  });
  assert.deepEqual(getopt(["-z", "--path", "--flat=1", "-n", "--json", "-"], table), {
    options: [{ letter: "n", value: "--json" }],
    positionals: ["-"],
    warnings: ["invalid option -- 'z'", "unrecognized option '--path'", "option '--flat' doesn't allow an argument"],
  });
  assert.deepEqual(getopt(["--p"], { short: "pP", long: { prefix: "p", perms: "P" } }).warnings, ["option '--p' is ambiguous; possibilities: '--prefix' '--perms'"]);
});

test("lsLine: xenstore-ls's layout (name and value cut to the width, ` . . .` padding to column 60 with -p)", () => {
  const v = (s: string): Buffer => Buffer.from(s, "latin1");
  assert.equal(lsLine("/a/n", "n", 0, v(""), ["n0"], false, 80), `n = "" ${". ".repeat(26)}.  (n0)`);
  assert.equal(lsLine("/a/nn", "nn", 0, v(""), ["n0"], false, 80), `nn = ""  ${". ".repeat(26)} (n0)`);
  assert.equal(lsLine("/a/b/c", "c", 1, v("1"), ["r5", "w6"], true, Infinity), '/a/b/c = "1"   (r5,w6)');
  assert.equal(lsLine("/a/n", "n", 0, v("v".repeat(72)), null, false, 80), `n = "${"v".repeat(71)}\\..."`);
  assert.equal(lsLine("/a/n", "n", 0, v("v".repeat(71)), ["n0"], false, 80), `n = "${"v".repeat(71)}"   (n0)`);
  assert.equal(lsLine("/a/x", "n".repeat(100), 0, v("v"), null, false, 80), `${"n".repeat(72)} = "\\..."`);
  assert.equal(lsLine("/a/x", "x", 0, v("\x01".repeat(30)), null, false, 80), `x = "${"\\001".repeat(30)}"`);
  assert.equal(lsLine("/a/x", "x", 0, v("v".repeat(90)), null, false, 100), `x = "${"v".repeat(90)}"`);
});

test("progress: nothing when stderr is not a terminal; on one, a line redrawn at most every interval and erased at the end", () => {
  let now = 0;
  const written: string[] = [];
  const stream = (isTTY: boolean) => ({ isTTY, write: (s: string) => written.push(s) > 0 });
  const quiet = new Progress(stream(false), "tsxs restore", { total: 10, now: () => now });
  for (let i = 0; i < 10; i++) {
    now += 1000;
    quiet.add();
  }
  quiet.done();
  assert.deepEqual(written, []);

  now = 0;
  const p = new Progress(stream(true), "tsxs restore", { total: 1000, now: () => now, intervalMs: 200 });
  p.add(100); // at once: nothing yet
  now = 100;
  p.add(100);
  now = 250;
  p.add(300);
  now = 300;
  p.add(100); // 50 ms after the last drawing
  now = 500;
  p.add(400);
  p.done();
  assert.deepEqual(written, ["\rtsxs restore: 500/1000 nodes (2000/s)\x1b[K", "\rtsxs restore: 1000/1000 nodes (2000/s)\x1b[K", "\r\x1b[K"]);

  written.length = 0;
  now = 0;
  const open = new Progress(stream(true), "tsxs ls", { now: () => now });
  now = 1000;
  open.add(5000);
  open.done();
  open.done();
  assert.deepEqual(written, ["\rtsxs ls: 5000 nodes (5000/s)\x1b[K", "\r\x1b[K"]);
  // Quick operations draw nothing, so there is nothing to erase.
  written.length = 0;
  const quick = new Progress(stream(true), "tsxs ls", { now: () => 0 });
  quick.add(10);
  quick.done();
  assert.deepEqual(written, []);
});
