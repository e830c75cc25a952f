/**
 * CONTROL history through the in-process daemon: log, diff, show, info and
 * export, as text and JSON, each reply one packet (PAYLOAD_MAX) with a
 * `more:` continuation that visits everything once.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, mock, test } from "node:test";
import { Op, PAYLOAD_MAX } from "../src/protocol/messages.js";
import { TreeEditor } from "../src/store/tree.js";
import { harness, type Probe } from "./helpers/inproc.js";

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const ISO0 = "2024-05-01T12:00:00.000Z";

beforeEach(() => mock.timers.enable({ apis: ["Date"], now: T0 }));
afterEach(() => mock.timers.reset());

/** CONTROL history ARGS: the reply text (checked to be one NUL-terminated packet), or "ERROR E...". */
function history(p: Probe, ...args: string[]): string {
  const replies = p.send(Op.CONTROL, ["history", ...args]);
  assert.equal(replies.length, 1);
  const r = replies[0]!;
  assert.ok(r.body.endsWith("\0"), "NUL-terminated");
  assert.ok(r.body.length <= PAYLOAD_MAX, `reply of ${r.body.length} bytes`);
  const text = r.body.slice(0, -1);
  return r.type === Op.ERROR ? `ERROR ${text}` : text;
}

/** Follow `more:` continuations (text): every page's lines, and how many pages. */
function allPages(p: Probe, ...args: string[]): { lines: string[]; pages: number } {
  const lines: string[] = [];
  let extra: string[] = [];
  for (let pages = 1; ; pages++) {
    const page = history(p, ...args, ...extra).split("\n");
    const last = page[page.length - 1]!;
    if (!last.startsWith("more: ")) return { lines: [...lines, ...page.filter((l) => l !== "")], pages };
    lines.push(...page.slice(0, -1));
    extra = last.slice("more: ".length).split(" ");
  }
}

/** Follow "more" continuations (JSON): the items of `field` from every page. */
function allJsonPages(p: Probe, field: string, ...args: string[]): { items: unknown[]; first: Record<string, unknown>; pages: number } {
  const items: unknown[] = [];
  let extra: string[] = [];
  let first: Record<string, unknown> | null = null;
  for (let pages = 1; ; pages++) {
    const page = JSON.parse(history(p, ...args, "--json", ...extra)) as Record<string, unknown>;
    first ??= page;
    items.push(...(page[field] as unknown[]));
    const more = page.more as Record<string, string | number> | undefined;
    if (!more) return { items, first, pages };
    extra = Object.entries(more).flatMap(([k, v]) => [`--${k}`, String(v)]);
  }
}

test("history log: newest first, each commit's title and changes; --json the same as data", () => {
  const h = harness();
  const c = h.socket();
  c.write("/a/b", "1");
  mock.timers.tick(1500);
  c.setPerms("/a/b", ["n0", "r5"]);
  c.rm("/a");
  assert.equal(
    history(c, "log"),
    `r3 2024-05-01T12:00:01.500Z RM by domain 0 (connection 1, transaction 0)\n` +
      `  removed /a/b\n` +
      `  removed /a\n` +
      `r2 2024-05-01T12:00:01.500Z SET_PERMS by domain 0 (connection 1, transaction 0)\n` +
      `  perms   /a/b\n` +
      `r1 ${ISO0} WRITE by domain 0 (connection 1, transaction 0)\n` +
      `  created /a\n` +
      `  created /a/b`,
  );
  assert.deepEqual(JSON.parse(history(c, "log", "--limit", "2", "--before", "3", "--json")), {
    commits: [
      { revision: 2, time: T0 + 1500, date: "2024-05-01T12:00:01.500Z", op: "SET_PERMS", domain: 0, connection: 1, transaction: 0, changes: [{ kind: "perms", path: "/a/b" }] },
      {
        revision: 1,
        time: T0,
        date: ISO0,
        op: "WRITE",
        domain: 0,
        connection: 1,
        transaction: 0,
        changes: [
          { kind: "created", path: "/a" },
          { kind: "created", path: "/a/b" },
        ],
      },
    ],
  });
  const tx = c.start();
  c.write("/t", "v", tx);
  c.end(tx);
  assert.equal(history(c, "log", "--limit", "1"), `r4 2024-05-01T12:00:01.500Z TRANSACTION_END by domain 0 (connection 1, transaction ${tx})\n  created /t`);
});

