/**
 * The history of every change (src/history): what each commit retains,
 * retention by each bound, log filters, diffs that skip shared subtrees
 * yet are exact, the tree at old revisions, and the git fast-import export
 * imported into a real repository.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, mock, test } from "node:test";
import { History, NotRetained, type HistoryCommit, type HistoryOptions } from "../src/history/history.js";
import { Node } from "../src/store/node.js";
import { Perms, type Principal } from "../src/store/perms.js";
import { Store, type CommitMeta } from "../src/store/store.js";
import { TreeEditor } from "../src/store/tree.js";
import { walkTree } from "../src/store/walk.js";
import { rng } from "./helpers/random.js";

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const DOM0: Principal = { domid: 0, privileged: true, target: null };

beforeEach(() => mock.timers.enable({ apis: ["Date"], now: T0 }));
afterEach(() => mock.timers.reset());

function setup(opts?: HistoryOptions): { store: Store; h: History } {
  const store = new Store();
  return { store, h: new History(store, opts) };
}

/** One commit of whatever `edit` does. */
function commit(store: Store, edit: (e: TreeEditor) => void, meta: Partial<CommitMeta> = {}): number {
  const e = new TreeEditor(store.root);
  edit(e);
  const r = store.commit({ editor: e }, { domid: 0, conn: 1, op: "WRITE", txId: 0, ...meta });
  assert.ok(r, "the edit changed something");
  return r.revision;
}

function write(store: Store, path: string, value: string, meta: Partial<CommitMeta> = {}): number {
  return commit(store, (e) => e.write(path, value, DOM0), meta);
}

/** A commit without its cost, for comparing. */
function plain(c: HistoryCommit | undefined): Omit<HistoryCommit, "bytes"> | undefined {
  if (!c) return undefined;
  const { bytes: _bytes, ...rest } = c;
  return rest;
}

const revisions = (cs: readonly HistoryCommit[]): number[] => cs.map((c) => c.revision);

test("each commit is retained with who, when, and what changed from what to what", () => {
  const { store, h } = setup();
  write(store, "/a", "1");
  mock.timers.tick(250);
  write(store, "/a", "2", { domid: 3, conn: 7, op: "TRANSACTION_END", txId: 4 });
  commit(store, (e) => e.setPerms("/a", Perms.fromKey("n0,r5")!), { op: "SET_PERMS" });
  assert.deepEqual(plain(h.commit(1)), {
    revision: 1,
    time: T0,
    domid: 0,
    conn: 1,
    op: "WRITE",
    txId: 0,
    changes: [{ path: "/a", kind: "created", before: null, after: { value: "1", acl: "n0" } }],
  });
  assert.deepEqual(plain(h.commit(2)), {
    revision: 2,
    time: T0 + 250,
    domid: 3,
    conn: 7,
    op: "TRANSACTION_END",
    txId: 4,
    changes: [{ path: "/a", kind: "value", before: { value: "1", acl: "n0" }, after: { value: "2", acl: "n0" } }],
  });
  assert.deepEqual(h.commit(3)!.changes, [{ path: "/a", kind: "perms", before: { value: "2", acl: "n0" }, after: { value: "2", acl: "n0,r5" } }]);
  assert.equal(h.rootAt(3), store.root, "the newest tree is the store's own");
  assert.deepEqual([h.oldest, h.newest, h.size], [0, 3, 3]);
  assert.equal(h.commit(0), undefined, "the base is a tree, not a commit");
  assert.equal(h.commit(4), undefined);
});

test("retention by revisions: the oldest commits go, the last one dropped becomes the base", () => {
  const { store, h } = setup({ maxRevisions: 3 });
  for (let i = 1; i <= 5; i++) write(store, "/a", String(i));
  assert.deepEqual([h.oldest, h.newest, h.size], [2, 5, 3]);
  assert.deepEqual(revisions(h.log()), [5, 4, 3]);
  assert.deepEqual(h.show(2, "/a"), { value: "2", perms: ["n0"], children: [] }, "the base tree is still shown");
  assert.throws(() => h.show(1, "/a"), (e: unknown) => e instanceof NotRetained && e.message === "revision 1 is not retained (retained: r2..r5)");
  assert.throws(() => h.diff(2, 6), NotRetained);
  assert.deepEqual(h.diff(2, 5), [{ path: "/a", kind: "changed", before: { value: "2", acl: "n0" }, after: { value: "5", acl: "n0" } }]);
});

