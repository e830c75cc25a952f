/**
 * `--metrics`: the daemon started with it serves Prometheus text over HTTP
 * (a loopback port or a Unix socket); requests of several ops and results,
 * a transaction conflict, watch events, a guest domain (through its ring on
 * an emulated host) and its quota hit show as exact counter values in the
 * scraped and parsed text. Addresses other than a Unix socket or loopback
 * are refused at start.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { get } from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { XenStoreClient, XsError } from "../src/client/index.js";
import { parseOptions, UsageError } from "../src/daemon/options.js";
import { describeAddress, parseMetricsAddress } from "../src/metrics/address.js";
import { DaemonMetrics } from "../src/metrics/prometheus.js";
import { EmulatedHypervisor } from "../src/hypervisor/emulated.js";
import { Xenstored } from "../src/server/xenstored.js";
import { BIN, startTsxenstored } from "./helpers/daemon.js";
import { emulationUnavailable, startEmulatedHost, startGuest } from "./helpers/emulated.js";
import { tempDir, waitUntil } from "./helpers/proc.js";

/** One sample: `name{a="x",b="y"}` (labels sorted) → value. */
type Samples = Map<string, number>;

/** A small parser of the Prometheus text format (what a scraper does): samples, and each metric's TYPE. */
function parsePrometheus(text: string): { samples: Samples; types: Map<string, string> } {
  const samples: Samples = new Map();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: string[] = [];
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels.push(`${l[1]}="${l[2]}"`);
    labels.sort();
    samples.set(labels.length ? `${m[1]}{${labels.join(",")}}` : m[1]!, Number(m[3]));
  }
  return { samples, types };
}

/** GET a path over HTTP, on a TCP URL's host and port or a Unix socket. */
function httpGet(target: { url: string } | { socketPath: string }, path = "/metrics", method = "GET"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const opts = "url" in target ? { ...new URL(target.url), hostname: new URL(target.url).hostname.replace(/^\[|\]$/g, ""), port: new URL(target.url).port } : { socketPath: target.socketPath };
    const req = get({ ...opts, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
  });
}

async function scrape(target: { url: string } | { socketPath: string }): Promise<Samples> {
  const r = await httpGet(target);
  assert.equal(r.status, 200);
  assert.equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
  return parsePrometheus(r.body).samples;
}

/** What changed between two scrapes, for the samples named (missing counts as 0). */
function delta(before: Samples, after: Samples, names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (after.get(n) ?? 0) - (before.get(n) ?? 0);
  return out;
}

function only(samples: Samples, prefix: string): Record<string, number> {
  return Object.fromEntries([...samples].filter(([k]) => k.startsWith(prefix)));
}

test("--metrics accepts a Unix socket path or a loopback HOST:PORT, and nothing else", () => {
  assert.deepEqual(parseMetricsAddress("/run/xs/metrics.sock"), { kind: "unix", path: "/run/xs/metrics.sock" });
  assert.deepEqual(parseMetricsAddress("127.0.0.1:9100"), { kind: "tcp", host: "127.0.0.1", port: 9100 });
  assert.deepEqual(parseMetricsAddress("[::1]:9100"), { kind: "tcp", host: "::1", port: 9100 });
  assert.deepEqual(parseMetricsAddress("::1:9100"), { kind: "tcp", host: "::1", port: 9100 });
  assert.deepEqual(parseMetricsAddress("localhost:0"), { kind: "tcp", host: "127.0.0.1", port: 0 });
  assert.equal(describeAddress({ kind: "tcp", host: "::1", port: 9100 }), "http://[::1]:9100/metrics");
  const refused = (addr: string): string => {
    try {
      parseOptions(["--metrics", addr], {});
    } catch (e) {
      assert.ok(e instanceof UsageError);
      return e.message;
    }
    return "accepted";
  };
  assert.equal(refused("0.0.0.0:9100"), '--metrics 0.0.0.0:9100: the host must be loopback (127.0.0.1, ::1 or localhost), not "0.0.0.0"');
  assert.equal(refused("192.168.1.2:9100"), '--metrics 192.168.1.2:9100: the host must be loopback (127.0.0.1, ::1 or localhost), not "192.168.1.2"');
  assert.equal(refused(":9100"), '--metrics :9100: the host must be loopback (127.0.0.1, ::1 or localhost), not ""');
  assert.equal(refused("127.0.0.1:99999"), '--metrics 127.0.0.1:99999: bad port "99999"');
  assert.equal(refused("127.0.0.1:http"), '--metrics 127.0.0.1:http: bad port "http"');
  assert.equal(refused("metrics.sock"), "--metrics metrics.sock: expected a Unix socket path (containing /) or HOST:PORT on loopback (127.0.0.1, ::1, localhost)");
  // Off by default.
  const opts = parseOptions([], {});
  assert.ok(typeof opts === "object" && "metrics" in opts);
  assert.equal(opts.metrics, null);
});

