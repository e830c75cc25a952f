/**
 * `tsxs top` and the CONTROL stats it reads: a frame drawn from two samples
 * (rates without top's own requests), CONTROL stats paged by domid within
 * one packet each, and `tsxs top --once` (and `--once --json`) against a
 * daemon in a known state, compared exactly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { XenStoreClient } from "../src/client/index.js";
import { renderFrame, type DomainRow, type Sample, type Stats } from "../src/cli/top.js";
import { Op, PAYLOAD_MAX } from "../src/protocol/messages.js";
import { ROOT, runWith, startTsxenstored, XEN_BIN } from "./helpers/daemon.js";
import { harness } from "./helpers/inproc.js";

const TSXS = join(ROOT, "bin/tsxs");
const QUOTA = { nodes: 1000, watches: 128, memory: 2621440, outstanding: 20, transactions: 10 };
const NONE = { nodes: 0, watches: 0, memory: 0, outstanding: 0, transactions: 0 };

function row(domid: number, o: Partial<DomainRow> = {}): DomainRow {
  const privileged = domid === 0;
  return { domid, introduced: true, privileged, nodes: 0, watches: 0, memory: 0, outstanding: 0, transactions: 0, conflicts: 0, requests: 0, quota: privileged ? NONE : QUOTA, ...o };
}

function stats(o: Partial<Stats>): Stats {
  return {
    time: 0,
    started: 0,
    revision: 10,
    nodes: 20,
    requests: 0,
    commits: 10,
    conflicts: 1,
    events: 3,
    eventsDropped: 0,
    cutOff: 0,
    ringFull: 0,
    memoryStalls: 0,
    connections: { socket: 2, domain: 1 },
    watches: 1,
    transactions: 0,
    history: { oldest: 0, newest: 10, revisions: 10, bytes: 5000 },
    quotas: QUOTA,
    domains: [],
    ...o,
  };
}

test("a frame: totals, one row per domain against its quotas, requests per second from two samples without top's own", () => {
  const prev: Sample = {
    at: 1000,
    extra: 1,
    stats: stats({ requests: 100, domains: [row(0, { requests: 60 }), row(3, { requests: 40 })] }),
  };
  const cur: Sample = {
    at: 3000,
    extra: 1,
    stats: stats({
      requests: 162,
      domains: [
        row(0, { requests: 82, nodes: 17, watches: 1, memory: 900 }),
        row(3, { requests: 80, nodes: 999, watches: 2, memory: 1536, outstanding: 2, transactions: 1, conflicts: 4 }),
        row(7, { quota: { ...QUOTA, memory: 0 }, memory: 3 * 1024 * 1024 }),
      ],
    }),
  };
  // 62 more requests in 2 s, 2 of them ours (prev's second page, cur's first): 30/s; dom0's 22 - 2 = 20 in 2 s: 10/s.
  assert.equal(
    renderFrame(prev, cur),
    [
      "tsxenstored  revision 10  nodes 20  connections 3 (2 socket, 1 domain)  watches 1  transactions 0",
      "requests 162 (30.0/s)  commits 10  conflicts 1  events 3 sent, 0 dropped  cut off 0  stalls 0 ring, 0 memory",
      "history r0..r10 (10 commits, ~4.9 KiB)",
      "",
      "DOMID  NODES     WATCHES  MEMORY           OUTST  TX  EAGAIN  REQ/S",
      "    0  17/-      1/-      900 B/-              0   0       0   10.0",
      "    3  999/1000  2/128    1.5 KiB/2.5 MiB      2   1       4   20.0",
      "    7  0/1000    0/128    3.0 MiB/-            0   0       0      -",
      "",
    ].join("\n"),
  );
  // Without a previous sample there are no rates; rows beyond the room are summed up.
  assert.equal(
    renderFrame(null, cur, 0, 2).split("\n").slice(1, 2).concat(renderFrame(null, cur, 0, 2).split("\n").slice(4)).join("\n"),
    [
      "requests 162 (-/s)  commits 10  conflicts 1  events 3 sent, 0 dropped  cut off 0  stalls 0 ring, 0 memory",
      "DOMID  NODES  WATCHES  MEMORY   OUTST  TX  EAGAIN  REQ/S",
      "    0  17/-   1/-      900 B/-      0   0       0      -",
      "... 2 more domains",
      "",
    ].join("\n"),
  );
});

test("CONTROL stats: pages of one packet each, following --after, cover every domain once", () => {
  const h = harness();
  const quotas = h.x.quotas;
  quotas.set("nodes", 5, 42);
  for (let d = 1; d <= 80; d++) h.domain(d);
  const dom0 = h.socket();
  const seen: number[] = [];
  let after: string[] = [];
  let pages = 0;
  for (;;) {
    const reply = dom0.req(Op.CONTROL, ["stats", ...after]);
    assert.ok(reply.startsWith("CONTROL {") && reply.endsWith("}\0"), reply);
    const body = reply.slice("CONTROL ".length, -1);
    assert.ok(body.length + 1 <= PAYLOAD_MAX);
    const page = JSON.parse(body) as { domains: { domid: number; quota?: unknown }[]; more?: { after: number }; quotas: unknown };
    pages++;
    assert.deepEqual(page.quotas, QUOTA);
    for (const d of page.domains) {
      seen.push(d.domid);
      // A row has its own quotas only where they differ: dom0's (none) and domain 42's.
      if (d.domid === 0) assert.deepEqual(d.quota, NONE);
      else if (d.domid === 42) assert.deepEqual(d.quota, { ...QUOTA, nodes: 5 });
      else assert.equal(d.quota, undefined);
    }
    if (!page.more) break;
    assert.equal(page.more.after, seen[seen.length - 1]);
    after = ["--after", String(page.more.after)];
  }
  assert.deepEqual(
    seen,
    Array.from({ length: 81 }, (_, i) => i),
  );
  assert.ok(pages > 2, `${pages} pages`);
  assert.equal(dom0.req(Op.CONTROL, ["stats", "--after"]), "ERROR EINVAL\0");
  assert.equal(dom0.req(Op.CONTROL, ["stats", "--after", "x"]), "ERROR EINVAL\0");
  assert.equal(dom0.req(Op.CONTROL, ["stats", "extra"]), "ERROR EINVAL\0");
  // Unlisted in help, as history: the help text stays cx's.
  assert.doesNotMatch(dom0.req(Op.CONTROL, ["help"]), /stats/);
  // Only the control domain may ask.
  assert.equal(h.domain(3).req(Op.CONTROL, ["stats"]), "ERROR EACCES\0");
});

test("tsxs top --once and --once --json against a daemon in a known state", async (t) => {
  const d = await startTsxenstored(["--durability", "off", "-Q", "memory=100000"]);
  const xs = await XenStoreClient.connect(d.socket);
  const other = await XenStoreClient.connect(d.socket);
  t.after(async () => {
    xs.close();
    other.close();
    await d.stop();
  });
  await xs.write("/vm/a", "1");
  await xs.introduce(5, 0, 3);
  await xs.write("/local/domain/5/x", "hello");
  await xs.setPerms("/local/domain/5/x", ["n5"]);
  await xs.introduce(9, 0, 4);
  // One conflict for dom0.
  const tx = await xs.startTransaction();
  await tx.read("/vm/a");
  await other.write("/vm/a", "2");
  assert.equal(await tx.end(true), false);
  const w = await xs.watch("/vm", { token: "t" });
  await w.next();

  const json = runWith(d.socket, process.execPath, [TSXS, "top", "--once", "--json"]);
  assert.equal(json.status, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as Record<string, unknown>;
  assert.ok(typeof doc.time === "number" && typeof doc.started === "number" && (doc.started as number) <= (doc.time as number));
  delete doc.time;
  delete doc.started;
  const quota = { nodes: 1000, watches: 128, memory: 100000, outstanding: 20, transactions: 10 };
  // Commits: 2 writes by xs, 2 INTRODUCEs, a SET_PERMS, other's write (the transaction's failed). Nodes: the
  // 3 of a fresh store (/, /tool, /tool/xenstored), /vm, /vm/a, /local, /local/domain, /local/domain/5 and its
  // x (domain 5's). Requests: xs's 9, other's 1, and this one.
  assert.deepEqual(doc, {
    revision: 6,
    nodes: 9,
    requests: 11,
    commits: 6,
    conflicts: 1,
    events: 1,
    eventsDropped: 0,
    cutOff: 0,
    ringFull: 0,
    memoryStalls: 0,
    connections: { socket: 3, domain: 0 },
    watches: 1,
    transactions: 0,
    history: { oldest: 0, newest: 6, revisions: 6, bytes: 549 },
    quotas: quota,
    domains: [
      { domid: 0, introduced: true, privileged: true, nodes: 8, watches: 1, memory: 361, outstanding: 0, transactions: 0, conflicts: 1, requests: 11, quota: NONE },
      { domid: 5, introduced: true, privileged: false, nodes: 1, watches: 0, memory: 54, outstanding: 0, transactions: 0, conflicts: 0, requests: 0, quota },
      { domid: 9, introduced: true, privileged: false, nodes: 0, watches: 0, memory: 0, outstanding: 0, transactions: 0, conflicts: 0, requests: 0, quota },
    ],
  });

  const once = runWith(d.socket, process.execPath, [TSXS, "top", "--once", "--interval", "0.2"]);
  assert.equal(once.status, 0, once.stderr);
  assert.equal(
    once.stdout,
    [
      "tsxenstored  revision 6  nodes 9  connections 3 (3 socket, 0 domain)  watches 1  transactions 0",
      // The --json run's request, and this run's two samples; its own are not in the rate.
      "requests 13 (0.0/s)  commits 6  conflicts 1  events 1 sent, 0 dropped  cut off 0  stalls 0 ring, 0 memory",
      "history r0..r6 (6 commits, ~549 B)",
      "",
      "DOMID  NODES   WATCHES  MEMORY         OUTST  TX  EAGAIN  REQ/S",
      "    0  8/-     1/-      361 B/-            0   0       1    0.0",
      "    5  1/1000  0/128    54 B/97.7 KiB      0   0       0    0.0",
      "    9  0/1000  0/128    0 B/97.7 KiB       0   0       0    0.0",
      "",
    ].join("\n"),
  );

  // The upstream tool shows the same document.
  const cx = runWith(d.socket, join(XEN_BIN, "xenstore-control"), ["stats"]);
  assert.equal(cx.status, 0, cx.stderr);
  assert.equal((JSON.parse(cx.stdout) as { revision: number }).revision, 6);

  const bad = runWith(d.socket, process.execPath, [TSXS, "top", "--json"]);
  assert.deepEqual([bad.status, bad.stderr.split("\n")[0]], [2, "tsxs top: --json goes with --once"]);
  const bad2 = runWith(d.socket, process.execPath, [TSXS, "top", "--interval", "0"]);
  assert.deepEqual([bad2.status, bad2.stderr.split("\n")[0]], [2, 'tsxs top: bad interval "0" (seconds, 0.1 to 3600)']);
});