test("retention by age: commits older than maxAgeMs go at the next commit or query", () => {
  const { store, h } = setup({ maxAgeMs: 1000 });
  write(store, "/a", "1");
  mock.timers.tick(600);
  write(store, "/a", "2");
  mock.timers.tick(600);
  write(store, "/a", "3");
  assert.deepEqual([h.oldest, h.newest, h.size], [1, 3, 2], "r1 (1200 ms old) went when r3 was committed");
  assert.equal(h.since, T0, "the base is r1, committed at T0");
  mock.timers.tick(2000);
  assert.deepEqual(h.log(), [], "a query drops what aged meanwhile");
  assert.deepEqual([h.oldest, h.newest, h.size], [3, 3, 0]);
  assert.deepEqual(h.show(3, "/a"), { value: "3", perms: ["n0"], children: [] }, "the newest tree is always there");
});

test("retention by bytes: a commit costs its paths, values and ACLs (encoded), not the rest of the store", () => {
  const cost = (value: string, extraNodes: number): number => {
    const { store, h } = setup();
    if (extraNodes) commit(store, (e) => { for (let i = 0; i < extraNodes; i++) e.write(`/big/n${i}`, "x".repeat(20), DOM0); });
    write(store, "/x", value);
    return h.commit(store.revision)!.bytes;
  };
  const b1000 = cost("v".repeat(1000), 0);
  assert.equal(cost("v".repeat(2000), 0) - b1000, 1000, "a value's bytes count once");
  assert.equal(cost("v".repeat(1000), 5000), b1000, "the same write costs the same in a big store");
  assert.ok(b1000 > 1000 && b1000 < 1600, `${b1000}`);
  // Room for three such commits and a half.
  const { store, h } = setup({ maxBytes: Math.floor(3.5 * b1000) });
  for (const name of "abcdef") write(store, `/${name}`, "v".repeat(1000));
  assert.deepEqual([h.oldest, h.newest, h.size], [3, 6, 3]);
  assert.equal(h.retainedBytes, h.commit(4)!.bytes + h.commit(5)!.bytes + h.commit(6)!.bytes);
  // Overwriting keeps both values: the one before and the one after (the root lists no more names):
  // the state before adds its value, its ACL "n0" and their two u32 lengths.
  const six = h.commit(6)!.bytes;
  write(store, "/f", "w".repeat(1000));
  assert.equal(h.commit(7)!.bytes, six + 1000 + 2 + 8);
  assert.deepEqual([h.oldest, h.size], [5, 2]);
});

test("a store restored from a dump (no commit leads there) starts the history afresh at the restored revision", () => {
  const { store, h } = setup();
  write(store, "/a", "1");
  write(store, "/a", "2");
  const dump = store.dump();
  write(store, "/a", "3");
  store.restore(40, dump);
  assert.deepEqual([h.oldest, h.newest, h.size], [40, 40, 0], "noticed at a query");
  assert.deepEqual(h.show(40, "/a"), { value: "2", perms: ["n0"], children: [] });
  write(store, "/a", "4");
  assert.deepEqual([h.oldest, h.newest, h.size], [40, 41, 1]);
  assert.deepEqual(h.commit(41)!.changes, [{ path: "/a", kind: "value", before: { value: "2", acl: "n0" }, after: { value: "4", acl: "n0" } }]);
  store.restore(7, dump);
  write(store, "/b", "noticed at the commit");
  assert.deepEqual([h.oldest, h.newest, h.size], [7, 8, 1]);
});

test("log: newest first, filtered by path (below it or an ancestor's removal), time, domain, before and limit", () => {
  const { store, h } = setup();
  write(store, "/a/b", "1", { domid: 0 }); // r1: creates /a and /a/b
  mock.timers.tick(1000);
  write(store, "/a/c", "2", { domid: 5 }); // r2
  mock.timers.tick(1000);
  write(store, "/other", "3", { domid: 5 }); // r3
  mock.timers.tick(1000);
  commit(store, (e) => e.remove("/a"), { op: "RM" }); // r4: removes /a/b, /a/c, /a
  write(store, "/a/b", "again"); // r5
  assert.deepEqual(revisions(h.log()), [5, 4, 3, 2, 1]);
  assert.deepEqual(revisions(h.log({ path: "/a" })), [5, 4, 2, 1]);
  assert.deepEqual(revisions(h.log({ path: "/a/b" })), [5, 4, 1]);
  assert.deepEqual(revisions(h.log({ path: "/a/b/never" })), [4], "only the removal of an ancestor concerns a path that never was");
  assert.deepEqual(revisions(h.log({ path: "/a/c" })), [4, 2]);
  assert.deepEqual(revisions(h.log({ domain: 5 })), [3, 2]);
  assert.deepEqual(revisions(h.log({ since: T0 + 1000 })), [5, 4, 3, 2]);
  assert.deepEqual(revisions(h.log({ since: T0 + 2500 })), [5, 4]);
  assert.deepEqual(revisions(h.log({ before: 4 })), [3, 2, 1]);
  assert.deepEqual(revisions(h.log({ limit: 2 })), [5, 4]);
  assert.deepEqual(revisions(h.log({ path: "/a", domain: 0, before: 5, limit: 1 })), [4]);
  assert.deepEqual(
    h.log({ path: "/a/b" })[1]!.changes.map((c) => `${c.kind} ${c.path}`),
    ["removed /a/b", "removed /a/c", "removed /a"],
    "the commit's changes are all retained (a removed subtree: every node, deepest first)",
  );
});

