/**
 * The inspector's HTTP API (--inspect) against the real daemon: nodes
 * (values as UTF-8 or base64, ACLs, paged children), domains' usage
 * against quotas (checked against CONTROL quota), the history log and
 * diffs, the live feed (Server-Sent Events), read-only methods, bounds
 * (page sizes, feed clients, a feed client that stops reading), and the
 * address rules (loopback or a Unix socket only).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setImmediate as turn } from "node:timers/promises";
import { XenStoreClient } from "../src/client/index.js";
import { parseInspectAddress } from "../src/inspect/address.js";
import { InspectServer } from "../src/inspect/server.js";
import { parseOptions } from "../src/daemon/options.js";
import { BIN, ROOT, type RunningDaemon } from "./helpers/daemon.js";
import { harness } from "./helpers/inproc.js";
import { FeedReader, getJson, http, startInspected, type Where } from "./helpers/inspect.js";
import { cleanEnv, waitUntil } from "./helpers/proc.js";

let daemon: RunningDaemon;
let where: Where;
let xs: XenStoreClient;
let sockDir: string;

before(async () => {
  sockDir = mkdtempSync(join(tmpdir(), "tsxs-inspect-"));
  ({ daemon, where } = await startInspected(join(sockDir, "inspect.sock")));
  xs = await XenStoreClient.connect(daemon.socket);
});

after(async () => {
  xs?.close();
  await daemon?.stop();
  rmSync(sockDir, { recursive: true, force: true });
});

async function revision(): Promise<number> {
  const { json } = await getJson(where, "/api/info");
  return (json as { revision: number }).revision;
}

/** Times vary: zero them. */
function timeless<T>(v: T): T {
  return JSON.parse(JSON.stringify(v), (k, x: unknown) => (k === "time" ? 0 : x)) as T;
}

test("the inspector listens on the Unix socket given, mode 0600, and is announced", () => {
  assert.match(daemon.output(), new RegExp(`^tsxenstored: inspector on unix:${sockDir}/inspect.sock$`, "m"));
  assert.equal(spawnSync("stat", ["-c", "%a %F", join(sockDir, "inspect.sock")], { encoding: "utf8" }).stdout, "600 socket\n");
});