test("history log filters: PATH (only its changes are listed), --domain, --since (ms or ISO date), --before, --limit", () => {
  const h = harness();
  const c = h.socket();
  c.write("/local/domain/5/x", "0");
  c.setPerms("/local/domain/5/x", ["n5"]);
  const guest = h.domain(5); // r3: the harness introduces domain 5 (no tree change)
  mock.timers.tick(60_000);
  guest.write("x", "1"); // r4, relative to its home
  c.write("/other", "2"); // r5
  const titles = (text: string): string[] => text.split("\n").filter((l) => l.startsWith("r"));
  assert.deepEqual(titles(history(c, "log", "--domain", "5")), ["r4 2024-05-01T12:01:00.000Z WRITE by domain 5 (connection 2, transaction 0)"]);
  assert.equal(history(c, "log", "/local/domain/5/x"), `r4 2024-05-01T12:01:00.000Z WRITE by domain 5 (connection 2, transaction 0)\n  value   /local/domain/5/x\nr2 ${ISO0} SET_PERMS by domain 0 (connection 1, transaction 0)\n  perms   /local/domain/5/x\nr1 ${ISO0} WRITE by domain 0 (connection 1, transaction 0)\n  created /local/domain/5/x`);
  assert.equal(history(c, "log", "/local/domain/5", "--before", "4"), `r2 ${ISO0} SET_PERMS by domain 0 (connection 1, transaction 0)\n  perms   /local/domain/5/x\nr1 ${ISO0} WRITE by domain 0 (connection 1, transaction 0)\n  created /local/domain/5\n  created /local/domain/5/x`);
  assert.deepEqual(titles(history(c, "log", "--since", String(T0 + 1))).map((t) => t.slice(0, 3)), ["r5 ", "r4 "]);
  assert.deepEqual(titles(history(c, "log", "--since", "2024-05-01T12:00:30Z")).map((t) => t.slice(0, 3)), ["r5 ", "r4 "]);
  assert.deepEqual(titles(history(c, "log", "--since", "2024-05-01T12:00:00Z")).map((t) => t.slice(0, 3)), ["r5 ", "r4 ", "r3 ", "r2 ", "r1 "]);
  assert.equal(history(c, "log", "--limit", "1", "--before", "4"), `r3 ${ISO0} harness by domain 0 (connection 0, transaction 0)`);
  assert.equal(history(c, "log", "--before", "1"), "", "nothing: an empty reply");
  for (const bad of [["--since", "yesterday"], ["--domain", "x"], ["--limit", "-1"], ["--bogus"], ["/a", "/b"], ["bad//path"]]) {
    assert.equal(history(c, "log", ...bad), "ERROR EINVAL", bad.join(" "));
  }
});

test("history log pages at PAYLOAD_MAX: `more: --before R` (and the rest of --limit) continues, every commit exactly once", () => {
  const h = harness();
  const c = h.socket();
  for (let i = 1; i <= 300; i++) c.write(`/node-${i}`, String(i));
  const first = history(c, "log");
  assert.match(first, /\nmore: --before \d+$/);
  const { lines, pages } = allPages(c, "log");
  const titles = lines.filter((l) => l.startsWith("r"));
  assert.deepEqual(titles.map((t) => Number(/^r(\d+)/.exec(t)![1])), Array.from({ length: 300 }, (_, i) => 300 - i));
  assert.equal(lines.length, 600, "a title and a change line each");
  assert.ok(pages >= 300 * 80 / PAYLOAD_MAX, `${pages} pages`);
  // With a limit, the continuation carries what is left of it.
  const limited = history(c, "log", "--limit", "250").split("\n");
  const shown = limited.filter((l) => l.startsWith("r")).length;
  assert.equal(limited[limited.length - 1], `more: --before ${300 - shown + 1} --limit ${250 - shown}`);
  assert.equal(allPages(c, "log", "--limit", "250").lines.filter((l) => l.startsWith("r")).length, 250);
  // JSON pages: whole commits, a "more" object.
  const json = allJsonPages(c, "commits", "log");
  assert.deepEqual(
    json.items.map((x) => (x as { revision: number }).revision),
    Array.from({ length: 300 }, (_, i) => 300 - i),
  );
  assert.ok(json.pages > 1);
});

test("history log examines a bounded number of commits per reply: a search that finds little answers `more:`", () => {
  const h = harness({ history: { maxRevisions: 30_000, maxBytes: 1 << 30 } });
  const c = h.socket();
  const store = h.x.store;
  for (let i = 0; i < 20_005; i++) {
    const e = new TreeEditor(store.root);
    e.write("/x", String(i), { domid: 0, privileged: true, target: null });
    store.commit({ editor: e }, { domid: 0, conn: 0, op: "test", txId: 0 });
  }
  c.write("/rare", "found");
  assert.equal(history(c, "log", "/rare"), `r20006 ${ISO0} WRITE by domain 0 (connection 1, transaction 0)\n  created /rare\nmore: --before 7`);
  assert.equal(history(c, "log", "/rare", "--before", "7"), "");
});