test("show: value, ACL and children as they were at each retained revision", () => {
  const { store, h } = setup();
  write(store, "/d/x", "1");
  write(store, "/d/y", "2");
  commit(store, (e) => e.setPerms("/d", Perms.fromKey("n3,r0")!));
  commit(store, (e) => e.remove("/d/x"));
  write(store, "/d", "dir");
  assert.deepEqual(h.show(0, "/d"), null);
  assert.deepEqual(h.show(1, "/d"), { value: "", perms: ["n0"], children: ["x"] });
  assert.deepEqual(h.show(2, "/d"), { value: "", perms: ["n0"], children: ["x", "y"] });
  assert.deepEqual(h.show(3, "/d"), { value: "", perms: ["n3", "r0"], children: ["x", "y"] });
  assert.deepEqual(h.show(4, "/d"), { value: "", perms: ["n3", "r0"], children: ["y"] });
  assert.deepEqual(h.show(5, "/d"), { value: "dir", perms: ["n3", "r0"], children: ["y"] });
  assert.deepEqual(h.show(3, "/d/x"), { value: "1", perms: ["n0"], children: [] });
  assert.equal(h.show(4, "/d/x"), null);
  assert.deepEqual(h.show(0, "/"), { value: "", perms: ["n0"], children: ["tool"] });
});

test("removing a subtree: diff lists every node (parents first), show finds none, both directions", () => {
  const { store, h } = setup();
  commit(store, (e) => {
    e.write("/vm/1/name", "one", DOM0);
    e.write("/vm/1/dev/0", "disk", DOM0);
    e.write("/vm/2", "two", DOM0);
  });
  commit(store, (e) => e.remove("/vm/1"), { op: "RM" });
  assert.deepEqual(
    h.diff(1, 2).map((d) => `${d.kind} ${d.path} ${d.before?.value ?? "-"} ${d.after?.value ?? "-"}`),
    ["removed /vm/1  -", "removed /vm/1/dev  -", "removed /vm/1/dev/0 disk -", "removed /vm/1/name one -"],
  );
  assert.deepEqual(
    h.diff(2, 1).map((d) => `${d.kind} ${d.path}`),
    ["added /vm/1", "added /vm/1/dev", "added /vm/1/dev/0", "added /vm/1/name"],
  );
  assert.deepEqual(h.diff(1, 2, "/vm/2"), []);
  assert.deepEqual(h.diff(1, 2, "/vm/1/dev").map((d) => d.path), ["/vm/1/dev", "/vm/1/dev/0"]);
  assert.equal(h.show(2, "/vm/1/dev/0"), null);
  assert.deepEqual(h.show(2, "/vm"), { value: "", perms: ["n0"], children: ["2"] });
  assert.deepEqual(h.commit(2)!.changes.map((c) => `${c.kind} ${c.path} ${c.before?.value ?? "-"}`), [
    "removed /vm/1/name one",
    "removed /vm/1/dev/0 disk",
    "removed /vm/1/dev ",
    "removed /vm/1 ",
  ]);
});