test("GET /api/node: value as UTF-8 or base64, the ACL, children paged", async () => {
  await xs.write("/t1/text", "héllo");
  await xs.write("/t1/bin", Buffer.from([0x78, 0xff]));
  await xs.setPerms("/t1/text", ["n0", "r5"]);
  const beforeBig = await revision();
  await xs.transaction(async (tx) => {
    for (let i = 0; i < 250; i++) await tx.write(`/t1/big/c${String(i).padStart(3, "0")}`, "");
  });
  const rev = await revision();
  assert.deepEqual(await getJson(where, "/api/node?path=/t1"), {
    status: 200,
    json: {
      path: "/t1",
      revision: rev,
      value: "",
      size: 0,
      perms: ["n0"],
      childCount: 3,
      offset: 0,
      children: [
        { name: "text", children: 0 },
        { name: "bin", children: 0 },
        { name: "big", children: 250 },
      ],
      more: null,
    },
  });
  assert.deepEqual(await getJson(where, "/api/node?path=/t1/text"), {
    status: 200,
    json: { path: "/t1/text", revision: rev, value: "héllo", size: 6, perms: ["n0", "r5"], childCount: 0, offset: 0, children: [], more: null },
  });
  assert.deepEqual((await getJson(where, "/api/node?path=/t1/bin")).json, {
    path: "/t1/bin",
    revision: rev,
    value: { base64: "eP8=" },
    size: 2,
    perms: ["n0"],
    childCount: 0,
    offset: 0,
    children: [],
    more: null,
  });
  const names = (from: number, to: number): { name: string; children: number }[] =>
    Array.from({ length: to - from }, (_, i) => ({ name: `c${String(from + i).padStart(3, "0")}`, children: 0 }));
  const page1 = await getJson(where, "/api/node?path=/t1/big&limit=100");
  assert.deepEqual(page1.json, { path: "/t1/big", revision: rev, value: "", size: 0, perms: ["n0"], childCount: 250, offset: 0, children: names(0, 100), more: { offset: 100 } });
  // The default page is 200 children.
  const page2 = (await getJson(where, "/api/node?path=/t1/big&offset=100")).json as { children: unknown[]; more: unknown };
  assert.deepEqual([page2.children, page2.more], [names(100, 250), null]);
  // The tree of an older revision, from the history.
  assert.deepEqual(await getJson(where, `/api/node?path=/t1/big&rev=${beforeBig}`), { status: 404, json: { error: `/t1/big does not exist at r${beforeBig}` } });
  assert.deepEqual((await getJson(where, `/api/node?path=/t1&rev=${beforeBig}`)).json, {
    path: "/t1",
    revision: beforeBig,
    value: "",
    size: 0,
    perms: ["n0"],
    childCount: 2,
    offset: 0,
    children: [
      { name: "text", children: 0 },
      { name: "bin", children: 0 },
    ],
    more: null,
  });
  // Bad requests: exact errors, the daemon unharmed.
  assert.deepEqual(await getJson(where, "/api/node?path=/t1/big&limit=1001"), { status: 400, json: { error: "limit: 1001 is out of range (1..1000)" } });
  assert.deepEqual(await getJson(where, "/api/node?path=/t1/big&limit=0"), { status: 400, json: { error: "limit: 0 is out of range (1..1000)" } });
  assert.deepEqual(await getJson(where, "/api/node?path=/t1/big&offset=x"), { status: 400, json: { error: 'offset: not an integer: "x"' } });
  assert.deepEqual(await getJson(where, "/api/node?path=t1"), { status: 400, json: { error: 'path: not a node path: "t1"' } });
  assert.deepEqual(await getJson(where, "/api/node?path=/nope"), { status: 404, json: { error: `/nope does not exist at r${rev}` } });
  assert.deepEqual(await getJson(where, "/api/node?path=/t1&rev=99999"), { status: 404, json: { error: `revision 99999 is not retained (retained: r0..r${rev})` } });
  assert.equal(await xs.readString("/t1/text"), "héllo");
});

test("GET /api/domains: each domain's usage against its quotas, as CONTROL quota counts it", async () => {
  await xs.introduce(7, 1234, 9);
  await xs.write("/t2/owned", "x");
  await xs.setPerms("/t2/owned", ["n7"]);
  const { status, json } = await getJson(where, "/api/domains");
  assert.equal(status, 200);
  const answer = json as { total: number; offset: number; more: unknown; domains: Record<string, unknown>[] };
  // Domain 5 is known since an ACL named it (/t1/text), not introduced.
  assert.deepEqual([answer.total, answer.offset, answer.more], [3, 0, null]);
  assert.deepEqual(answer.domains[1], {
    domid: 5,
    introduced: false,
    shutdown: false,
    target: null,
    privileged: false,
    connections: 0,
    nodes: { used: 0, limit: 1000 },
    watches: { used: 0, limit: 128 },
    transactions: { used: 0, limit: 10 },
    outstanding: { used: 0, limit: 20 },
    memory: { used: 0, limit: 2621440 },
  });
  assert.deepEqual(answer.domains[2], {
    domid: 7,
    introduced: true,
    shutdown: false,
    target: null,
    privileged: false,
    connections: 0,
    nodes: { used: 1, limit: 1000 },
    watches: { used: 0, limit: 128 },
    transactions: { used: 0, limit: 10 },
    outstanding: { used: 0, limit: 20 },
    memory: { used: 42, limit: 2621440 },
  });
  // Domain 0: the same numbers as xenstore-control quota 0; quotas do not bind it.
  const control = await xs.control("quota", "0");
  const n = (k: string): number => Number(new RegExp(`^${k} *: *(\\d+)`, "m").exec(control)![1]);
  assert.deepEqual(answer.domains[0], {
    domid: 0,
    introduced: true,
    shutdown: false,
    target: null,
    privileged: true,
    connections: 1,
    nodes: { used: n("nodes"), limit: null },
    watches: { used: n("watches"), limit: null },
    transactions: { used: n("transactions"), limit: null },
    outstanding: { used: n("outstanding"), limit: null },
    memory: { used: n("memory"), limit: null },
  });
  const seven = await xs.control("quota", "7");
  assert.match(seven, /^nodes +: +1$/m);
  assert.match(seven, /^memory +: +42$/m);
  assert.deepEqual((await getJson(where, "/api/domains?offset=2&limit=1")).json, { ...answer, offset: 2, domains: [answer.domains[2]], more: null });
  assert.deepEqual((await getJson(where, "/api/domains?limit=1")).json, { ...answer, domains: [answer.domains[0]], more: { offset: 1 } });
});

