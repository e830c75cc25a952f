/**
 * The structured log (--log-file, --log-level): each notable event makes
 * exactly one JSON line with the expected fields. In-process (a fixed
 * clock, so whole lines are compared): a domain introduced, shut down,
 * released and gone, a quota hit (and the next ones within 10 s held back
 * and counted), connections cut off for an oversize packet and for unread
 * output, a guest's broken ring; the level filter. Against the real daemon: start, stop, recovery,
 * and the options' errors.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { XenStoreClient } from "../src/client/index.js";
import type { DomainState, Hypervisor } from "../src/hypervisor/hypervisor.js";
import { JsonLog } from "../src/metrics/log.js";
import { HEADER_SIZE, Op } from "../src/protocol/messages.js";
import { Quotas } from "../src/quota/quotas.js";
import { Notices, type NoticeLevel } from "../src/util/notices.js";
import { BIN, startTsxenstored } from "./helpers/daemon.js";
import { harness } from "./helpers/inproc.js";
import { tempDir, waitUntil } from "./helpers/proc.js";
import { Field, MemoryHypervisor, ringsUnavailable } from "./helpers/ring-host.js";

const T0 = Date.UTC(2026, 0, 1);

/** A hypervisor whose domains' states the test sets. */
function hypervisor(): Hypervisor & { states: Map<number, DomainState> } {
  const states = new Map<number, DomainState>([[0, { shutdown: false, dying: false }]]);
  return {
    description: "test",
    rings: null,
    states,
    domainExists: (d) => states.has(d),
    domainState: (d) => states.get(d) ?? null,
  };
}

/** An in-process daemon whose notices go to a JSON log in a file, at `level`, with a clock the test moves. */
function logged(level: NoticeLevel, quotas = new Quotas(), outputLimit?: { bytes: number; packets: number }) {
  const file = join(tempDir(), "log.json");
  let now = T0;
  const log = new JsonLog(file, level, () => now);
  const notices = new Notices();
  log.attach(notices);
  const hv = hypervisor();
  const h = harness({ hypervisor: hv, notices, quotas, outputLimit });
  let consumed = 0;
  return {
    h,
    hv,
    advance(ms: number) {
      now += ms;
    },
    /** The lines written so far, and forget them. */
    lines(): string[] {
      const text = readFileSync(file, "utf8");
      const seen = text.split("\n").filter((l) => l !== "");
      const fresh = seen.slice(consumed);
      consumed = seen.length;
      return fresh;
    },
  };
}

const at = (ms: number): string => new Date(T0 + ms).toISOString();

test("domains introduced, shut down, released and gone: one line each, with their fields", () => {
  const { h, hv, lines } = logged("info");
  const dom0 = h.socket();
  hv.states.set(5, { shutdown: false, dying: false });
  hv.states.set(6, { shutdown: false, dying: false });
  assert.equal(dom0.req(Op.INTRODUCE, ["5", "1234", "7"]), "INTRODUCE OK\0");
  assert.equal(dom0.req(Op.INTRODUCE, ["6", "99", "8"]), "INTRODUCE OK\0");
  // Introduced again on the same port: nothing new.
  assert.equal(dom0.req(Op.INTRODUCE, ["5", "1234", "7"]), "INTRODUCE OK\0");
  assert.equal(dom0.req(Op.INTRODUCE, ["5", "1234", "9"]), "INTRODUCE OK\0");
  assert.equal(dom0.write("/local/domain/5/a", "1"), "WRITE OK\0");
  assert.equal(dom0.setPerms("/local/domain/5/a", ["b5"]), "SET_PERMS OK\0");
  assert.equal(dom0.req(Op.RELEASE, ["5"]), "RELEASE OK\0");
  hv.states.set(6, { shutdown: true, dying: false });
  h.x.lifecycle.checkDomains();
  hv.states.delete(6);
  h.x.lifecycle.checkDomains();
  assert.deepEqual(lines(), [
    `{"level":"info","time":"${at(0)}","domid":5,"mfn":"1234","port":7,"conn":1,"event":"domain-introduced"}`,
    `{"level":"info","time":"${at(0)}","domid":6,"mfn":"99","port":8,"conn":1,"event":"domain-introduced"}`,
    `{"level":"info","time":"${at(0)}","domid":5,"port":9,"conn":1,"event":"domain-rebound"}`,
    `{"level":"info","time":"${at(0)}","domid":5,"reason":"release","nodes":1,"conn":1,"event":"domain-released"}`,
    `{"level":"info","time":"${at(0)}","domid":6,"event":"domain-shutdown"}`,
    `{"level":"info","time":"${at(0)}","domid":6,"reason":"gone","nodes":0,"conn":0,"event":"domain-released"}`,
  ]);
});