test("tsxenstored --metrics on a non-loopback address exits 2 before starting, saying why", () => {
  const dir = tempDir();
  const r = spawnSync(process.execPath, [BIN, "-N", "--metrics", "0.0.0.0:9100"], { env: { ...process.env, XENSTORED_RUNDIR: dir, XENSTORED_PATH: join(dir, "socket") }, encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.equal(
    r.stderr,
    `tsxenstored: --metrics 0.0.0.0:9100: the host must be loopback (127.0.0.1, ::1 or localhost), not "0.0.0.0"\nTry 'tsxenstored --help' for more information.\n`,
  );
});

test("GET /metrics on a loopback port: requests by op and result, a conflict, watch events, commits, as exact counts", async (t) => {
  const d = await startTsxenstored(["--metrics", "127.0.0.1:0", "--durability", "off"]);
  const a = await XenStoreClient.connect(d.socket);
  const b = await XenStoreClient.connect(d.socket);
  t.after(async () => {
    a.close();
    b.close();
    await d.stop();
  });
  // Said once the listener is bound (just after the xenstore sockets accept).
  await waitUntil(() => /metrics on http/.test(d.output()), "the metrics address on stderr");
  const url = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(d.output())![1]!;
  const target = { url };
  // Only /metrics, only GET and HEAD.
  assert.deepEqual(await httpGet(target, "/"), { status: 404, type: "text/plain", body: "not found: try /metrics\n" });
  assert.deepEqual(await httpGet(target, "/metrics", "POST"), { status: 405, type: "text/plain", body: "method not allowed\n" });
  const head = await httpGet(target, "/metrics", "HEAD");
  assert.deepEqual([head.status, head.body], [200, ""]);

  const text = (await httpGet(target)).body;
  const { types } = parsePrometheus(text);
  for (const [name, type] of [
    ["xenstored_requests_total", "counter"],
    ["xenstored_request_duration_seconds", "histogram"],
    ["xenstored_commits_total", "counter"],
    ["xenstored_transaction_conflicts_total", "counter"],
    ["xenstored_watch_events_sent_total", "counter"],
    ["xenstored_watch_events_dropped_total", "counter"],
    ["xenstored_connections", "gauge"],
    ["xenstored_connections_closed_total", "counter"],
    ["xenstored_ring_stalls_total", "counter"],
    ["xenstored_quota_hits_total", "counter"],
    ["xenstored_domain_nodes", "gauge"],
    ["xenstored_domain_watches", "gauge"],
    ["xenstored_domain_memory_bytes", "gauge"],
    ["xenstored_domain_memory_limit_bytes", "gauge"],
    ["xenstored_store_nodes", "gauge"],
    ["xenstored_store_subtrees_packed_total", "counter"],
    ["xenstored_idle_polls_total", "counter"],
    ["xenstored_idle_poll_hits_total", "counter"],
    ["xenstored_idle_poll_seconds_total", "counter"],
    ["xenstored_store_packed_bytes_total", "counter"],
    ["xenstored_history_revisions", "gauge"],
    ["xenstored_history_retained_bytes", "gauge"],
    ["process_resident_memory_bytes", "gauge"],
    ["nodejs_heap_size_used_bytes", "gauge"],
  ] as const) {
    assert.equal(types.get(name), type, name);
  }

  const before = await scrape(target);
  await a.write("/t/a", "1");
  await a.write("/t/b", "2");
  await a.write("/t/a", "3");
  await assert.rejects(a.read("/t/missing"), (e: unknown) => e instanceof XsError && e.errno === "ENOENT");
  assert.equal(await a.readString("/t/a"), "3");
  // A conflict: the transaction read /t/a, b changed it before the commit.
  const tx = await a.startTransaction();
  assert.equal(await tx.readString("/t/a"), "3");
  await b.write("/t/a", "4");
  assert.equal(await tx.end(true), false);
  // A watch: its first event, and one for a write under it.
  const w = await b.watch("/t/w", { token: "tok" });
  assert.equal((await w.next()).path, "/t/w");
  await a.write("/t/w/x", "1");
  assert.equal((await w.next()).path, "/t/w/x");
  const after = await scrape(target);

  assert.deepEqual(
    delta(before, after, [
      'xenstored_requests_total{op="WRITE",result="ok"}',
      'xenstored_requests_total{op="READ",result="ok"}',
      'xenstored_requests_total{op="READ",result="ENOENT"}',
      'xenstored_requests_total{op="TRANSACTION_START",result="ok"}',
      'xenstored_requests_total{op="TRANSACTION_END",result="EAGAIN"}',
      'xenstored_requests_total{op="WATCH",result="ok"}',
      "xenstored_commits_total",
      "xenstored_transaction_conflicts_total",
      "xenstored_watch_events_sent_total",
      "xenstored_watch_events_dropped_total",
      "xenstored_store_revision",
      "xenstored_history_revisions",
    ]),
    {
      'xenstored_requests_total{op="WRITE",result="ok"}': 5,
      'xenstored_requests_total{op="READ",result="ok"}': 2,
      'xenstored_requests_total{op="READ",result="ENOENT"}': 1,
      'xenstored_requests_total{op="TRANSACTION_START",result="ok"}': 1,
      'xenstored_requests_total{op="TRANSACTION_END",result="EAGAIN"}': 1,
      'xenstored_requests_total{op="WATCH",result="ok"}': 1,
      "xenstored_commits_total": 5,
      "xenstored_transaction_conflicts_total": 1,
      "xenstored_watch_events_sent_total": 2,
      "xenstored_watch_events_dropped_total": 0,
      "xenstored_store_revision": 5,
      "xenstored_history_revisions": 5,
    },
  );
  // One request in 16 is timed: with 32 more, 2 of the 43 so far; each op's histogram is consistent.
  for (let i = 0; i < 32; i++) await a.write(`/t/many/${i % 4}`, String(i));
  const timed = parsePrometheus((await httpGet(target)).body).samples;
  const total = [...timed].filter(([k]) => k.startsWith("xenstored_requests_total{")).reduce((n, [, v]) => n + v, 0);
  assert.equal(total, 43);
  const counts = [...timed].filter(([k]) => k.startsWith("xenstored_request_duration_seconds_count{"));
  assert.equal(
    counts.reduce((n, [, v]) => n + v, 0),
    Math.floor(total / 16),
  );
  for (const [k, count] of counts) {
    const op = /op="([A-Z_]+)"/.exec(k)![1]!;
    const buckets = [...timed].filter(([b]) => b.startsWith("xenstored_request_duration_seconds_bucket{") && b.includes(`op="${op}"`));
    assert.equal(timed.get(`xenstored_request_duration_seconds_bucket{le="+Inf",op="${op}"}`), count);
    assert.ok(buckets.length === 15 && buckets.every(([, v]) => v <= count));
    assert.ok(timed.get(`xenstored_request_duration_seconds_sum{op="${op}"}`)! > 0);
  }
  // A fresh daemon: these are its whole life (before the 32 writes).
  assert.deepEqual(only(after, "xenstored_requests_total"), {
    'xenstored_requests_total{op="READ",result="ENOENT"}': 1,
    'xenstored_requests_total{op="READ",result="ok"}': 2,
    'xenstored_requests_total{op="TRANSACTION_END",result="EAGAIN"}': 1,
    'xenstored_requests_total{op="TRANSACTION_START",result="ok"}': 1,
    'xenstored_requests_total{op="WATCH",result="ok"}': 1,
    'xenstored_requests_total{op="WRITE",result="ok"}': 5,
  });
  assert.deepEqual(only(after, "xenstored_connections{"), { 'xenstored_connections{kind="domain"}': 0, 'xenstored_connections{kind="socket"}': 2 });
  // The 3 nodes of a fresh store, and /t, /t/a, /t/b, /t/w, /t/w/x: all dom0's (no quota: no limit series).
  assert.equal(after.get("xenstored_store_nodes"), 8);
  assert.equal(after.get('xenstored_domain_nodes{domid="0"}'), 8);
  assert.equal(after.get('xenstored_domain_watches{domid="0"}'), 1);
  assert.equal(after.get('xenstored_domain_nodes_limit{domid="0"}'), undefined);
  assert.ok(after.get("process_resident_memory_bytes")! > 0);
});

const skipGuest = emulationUnavailable() ?? false;

test("--metrics on a Unix socket: a guest domain through its ring, its quota hit, and its release", { skip: skipGuest }, async (t) => {
  const metricsSock = join(tempDir(), "metrics.sock");
  const host = await startEmulatedHost("tsxenstored", ["--metrics", metricsSock, "-Q", "watches=1"]);
  t.after(() => host.stop());
  const target = { socketPath: metricsSock };
  const g = await startGuest(host, 5);
  t.after(() => g.stop());
  const guest = await XenStoreClient.connect(g.socket);
  t.after(() => guest.close());
  {
    const before = await scrape(target);
    assert.equal(await guest.readString("name"), "guest5");
    const w = await guest.watch("data", { token: "one" });
    await w.next();
    await assert.rejects(guest.watch("name", { token: "two" }), (e: unknown) => e instanceof XsError && e.errno === "ENOSPC");
    await guest.write("data/x", "1");
    await w.next();
    const after = await scrape(target);
    assert.deepEqual(
      delta(before, after, [
        'xenstored_requests_total{op="READ",result="ok"}',
        'xenstored_requests_total{op="WATCH",result="ok"}',
        'xenstored_requests_total{op="WATCH",result="ENOSPC"}',
        'xenstored_requests_total{op="WRITE",result="ok"}',
        'xenstored_quota_hits_total{kind="hard",quota="watches"}',
        "xenstored_watch_events_sent_total",
      ]),
      {
        'xenstored_requests_total{op="READ",result="ok"}': 1,
        'xenstored_requests_total{op="WATCH",result="ok"}': 1,
        'xenstored_requests_total{op="WATCH",result="ENOSPC"}': 1,
        'xenstored_requests_total{op="WRITE",result="ok"}': 1,
        'xenstored_quota_hits_total{kind="hard",quota="watches"}': 1,
        "xenstored_watch_events_sent_total": 2,
      },
    );
    assert.equal(after.get("xenstored_domains_introduced_total"), 1);
    // dom0's kernel ring (the emulated host's own) and the guest's.
    assert.equal(after.get('xenstored_connections{kind="domain"}'), 2);
    assert.equal(after.get('xenstored_domain_watches{domid="5"}'), 1);
    assert.equal(after.get('xenstored_domain_watches_limit{domid="5"}'), 1);
    assert.equal(after.get('xenstored_domain_nodes_limit{domid="5"}'), 1000);
    assert.equal(after.get('xenstored_domain_memory_limit_bytes{domid="5"}'), 2621440);
    // What it accounts for matches CONTROL quota 5 (cx's figures).
    const xs = await XenStoreClient.connect(host.socket);
    try {
      const usage = await xs.control("quota", "5");
      const figure = (k: string): number => Number(new RegExp(`${k}\\s*:\\s*(\\d+)`).exec(usage)![1]);
      assert.equal(after.get('xenstored_domain_nodes{domid="5"}'), figure("nodes"));
      // The 7 nodes of its home tsxs-guest made for it (the guest's, as libxl makes them), and data/x.
      assert.equal(figure("nodes"), 8);
      assert.equal(after.get('xenstored_domain_memory_bytes{domid="5"}'), figure("memory"));
    } finally {
      xs.close();
    }
    guest.close();
    await g.stop();
    // The daemon sees it die (VIRQ_DOM_EXC) and releases it.
    let gone = after;
    for (let i = 0; i < 400 && (gone.get("xenstored_domains_released_total") ?? 0) === 0 && ![...gone.keys()].some((k) => k.startsWith("xenstored_domains_released_total{")); i++) {
      await new Promise((r) => setTimeout(r, 25));
      gone = await scrape(target);
    }
    assert.equal(gone.get('xenstored_domains_released_total{reason="gone"}'), 1);
    assert.equal(gone.get('xenstored_domain_nodes{domid="5"}'), undefined);
    assert.equal(gone.get('xenstored_connections{kind="domain"}'), 1);
  }
});


test("the packing of cold subtrees is counted: subtrees, bytes and packed leaves so far, 0 before it runs", async () => {
  const x = new Xenstored({ hypervisor: new EmulatedHypervisor("0-15"), contention: false });
  let totals: { units: number; bytes: number; passes: number; walks: number; leaves: number } | null = null;
  const m = new DaemonMetrics(x, { processMetrics: false, packing: () => totals });
  const read = async (): Promise<string[]> => (await m.registry.metrics()).split("\n").filter((l) => /^xenstored_store_(subtrees_packed|packed_bytes|leaves_packed)_total /.test(l));
  assert.deepEqual(await read(), ["xenstored_store_subtrees_packed_total 0", "xenstored_store_packed_bytes_total 0", "xenstored_store_leaves_packed_total 0"]);
  totals = { units: 3, bytes: 1234, passes: 5, walks: 2, leaves: 7 };
  assert.deepEqual(await read(), ["xenstored_store_subtrees_packed_total 3", "xenstored_store_packed_bytes_total 1234", "xenstored_store_leaves_packed_total 7"]);
});

test("idle polling is counted: polls, those that met a request, seconds spent; 0 without the addon", async () => {
  const x = new Xenstored({ hypervisor: new EmulatedHypervisor("0-15"), contention: false });
  let stats: { spins: number; hits: number; spunSeconds: number } | null = null;
  const m = new DaemonMetrics(x, { processMetrics: false, idlePoll: () => stats });
  const read = async (): Promise<string[]> => (await m.registry.metrics()).split("\n").filter((l) => /^xenstored_idle_poll/.test(l));
  assert.deepEqual(await read(), ["xenstored_idle_polls_total 0", "xenstored_idle_poll_hits_total 0", "xenstored_idle_poll_seconds_total 0"]);
  stats = { spins: 7, hits: 5, spunSeconds: 0.25 };
  assert.deepEqual(await read(), ["xenstored_idle_polls_total 7", "xenstored_idle_poll_hits_total 5", "xenstored_idle_poll_seconds_total 0.25"]);
});