test("GET /api/history and /api/diff: the log newest first, filtered and paged; diffs between revisions", async () => {
  const r0 = await revision();
  await xs.write("/t3/a", "1");
  await xs.write("/t3/a", "2");
  await xs.setPerms("/t3/a", ["n0", "b7"]);
  await xs.rm("/t3");
  const conn = (timeless((await getJson(where, `/api/history?limit=1`)).json) as { commits: { conn: number }[] }).commits[0]!.conn;
  const commit = (revision: number, op: string, changes: { path: string; kind: string }[]): object => ({
    revision,
    time: 0,
    domid: 0,
    conn,
    op,
    txId: 0,
    changeCount: changes.length,
    changes,
  });
  const all = [
    // Each node removed, deepest first.
    commit(r0 + 4, "RM", [
      { path: "/t3/a", kind: "removed" },
      { path: "/t3", kind: "removed" },
    ]),
    commit(r0 + 3, "SET_PERMS", [{ path: "/t3/a", kind: "perms" }]),
    commit(r0 + 2, "WRITE", [{ path: "/t3/a", kind: "value" }]),
    commit(r0 + 1, "WRITE", [
      { path: "/t3", kind: "created" },
      { path: "/t3/a", kind: "created" },
    ]),
  ];
  const log = await getJson(where, "/api/history?limit=2");
  assert.deepEqual(timeless(log), { status: 200, json: { oldest: 0, newest: r0 + 4, commits: all.slice(0, 2), more: { before: r0 + 3 } } });
  const next = await getJson(where, `/api/history?limit=2&before=${r0 + 3}`);
  assert.deepEqual(timeless(next).json, { oldest: 0, newest: r0 + 4, commits: all.slice(2, 4), more: { before: r0 + 1 } });
  // Under a path: the commits that touched it (the removal of /t3 removed /t3/a).
  const under = await getJson(where, `/api/history?path=/t3/a&before=${r0 + 5}&limit=10`);
  assert.deepEqual(timeless(under).json, {
    oldest: 0,
    newest: r0 + 4,
    commits: [all[0], all[1], all[2], commit(r0 + 1, "WRITE", [{ path: "/t3/a", kind: "created" }])],
    more: null,
  });
  assert.deepEqual((await getJson(where, "/api/history?domain=7")).json, { oldest: 0, newest: r0 + 4, commits: [], more: null });

  assert.deepEqual(await getJson(where, `/api/diff?from=${r0}&to=${r0 + 3}`), {
    status: 200,
    json: {
      from: r0,
      to: r0 + 3,
      path: "/",
      entries: [
        { path: "/t3", kind: "added", before: null, after: { value: "", perms: ["n0"] } },
        { path: "/t3/a", kind: "added", before: null, after: { value: "2", perms: ["n0", "b7"] } },
      ],
      more: null,
    },
  });
  assert.deepEqual((await getJson(where, `/api/diff?from=${r0 + 1}&to=${r0 + 4}&limit=1`)).json, {
    from: r0 + 1,
    to: r0 + 4,
    path: "/",
    entries: [{ path: "/t3", kind: "removed", before: { value: "", perms: ["n0"] }, after: null }],
    more: { after: "/t3" },
  });
  assert.deepEqual((await getJson(where, `/api/diff?from=${r0 + 1}&to=${r0 + 4}&after=/t3`)).json, {
    from: r0 + 1,
    to: r0 + 4,
    path: "/",
    entries: [{ path: "/t3/a", kind: "removed", before: { value: "1", perms: ["n0"] }, after: null }],
    more: null,
  });
  assert.deepEqual((await getJson(where, `/api/diff?from=${r0 + 1}&to=${r0 + 2}&path=/t3/a`)).json, {
    from: r0 + 1,
    to: r0 + 2,
    path: "/t3/a",
    entries: [{ path: "/t3/a", kind: "changed", before: { value: "1", perms: ["n0"] }, after: { value: "2", perms: ["n0"] } }],
    more: null,
  });
  assert.deepEqual(await getJson(where, "/api/diff?from=0&to=99999"), { status: 404, json: { error: `revision 99999 is not retained (retained: r0..r${r0 + 4})` } });
  assert.deepEqual(await getJson(where, "/api/diff?from=0"), { status: 400, json: { error: "to is required" } });
  assert.deepEqual(await getJson(where, "/api/diff?from=-1&to=2"), { status: 400, json: { error: "from: -1 is out of range (0..9007199254740991)" } });
  assert.deepEqual(await getJson(where, "/api/history?limit=201"), { status: 400, json: { error: "limit: 201 is out of range (1..200)" } });
  assert.deepEqual((await getJson(where, "/api/info")).json, { revision: r0 + 4, history: { oldest: 0, newest: r0 + 4, commits: r0 + 4, bytes: (await infoBytes()) } });
});