test("a quota hit is logged once per domain and quota every 10 s; the next line says how many were held back", () => {
  const quotas = new Quotas();
  quotas.set("watches", 1);
  quotas.set("transactions", 1);
  const { h, lines, advance } = logged("info", quotas);
  const g = h.domain(5);
  assert.equal(g.watch("/local/domain/5/a", "1"), "WATCH OK\0");
  assert.equal(g.watch("/local/domain/5/b", "2"), "ERROR ENOSPC\0");
  assert.equal(g.watch("/local/domain/5/c", "3"), "ERROR ENOSPC\0");
  assert.ok(g.start() > 0);
  // Another quota: its own line.
  assert.equal(g.req(Op.TRANSACTION_START, ""), "ERROR ENOSPC\0");
  advance(9_999);
  assert.equal(g.watch("/local/domain/5/d", "4"), "ERROR ENOSPC\0");
  advance(1);
  assert.equal(g.watch("/local/domain/5/e", "5"), "ERROR ENOSPC\0");
  // dom0 has no quota.
  const dom0 = h.socket();
  assert.equal(dom0.watch("/a", "1"), "WATCH OK\0");
  assert.equal(dom0.watch("/b", "2"), "WATCH OK\0");
  assert.deepEqual(lines(), [
    `{"level":"warn","time":"${at(0)}","domid":5,"quota":"watches","kind":"hard","limit":1,"action":"refused","op":"WATCH","event":"quota-hit"}`,
    `{"level":"warn","time":"${at(0)}","domid":5,"quota":"transactions","kind":"hard","limit":1,"action":"refused","op":"TRANSACTION_START","event":"quota-hit"}`,
    `{"level":"warn","time":"${at(10_000)}","domid":5,"quota":"watches","kind":"hard","limit":1,"action":"refused","op":"WATCH","suppressed":2,"event":"quota-hit"}`,
  ]);
});

test("connections cut off: an oversize packet, unread output; --log-level warn leaves info out", () => {
  const { h, lines } = logged("warn", new Quotas(), { bytes: 1 << 20, packets: 3 });
  const dom0 = h.socket();
  h.domain(7);
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32LE(Op.READ, 0);
  header.writeUInt32LE(5000, 12);
  dom0.raw(header);
  assert.equal(dom0.closed, true);
  // A client that stops reading while the events of its watch pile up.
  const slow = h.socket();
  assert.equal(slow.watch("/w", "t"), "WATCH OK\0");
  slow.full = true;
  const writer = h.socket();
  for (let i = 1; i <= 4; i++) assert.equal(writer.write(`/w/${i}`, ""), "WRITE OK\0");
  assert.equal(slow.closed, true);
  assert.deepEqual(lines(), [
    `{"level":"warn","time":"${at(0)}","conn":1,"kind":"socket","domid":0,"reason":"oversize-packet","detail":"packet payload of 5000 bytes exceeds 4096","event":"connection-closed"}`,
    `{"level":"warn","time":"${at(0)}","conn":3,"kind":"socket","domid":0,"reason":"output-overflow","detail":"4 replies and events (92 bytes) not read","event":"connection-closed"}`,
  ]);
});

test("--log-level debug: connections opened and gone", async () => {
  const file = join(tempDir(), "log.json");
  const d = await startTsxenstored(["--durability", "off", "--log-file", file, "--log-level", "debug"]);
  try {
    const xs = await XenStoreClient.connect(d.socket);
    await xs.write("/a", "1");
    xs.close();
    const count = (event: string): number => readFileSync(file, "utf8").split(`"event":"${event}"`).length - 1;
    await waitUntil(() => count("connection-gone") === count("connection-opened"), "every connection's end logged");
  } finally {
    await d.stop();
  }
  const events = readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  // The test helper's own connections (it checks that both sockets answer) may be accepted in either order
  // relative to ours across the two listeners; on the read-write one, accepts keep their order, so ours is its last.
  const opened = events.filter((e) => e.event === "connection-opened");
  assert.ok(opened.some((e) => e.readonly === true), "the helper's socket_ro check is logged as read-only");
  const ours = opened.filter((e) => e.readonly === false).pop()!;
  assert.deepEqual({ ...ours, time: "T", conn: "N" }, { level: "debug", time: "T", conn: "N", kind: "socket", domid: 0, readonly: false, event: "connection-opened" });
  assert.deepEqual(
    events.filter((e) => e.conn === ours.conn).map((e) => e.event),
    ["connection-opened", "connection-gone"],
  );
});