test("diff skips subtrees the two trees share: one change in a big store looks at the changed path only", () => {
  const { store, h } = setup();
  commit(store, (e) => {
    for (let d = 0; d < 300; d++) for (const k of ["name", "domid", "device/vif/0/mac", "memory/target"]) e.write(`/local/domain/${d}/${k}`, `${d}`, DOM0);
  });
  const before = store.revision;
  write(store, "/local/domain/123/memory/target", "2048");
  // Count the listings the diff reads.
  const original = Node.prototype.childNames;
  let listings = 0;
  Node.prototype.childNames = function (this: Node) {
    listings++;
    return original.call(this);
  };
  try {
    assert.deepEqual(h.diff(before, store.revision), [
      { path: "/local/domain/123/memory/target", kind: "changed", before: { value: "123", acl: "n0" }, after: { value: "2048", acl: "n0" } },
    ]);
  } finally {
    Node.prototype.childNames = original;
  }
  // Both versions of /, /local, /local/domain, /local/domain/123 and .../memory; nothing else.
  assert.equal(listings, 10);
  assert.deepEqual(h.diff(store.revision, store.revision), []);
});

/** Every node under `path` in `root`: path → value and ACL. */
function flatten(root: Node, path: string): Map<string, string> {
  const out = new Map<string, string>();
  let start: Node | undefined = root;
  for (const c of path === "/" ? [] : path.slice(1).split("/")) start = start?.child(c);
  if (start) walkTree(path, start, { enter: (p, n) => void out.set(p, `${n.value}|${n.perms.key}`) });
  return out;
}

/** The diff by brute force: compare every node of both trees. */
function bruteDiff(h: History, from: number, to: number, path: string): string[] {
  const a = flatten(h.rootAt(from), path);
  const b = flatten(h.rootAt(to), path);
  const out: string[] = [];
  for (const p of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(p);
    const y = b.get(p);
    if (x === y) continue;
    out.push(`${x === undefined ? "added" : y === undefined ? "removed" : "changed"} ${p} ${x ?? "-"} ${y ?? "-"}`);
  }
  const key = (s: string): string => s.split(" ")[1]!.replaceAll("/", "\0");
  return out.sort((s, t) => (key(s) < key(t) ? -1 : key(s) > key(t) ? 1 : 0));
}

test("diff is exact: random edits, random revision pairs and paths agree with a full comparison, and resume after any entry", () => {
  const { store, h } = setup();
  const rand = rng(10);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const names = ["a", "b", "c", "d"];
  const randomPath = (): string => `/${Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(names)).join("/")}`;
  for (let i = 0; i < 150; i++) {
    commit(store, (e) => {
      for (let k = 0; k < 3; k++) {
        const p = randomPath();
        const r = rand();
        if (r < 0.55) e.write(p, pick(["", "x", "y", "long value"]), DOM0);
        else if (r < 0.8) e.remove(p);
        else if (e.get(p)) e.setPerms(p, Perms.fromKey(pick(["n0", "n0,r5", "n2,b0"]))!);
      }
      e.write("/tick", String(i), DOM0);
    });
  }
  const show = (d: { kind: string; path: string; before: { value: string; acl: string } | null; after: { value: string; acl: string } | null }): string =>
    `${d.kind} ${d.path} ${d.before ? `${d.before.value}|${d.before.acl}` : "-"} ${d.after ? `${d.after.value}|${d.after.acl}` : "-"}`;
  for (let i = 0; i < 60; i++) {
    const from = Math.floor(rand() * 151);
    const to = Math.floor(rand() * 151);
    const path = pick(["/", "/a", "/b/c", "/d/a/b"]);
    const got = h.diff(from, to, path).map(show);
    assert.deepEqual(got, bruteDiff(h, from, to, path), `diff ${from} ${to} ${path}`);
    const entries = h.diff(from, to, path);
    for (let k = 0; k < entries.length; k++) {
      assert.deepEqual([...h.diffFrom(from, to, path, entries[k]!.path)].map(show), got.slice(k + 1), `resumed after ${entries[k]!.path}`);
    }
  }
});

test("past trees are rebuilt exactly from the changes alone: every revision of random edits, in any order of asking", () => {
  const { store, h } = setup();
  const rand = rng(11);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const names = ["a", "b", "c"];
  const randomPath = (): string => `/${Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick(names)).join("/")}`;
  // The store's own trees, kept here only to compare with.
  const truth = [flatten(store.root, "/")];
  for (let i = 0; i < 200; i++) {
    commit(store, (e) => {
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
        const p = randomPath();
        const r = rand();
        if (r < 0.5) e.write(p, pick(["", "x", "y"]), DOM0);
        else if (r < 0.6) e.mkdir(p, DOM0);
        else if (r < 0.85) e.remove(p);
        else if (e.get(p)) e.setPerms(p, Perms.fromKey(pick(["n0", "n0,r5", "n2,b0"]))!);
      }
      e.write("/tick", String(i), DOM0);
    });
    truth.push(flatten(store.root, "/"));
  }
  const order = Array.from({ length: truth.length }, (_, i) => i).sort(() => rand() - 0.5);
  for (const rev of order) assert.deepEqual(flatten(h.rootAt(rev), "/"), truth[rev], `the tree at r${rev}`);
  // Children by name at any revision.
  for (let rev = 0; rev < truth.length; rev += 17) {
    const kids = [...truth[rev]!.keys()].filter((p) => /^\/[^/]+$/.test(p)).map((p) => p.slice(1)).sort();
    assert.deepEqual(h.show(rev, "/")!.children, kids, `children of / at r${rev}`);
  }
});