async function infoBytes(): Promise<number> {
  return ((await getJson(where, "/api/info")).json as { history: { bytes: number } }).history.bytes;
}

test("read-only: every method but GET is 405; unknown paths 404; the page and its toolkit are served", async () => {
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "HEAD"]) {
    const a = await http(where, "/api/node?path=/", { method });
    assert.equal(a.status, 405, method);
    assert.equal(a.headers.allow, "GET");
    if (method !== "HEAD") assert.deepEqual(JSON.parse(a.body), { error: `${method} is not allowed: the inspector is read-only` });
  }
  assert.deepEqual(await getJson(where, "/api/nothing"), { status: 404, json: { error: "no such page: /api/nothing" } });
  const page = await http(where, "/");
  assert.equal(page.status, 200);
  assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
  assert.equal(page.body, readFileSync(join(ROOT, "src/inspect/page/index.html"), "utf8"));
  // Scripts only from the server, and the inline import map by its hash.
  assert.match(String(page.headers["content-security-policy"]), /^default-src 'self'; script-src 'self' 'sha256-[A-Za-z0-9+/]+=*'; /);
  const vendored: [string, string][] = [
    ["/vendor/preact.mjs", "node_modules/preact/dist/preact.mjs"],
    ["/vendor/preact-hooks.mjs", "node_modules/preact/hooks/dist/hooks.mjs"],
    ["/vendor/htm.mjs", "node_modules/htm/dist/htm.mjs"],
    ["/vendor/htm-preact.mjs", "node_modules/htm/preact/index.mjs"],
    ["/static/app.js", "dist/src/inspect/page/app.js"],
    ["/static/style.css", "src/inspect/page/style.css"],
  ];
  for (const [url, file] of vendored) {
    const a = await http(where, url);
    assert.equal(a.status, 200, url);
    assert.equal(a.body, readFileSync(join(ROOT, file), "utf8"), url);
  }
  assert.equal((await http(where, "/static/app.js")).headers["content-type"], "text/javascript; charset=utf-8");
});

test("odd requests get an error answer, never harm the daemon", async () => {
  const odd: [string, number][] = [
    ["/api/node?path=%ff%fe", 400],
    ["/api/node?path=/a%00b", 400],
    [`/api/node?path=/${"a".repeat(5000)}`, 400],
    ["/api/node?path=/&offset=99999999999999999999", 400],
    ["/api/node?path=/&offset=1e3", 400],
    ["/api/diff?from=1&to=2&after=relative", 400],
    ["/api/history?domain=4294967296", 400],
    ["/%", 404],
    ["//api/info", 404],
    ["/api/../api/info", 200],
  ];
  for (const [url, status] of odd) assert.equal((await http(where, url)).status, status, url);
  // A path's children past the end: an empty page.
  assert.deepEqual(((await getJson(where, "/api/node?path=/&offset=1000000")).json as { children: unknown[]; more: unknown }).children, []);
  assert.equal(await xs.readString("/t1/text"), "héllo");
});