/** The log's lines as objects, with the fields that vary (time, pid, paths, durations) replaced. */
function read(file: string): Record<string, unknown>[] {
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      assert.match(String(o.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      o.time = "T";
      if ("pid" in o) o.pid = typeof o.pid === "number" ? "PID" : o.pid;
      if ("ms" in o) o.ms = typeof o.ms === "number" ? "MS" : o.ms;
      return o;
    });
}

test("the daemon's start, stop (and why), and recovery after a restart", async () => {
  const dir = tempDir();
  const file = join(dir, "log.json");
  const state = join(dir, "state");
  const first = await startTsxenstored(["--log-file", file, "--state-dir", state]);
  const xs = await XenStoreClient.connect(first.socket);
  await xs.write("/a", "1");
  xs.close();
  await first.stop();
  const second = await startTsxenstored(["--log-file", file, "--state-dir", state]);
  await second.stop();
  const hv = "no hypervisor: domains emulated (every domid), no rings";
  assert.deepEqual(read(file), [
    { level: "info", time: "T", pid: "PID", socket: first.socket, durability: "log", hypervisor: hv, metrics: null, event: "daemon-start" },
    { level: "info", time: "T", reason: "SIGTERM", requests: 1, revision: 1, event: "daemon-stop" },
    { level: "info", time: "T", dir: state, revision: 1, replayed: 1, ms: "MS", event: "recovery" },
    { level: "info", time: "T", pid: "PID", socket: second.socket, durability: "log", hypervisor: hv, metrics: null, event: "daemon-start" },
    { level: "info", time: "T", reason: "SIGTERM", requests: 0, revision: 1, event: "daemon-stop" },
  ]);
});

test("--log-file - writes the lines to stderr; --log-level needs --log-file and a known level", async () => {
  const d = await startTsxenstored(["--durability", "off", "--log-file", "-", "--log-level", "info"]);
  await waitUntil(() => d.output().includes('"event":"daemon-start"'), "the start line on stderr");
  await d.stop();
  const line = d.output().split("\n").find((l) => l.includes('"event":"daemon-start"'))!;
  assert.equal((JSON.parse(line) as { level: string }).level, "info");
  const dir = tempDir();
  const env = { ...process.env, XENSTORED_RUNDIR: dir, XENSTORED_PATH: join(dir, "socket") };
  const run = (...args: string[]): [number | null, string] => {
    const r = spawnSync(process.execPath, [BIN, "-N", ...args], { env, encoding: "utf8" });
    return [r.status, r.stderr];
  };
  const help = "Try 'tsxenstored --help' for more information.\n";
  assert.deepEqual(run("--log-level", "debug"), [2, `tsxenstored: --log-level goes with --log-file\n${help}`]);
  assert.deepEqual(run("--log-file", join(dir, "l"), "--log-level", "verbose"), [2, `tsxenstored: unknown log level "verbose" (error, warn, info or debug)\n${help}`]);
});

test("a guest's ring: found full (a stall, counted once until it drains), then broken (connection-closed, bad-ring-indexes)", { skip: ringsUnavailable() ?? false }, async () => {
  const file = join(tempDir(), "log.json");
  const notices = new Notices();
  new JsonLog(file, "info", () => T0).attach(notices);
  const hv = new MemoryHypervisor();
  const h = harness({ hypervisor: hv, notices });
  const dom0 = h.socket();
  const g = hv.rings.createGuest(5, 7);
  assert.equal(dom0.req(Op.INTRODUCE, ["5", "1234", "7"]), "INTRODUCE OK\0");
  await hv.rings.settle();
  g.reading = false;
  for (let i = 0; i < 200; i++) g.send(Op.GET_DOMAIN_PATH, ["5"]);
  await hv.rings.settle();
  assert.equal(h.x.stats.ringFull, 1);
  // Another guest writes a producer index 2,000 bytes ahead.
  const bad = hv.rings.createGuest(6, 8);
  assert.equal(dom0.req(Op.INTRODUCE, ["6", "99", "8"]), "INTRODUCE OK\0");
  await hv.rings.settle();
  bad.page.set(Field.ReqProd, bad.page.get(Field.ReqCons) + 2000);
  hv.rings.signal(6);
  await hv.rings.settle();
  assert.deepEqual(readFileSync(file, "utf8").trim().split("\n"), [
    `{"level":"info","time":"${at(0)}","domid":5,"mfn":"1234","port":7,"conn":1,"event":"domain-introduced"}`,
    `{"level":"info","time":"${at(0)}","domid":6,"mfn":"99","port":8,"conn":1,"event":"domain-introduced"}`,
    `{"level":"warn","time":"${at(0)}","kind":"domain","domid":6,"reason":"bad-ring-indexes","detail":"inconsistent request ring indexes","event":"connection-closed"}`,
  ]);
});