function git(dir: string, ...args: string[]): string {
  const r = spawnSync("git", ["-C", dir, ...args], { encoding: "latin1" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test("exportGit: a fast-import stream that git imports: the base tree, then one commit per revision with only its changes", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tsxs-history-git-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { store, h } = setup({ maxRevisions: 3 });
  write(store, "/old", "dropped later"); // r1, dropped: r1 becomes the base
  mock.timers.tick(1000);
  write(store, "/vm/1/name", "one", { domid: 0, conn: 2, op: "WRITE" }); // r2
  mock.timers.tick(1000);
  commit(store, (e) => {
    e.write("/vm/1/bin", "\u0000\u00ff\n", DOM0);
    e.setPerms("/vm/1/name", Perms.fromKey("n1,r0")!);
  }, { domid: 0, conn: 3, op: "TRANSACTION_END", txId: 9 }); // r3
  mock.timers.tick(1000);
  commit(store, (e) => e.remove("/vm"), { domid: 0, conn: 0, op: "domain-death" }); // r4
  assert.equal(h.oldest, 1);
  const chunks: Buffer[] = [];
  h.exportGit((c) => chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c, "latin1")));
  git(dir, "init", "-q");
  const imported = spawnSync("git", ["-C", dir, "fast-import", "--quiet"], { input: Buffer.concat(chunks) });
  assert.equal(imported.status, 0, imported.stderr.toString());
  const s = (ms: number): number => Math.floor(ms / 1000);
  assert.equal(
    git(dir, "log", "--format=%an <%ae>|%at|%cn <%ce>|%B", "main"),
    `domain 0 <conn-0@xenstored>|${s(T0 + 3000)}|domain 0 <conn-0@xenstored>|r4 domain-death by domain 0 (connection 0, transaction 0)\n\nremoved /vm/1/name\nremoved /vm/1/bin\nremoved /vm/1\nremoved /vm\n\n` +
      `domain 0 <conn-3@xenstored>|${s(T0 + 2000)}|domain 0 <conn-3@xenstored>|r3 TRANSACTION_END by domain 0 (connection 3, transaction 9)\n\ncreated /vm/1/bin\nperms /vm/1/name\n\n` +
      `domain 0 <conn-2@xenstored>|${s(T0 + 1000)}|domain 0 <conn-2@xenstored>|r2 WRITE by domain 0 (connection 2, transaction 0)\n\ncreated /vm\ncreated /vm/1\ncreated /vm/1/name\n\n` +
      `tsxenstored <history@xenstored>|${s(T0)}|tsxenstored <history@xenstored>|r1 the tree where the retained history begins\n\n`,
  );
  const files = (rev: string): string => git(dir, "ls-tree", "-r", "--name-only", rev);
  assert.equal(files("main~3"), ".perms\n.value\nold/.perms\nold/.value\ntool/.perms\ntool/.value\ntool/xenstored/.perms\ntool/xenstored/.value\n");
  assert.equal(git(dir, "show", "main~3:old/.value"), "dropped later");
  assert.equal(git(dir, "show", "main~3:old/.perms"), "n0\n");
  assert.equal(git(dir, "show", "main~2:vm/1/name/.value"), "one");
  assert.equal(git(dir, "show", "main~1:vm/1/name/.value"), "one");
  assert.equal(git(dir, "show", "main~1:vm/1/name/.perms"), "n1\nr0\n");
  assert.equal(git(dir, "show", "main~1:vm/1/bin/.value"), "\u0000\u00ff\n", "values are bytes");
  assert.equal(git(dir, "show", "main~1:vm/.value"), "");
  // Each commit holds only what it changed.
  assert.equal(git(dir, "diff", "--name-status", "main~2", "main~1"), "A\tvm/1/bin/.perms\nA\tvm/1/bin/.value\nM\tvm/1/name/.perms\n");
  assert.equal(git(dir, "diff", "--name-status", "main~3", "main"), "");
});