test("the live feed: commits (who, revision, paths) and the watch events they fired, as Server-Sent Events", async () => {
  const feed = await FeedReader.open(where);
  assert.equal(feed.status, 200);
  const r0 = await revision();
  assert.deepEqual(await feed.take(1), [{ event: "hello", data: { revision: r0 } }]);
  const watcher = await XenStoreClient.connect(daemon.socket);
  try {
    const w = await watcher.watch("/t5", { token: "tok" });
    await w.next();
    await xs.write("/t5/x", "v");
    await w.next();
    const msgs = timeless(await feed.take(3));
    const watcherConn = (msgs[0]!.data as { conn: number }).conn;
    const writerConn = (msgs[1]!.data as { conn: number }).conn;
    assert.deepEqual(msgs, [
      // The first event of a new watch.
      { event: "watch", data: { conn: watcherConn, domid: 0, kind: "socket", path: "/t5", token: "tok" } },
      { event: "commit", data: { revision: r0 + 1, time: 0, domid: 0, conn: writerConn, op: "WRITE", txId: 0, paths: ["/t5", "/t5/x"], pathCount: 2, effects: [] } },
      { event: "watch", data: { conn: watcherConn, domid: 0, kind: "socket", path: "/t5/x", token: "tok" } },
    ]);
    assert.notEqual(watcherConn, writerConn);
    // A change outside the tree says what it did.
    await xs.introduce(8, 1, 2);
    assert.deepEqual(timeless(await feed.take(1)), [
      { event: "commit", data: { revision: r0 + 2, time: 0, domid: 0, conn: writerConn, op: "INTRODUCE", txId: 0, paths: [], pathCount: 0, effects: ["introduce domain 8"] } },
    ]);
    await w.close();
  } finally {
    watcher.close();
    feed.close();
  }
});