test("history log: a commit too big for a reply lists the changes that fit and says how many it left out", () => {
  const h = harness();
  const c = h.socket();
  const tx = c.start();
  for (let i = 0; i < 400; i++) c.write(`/many/child-${String(i).padStart(3, "0")}`, "x", tx);
  c.end(tx);
  c.rm("/many");
  const text = history(c, "log", "--limit", "1");
  const lines = text.split("\n");
  assert.equal(lines[0], `r2 ${ISO0} RM by domain 0 (connection 1, transaction 0)`);
  const listed = lines.slice(1, -1);
  assert.deepEqual(listed, Array.from({ length: listed.length }, (_, i) => `  removed /many/child-${String(i).padStart(3, "0")}`));
  assert.equal(lines[lines.length - 1], `  ... ${401 - listed.length} more: history diff 1 2`);
  assert.ok(text.length > PAYLOAD_MAX - 200, "the reply is filled");
  // Without a limit the next commit comes on the next page.
  const paged = allPages(c, "log");
  assert.deepEqual(paged.lines.filter((l) => l.startsWith("r")), [`r2 ${ISO0} RM by domain 0 (connection 1, transaction 0)`, `r1 ${ISO0} TRANSACTION_END by domain 0 (connection 1, transaction ${tx})`]);
  const json = JSON.parse(history(c, "log", "--limit", "1", "--json")) as { commits: { changes: unknown[]; omitted: number }[] };
  assert.equal(json.commits[0]!.changes.length + json.commits[0]!.omitted, 401);
});

test("history diff: added, removed and changed nodes with values and ACLs, parents first; --json", () => {
  const h = harness();
  const c = h.socket();
  c.write("/d/keep", "same");
  c.write("/d/val", "old");
  c.write("/d/gone/deep", "g");
  const from = h.x.store.revision;
  c.write("/d/val", 'new "quoted"\n\u0000\u00ff\\');
  c.setPerms("/d/keep", ["n0", "r7"]);
  c.rm("/d/gone");
  c.write("/d/new", "");
  const to = h.x.store.revision;
  assert.equal(
    history(c, "diff", String(from), String(to)),
    `removed /d/gone "" (n0)\n` +
      `removed /d/gone/deep "g" (n0)\n` +
      `changed /d/keep (n0) -> (n0,r7)\n` +
      `added /d/new "" (n0)\n` +
      `changed /d/val "old" -> "new \\"quoted\\"\\n\\x00\\xff\\\\"`,
  );
  assert.equal(history(c, "diff", String(to), String(from), "/d/gone"), `added /d/gone "" (n0)\nadded /d/gone/deep "g" (n0)`);
  assert.equal(history(c, "diff", String(from), String(from)), "");
  assert.deepEqual(JSON.parse(history(c, "diff", String(from), String(to), "/d/val", "--json")), {
    from,
    to,
    path: "/d/val",
    changes: [{ path: "/d/val", kind: "changed", before: { value: "old", perms: ["n0"] }, after: { value: 'new "quoted"\n\u0000\u00ff\\', perms: ["n0"] } }],
  });
  assert.ok(history(c, "diff", String(from), String(to), "/d/val", "--json").includes("\\u00ff"), "JSON in plain ASCII");
  for (const bad of [[], ["1"], ["x", "1"], ["1", "2", "/a", "/b"], ["0", "999"], ["999", "0"]]) assert.equal(history(c, "diff", ...bad), "ERROR EINVAL", bad.join(" "));
});

test("history diff pages with `more: --after PATH`; a value too long for a reply alone is cut", () => {
  const h = harness();
  const c = h.socket();
  const tx = c.start();
  for (let i = 0; i < 200; i++) c.write(`/big/n${String(i).padStart(3, "0")}/leaf`, `value ${i}`, tx);
  c.end(tx);
  const { lines, pages } = allPages(c, "diff", "0", "1");
  const expected = ["added /big \"\" (n0)"];
  for (let i = 0; i < 200; i++) {
    const n = String(i).padStart(3, "0");
    expected.push(`added /big/n${n} "" (n0)`, `added /big/n${n}/leaf "value ${i}" (n0)`);
  }
  assert.deepEqual(lines, expected);
  assert.ok(pages > 3);
  assert.match(history(c, "diff", "0", "1"), /\nmore: --after \/big\/n\d{3}(\/leaf)?$/);
  const json = allJsonPages(c, "changes", "diff", "0", "1");
  assert.deepEqual(
    json.items.map((x) => (x as { path: string }).path),
    expected.map((l) => l.split(" ")[1]),
  );
  // A value of 3000 bytes that escape to 4 characters each.
  const binary = "\u0001".repeat(3000);
  c.write("/bin", binary);
  const r = h.x.store.revision;
  const cut = history(c, "diff", String(r - 1), String(r));
  assert.match(cut, /^added \/bin "(\\x01)+"\.\.\. \(n0\)$/);
  const cutJson = JSON.parse(history(c, "diff", String(r - 1), String(r), "--json")) as { changes: { after: { value: string; truncated: boolean } }[] };
  assert.equal(cutJson.changes[0]!.after.truncated, true);
  assert.ok(binary.startsWith(cutJson.changes[0]!.after.value) && cutJson.changes[0]!.after.value.length > 100);
});