test("live feed clients are bounded: the 17th gets 503 until one leaves", async () => {
  const feeds: FeedReader[] = [];
  try {
    for (let i = 0; i < 16; i++) {
      const f = await FeedReader.open(where);
      assert.equal(f.status, 200);
      feeds.push(f);
    }
    assert.deepEqual(await getJson(where, "/api/events"), { status: 503, json: { error: "too many live feed clients (at most 16)" } });
    feeds.pop()!.close();
    let again: FeedReader | null = null;
    for (let i = 0; i < 100 && !again; i++) {
      const f = await FeedReader.open(where);
      if (f.status === 200) again = f;
      else {
        f.close();
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    assert.ok(again, "a feed client is taken again once one left");
    feeds.push(again);
  } finally {
    for (const f of feeds) f.close();
  }
});

test("a live feed client that stops reading is dropped, not buffered for; the daemon carries on", async () => {
  const h = harness();
  const dir = mkdtempSync(join(tmpdir(), "tsxs-inspect-"));
  const inspector = await InspectServer.start(h.x.inspectSource(), { kind: "unix", path: join(dir, "i.sock") }, { buffered: 64 * 1024 });
  try {
    const feed = await FeedReader.open({ socketPath: join(dir, "i.sock") });
    await feed.take(1);
    // Stop reading: the kernel's buffers fill, then the server's.
    feed.stopReading();
    const c = h.socket();
    const long = "x".repeat(200);
    for (let round = 0; round < 2000 && inspector.feed.dropped === 0; round++) {
      const tx = c.start();
      for (let i = 0; i < 32; i++) c.write(`/flood/${long}/${round}/${i}`, "v", tx);
      c.end(tx);
      await turn();
    }
    assert.equal(inspector.feed.dropped, 1);
    assert.equal(inspector.feed.size, 0);
    // Clients that vanish while messages flow are forgotten.
    const gone = await FeedReader.open({ socketPath: join(dir, "i.sock") });
    const stays = await FeedReader.open({ socketPath: join(dir, "i.sock") });
    await Promise.all([gone.take(1), stays.take(1)]);
    for (let round = 0; round < 20; round++) {
      c.write(`/after/${round}`, "v");
      if (round === 5) gone.close();
      await turn();
    }
    await stays.take(20);
    await waitUntil(() => inspector.feed.size === 1, "the vanished client is forgotten");
    stays.close();
    // Requests are served as before.
    assert.equal(h.socket().read(`/flood/${long}/0/0`), "READ v");
    feed.close();
  } finally {
    await inspector.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("TCP: loopback only, and only requests naming a loopback host (no DNS rebinding)", async () => {
  const tcp = await startInspected("127.0.0.1:0");
  try {
    assert.match(tcp.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const port = (tcp.where as { port: number }).port;
    assert.equal((await http(tcp.where, "/api/info", { headers: { host: `localhost:${port}` } })).status, 200);
    assert.equal((await http(tcp.where, "/api/info", { headers: { host: `127.0.0.1:${port}` } })).status, 200);
    const evil = await http(tcp.where, "/api/info", { headers: { host: `attacker.example:${port}` } });
    assert.deepEqual([evil.status, JSON.parse(evil.body)], [421, { error: "this server answers only to a loopback host name" }]);
  } finally {
    await tcp.daemon.stop();
  }
});

test("--inspect ADDR: a Unix socket path or a loopback HOST:PORT; anything else is a start-up error; off by default", () => {
  assert.deepEqual(parseInspectAddress("127.0.0.1:8080"), { kind: "tcp", host: "127.0.0.1", port: 8080 });
  assert.deepEqual(parseInspectAddress("localhost:0"), { kind: "tcp", host: "127.0.0.1", port: 0 });
  assert.deepEqual(parseInspectAddress("::1:8080"), { kind: "tcp", host: "::1", port: 8080 });
  assert.deepEqual(parseInspectAddress("[::1]:8080"), { kind: "tcp", host: "::1", port: 8080 });
  assert.deepEqual(parseInspectAddress("/run/xenstored/inspect"), { kind: "unix", path: "/run/xenstored/inspect" });
  assert.deepEqual(parseInspectAddress("./inspect.sock/x"), { kind: "unix", path: join(process.cwd(), "inspect.sock/x") });
  assert.equal((parseOptions(["-N"], {}) as { inspect: unknown }).inspect, null);
  const bad: [string, string][] = [
    ["0.0.0.0:8080", '"0.0.0.0" is not a loopback address: the inspector listens only on 127.0.0.1, ::1, localhost or a Unix socket'],
    ["192.168.1.10:80", '"192.168.1.10" is not a loopback address: the inspector listens only on 127.0.0.1, ::1, localhost or a Unix socket'],
    ["example.com:80", '"example.com" is not a loopback address: the inspector listens only on 127.0.0.1, ::1, localhost or a Unix socket'],
    ["8080", '"8080" is neither a socket path (with a "/") nor HOST:PORT'],
    ["127.0.0.1:http", '"http" is not a port (0 to 65535; 0 picks a free one)'],
    ["127.0.0.1:65536", '"65536" is not a port (0 to 65535; 0 picks a free one)'],
  ];
  for (const [addr, why] of bad) {
    const r = spawnSync(process.execPath, [BIN, "-N", "--inspect", addr], { env: cleanEnv({ XENSTORED_RUNDIR: sockDir }), encoding: "utf8", timeout: 15000 });
    assert.deepEqual([r.status, r.stderr], [2, `tsxenstored: --inspect: ${why}\nTry 'tsxenstored --help' for more information.\n`], addr);
  }
  // A socket another inspector answers on is not taken over.
  const inUse = join(sockDir, "inspect.sock");
  const rundir = mkdtempSync(join(tmpdir(), "tsxs-inspect-"));
  const r = spawnSync(process.execPath, [BIN, "-N", "--inspect", inUse], { env: cleanEnv({ XENSTORED_RUNDIR: rundir }), encoding: "utf8", timeout: 15000 });
  rmSync(rundir, { recursive: true, force: true });
  assert.deepEqual([r.status, r.stderr.split("\n").filter((l) => !l.includes("no hypervisor"))], [1, [`tsxenstored: cannot start: inspector: ${inUse} is in use`, ""]]);
});