test("history show: value, ACL and children at a revision, children paged with --skip; not there", () => {
  const h = harness();
  const c = h.socket();
  c.write("/s", "v1");
  c.setPerms("/s", ["n3", "b0"]);
  for (let i = 0; i < 600; i++) c.write(`/s/child-${i}`, "");
  c.write("/s", "v2");
  assert.equal(history(c, "show", "1", "/s"), "/s at r1\nvalue \"v1\"\nperms n0");
  assert.equal(history(c, "show", "0", "/s"), "/s at r0: not there");
  assert.deepEqual(JSON.parse(history(c, "show", "0", "/s", "--json")), { revision: 0, path: "/s", exists: false });
  assert.deepEqual(JSON.parse(history(c, "show", "2", "/s", "--json")), { revision: 2, path: "/s", exists: true, value: "v1", perms: ["n3", "b0"], children: [] });
  const last = String(h.x.store.revision);
  const { lines, pages } = allPages(c, "show", last, "/s");
  // Children by name (a past listing's order is not kept).
  const byName = Array.from({ length: 600 }, (_, i) => `child-${i}`).sort();
  assert.deepEqual(lines, [`/s at r${last}`, 'value "v2"', "perms n3,b0", ...byName.map((n) => `child ${n}`)]);
  assert.ok(pages > 1);
  const json = allJsonPages(c, "children", "show", last, "/s");
  assert.deepEqual(json.items, byName);
  assert.equal(json.first.value, "v2");
  assert.equal(history(c, "show", "999", "/s"), "ERROR EINVAL", "a revision not retained");
  // A value that cannot fit in a reply is cut.
  c.write("/s/child-0", "\u0001".repeat(3000));
  const cut = history(c, "show", String(h.x.store.revision), "/s/child-0");
  assert.match(cut, /^\/s\/child-0 at r\d+\nvalue "(\\x01)+"\.\.\.\nperms n3,b0$/);
  assert.equal(history(c, "show", "1"), "ERROR EINVAL");
});

test("history info says what is retained; bad subcommands answer EINVAL; help does not list history (it stays cx's)", () => {
  const h = harness({ history: { maxRevisions: 2 } });
  const c = h.socket();
  for (let i = 0; i < 5; i++) c.write("/x", String(i));
  assert.equal(history(c, "info"), `retained r3..r5: 2 commits since ${ISO0}\nbytes ~${h.x.history.retainedBytes} of 16777216\nlimits 2 revisions, 86400000 ms, 16777216 bytes`);
  assert.deepEqual(JSON.parse(history(c, "info", "--json")), {
    oldest: 3,
    newest: 5,
    commits: 2,
    since: ISO0,
    bytes: h.x.history.retainedBytes,
    limits: { maxRevisions: 2, maxAgeMs: 86400000, maxBytes: 16777216 },
  });
  assert.equal(history(c, "show", "2", "/x"), "ERROR EINVAL", "dropped");
  assert.equal(history(c), "ERROR EINVAL");
  assert.equal(history(c, "bogus"), "ERROR EINVAL");
  assert.doesNotMatch(c.req(Op.CONTROL, ["help"]), /history/);
  // Reading the history is allowed on the read-only socket.
  assert.match(history(h.socket(true), "log", "--limit", "1"), /^r5 /);
});

test("history export FILE writes the fast-import stream in the background (FILE appears whole); refused on the read-only socket", async (t) => {
  mock.timers.reset(); // real time: the export runs over turns of the event loop
  const dir = mkdtempSync(join(tmpdir(), "tsxs-export-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const h = harness();
  const c = h.socket();
  c.write("/a", "1");
  c.rm("/a");
  const chunks: Buffer[] = [];
  h.x.history.exportGit((b) => chunks.push(Buffer.isBuffer(b) ? b : Buffer.from(b, "latin1")));
  const file = join(dir, "history.fi");
  assert.equal(history(c, "export", file), `exporting r0..r2 to ${file}`);
  c.write("/later", "not in the export");
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(readFileSync(file), Buffer.concat(chunks));
  assert.equal(existsSync(`${file}.partial`), false);
  assert.equal(history(h.socket(true), "export", join(dir, "other")), "ERROR EACCES");
  assert.equal(history(c, "export", "relative/file"), "ERROR EINVAL");
  assert.equal(history(c, "export", join(dir, "missing", "file")), "ERROR ENOENT");
});
