/**
 * The benchmark suite: `npm run bench` (or `npm run bench -- --quick`).
 *
 * Starts tsxenstored, cxenstored and oxenstored (each on its own socket; the
 * upstream daemons through ../shared/peers) and the two echo servers, runs
 * every workload against each in the same run, alternating the daemons, and
 * writes docs/benchmarks.md, docs/bench/*.svg and docs/bench/results.json.
 *
 * Options: --quick (smaller N, one round), --only LIST (comma-separated
 * workloads 1-13, for development; 10 is crash durability, on fresh
 * tsxenstored daemons only; 11 the cost of --metrics, likewise; 12 the boot
 * storm on fresh daemons with no warm-up; 13 memory and latency with
 * 10,000 domains, fresh daemons), --keep (keep the temporary directory),
 * --out DIR (instead of docs/), --from FILE (only redraw the report from a
 * saved results.json), --no-pin (do not put the daemon and the client on one
 * CPU for the latency workloads; workload 1 then runs unpinned only).
 * TSXS_BENCH_BIN=/path/to/bin/tsxenstored benchmarks another build (an
 * A/B against an older commit, with --only and --out; workloads whose
 * options that build lacks fail).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  DAEMONS,
  ECHOS,
  LoadGenerator,
  LoadMeter,
  PEERS,
  allowedCpus,
  setAffinity,
  ROOT,
  TEST_XENSTORE,
  describeMachine,
  log,
  median,
  medianRows,
  memoryKiB,
  rotate,
  startEcho,
  startEmulatedHost,
  startPeer,
  startTsxenstored,
  cpuSeconds,
  exec,
  lastJson,
  stopAll,
  stopAllSync,
  daemonCpuSeconds,
  num,
  parRow,
  type DaemonName,
  type Target,
  type TargetName,
} from "./lib.js";
import { Durability } from "./durability.js";
import { MetricsOverhead } from "./metrics.js";
import { writeReport } from "./report/index.js";
import { emulationUnavailable } from "../test/helpers/emulated.js";
import type {
  InProcessBoot,
  Config,
  FanoutRow,
  ParRow,
  Results,
  ScaleDaemon,
  SeqRow,
  TestXenstore,
  TxRow,
  BootRow,
  GuestStormRow,
  HostilePhase,
  HostileRow,
  Latency,
  ColdStartResults,
  ColdStartRow,
  FullStoreConfig,
  FullStoreDaemon,
  FullStoreResults,
  MemoryReading,
  Population,
} from "./types.js";

/** Where this suite's compiled modules are (bench/guests.ts runs as its own process). */
const DIST_BENCH = dirname(fileURLToPath(import.meta.url));

const FULL: Config = {
  mode: "full",
  rounds: 3,
  testXenstoreIterations: 2000,
  seqOps: 20000,
  parOps: 120000,
  parDepth: 16,
  txDisjoint: 200,
  txShared8: 400,
  txShared64: 60,
  bootGuests: [100, 1000],
  toolstackConns: 8,
  scaleDomains: 10000,
  scaleChunk: 1000,
  scaleBudgetSeconds: 260,
  scaleSeqOps: 8000,
  fanoutWatches: 1000,
  fanoutWrites: 1000,
  testXenstoreUnpinnedRounds: 6,
  coldStart: { guests: [300, 1000], rounds: 3, repeatBelowS: 20 },
  fullStore: { domains: [1000, 10000], chunk: 1000, budgetSeconds: 240, idleSeconds: 10, seqOps: 8000 },
  guestStorm: 1000,
  guestParallel: 8,
  hostileWell: 64,
  hostileOps: 400,
  durability: {
    rounds: 5,
    bootGuests: 1000,
    txConns: 64,
    txPerConn: 200,
    naiveCommits: 500,
    naiveBytes: 100,
    restartDomains: 10000,
    restartChunk: 1000,
    restarts: 3,
  },
};

const QUICK: Config = {
  mode: "quick",
  rounds: 1,
  testXenstoreIterations: 300,
  seqOps: 5000,
  parOps: 40000,
  parDepth: 16,
  txDisjoint: 40,
  txShared8: 80,
  txShared64: 12,
  bootGuests: [100],
  toolstackConns: 8,
  scaleDomains: 1000,
  scaleChunk: 500,
  scaleBudgetSeconds: 20,
  scaleSeqOps: 4000,
  fanoutWatches: 1000,
  fanoutWrites: 50,
  testXenstoreUnpinnedRounds: 1,
  coldStart: { guests: [50, 100], rounds: 1, repeatBelowS: 20 },
  fullStore: { domains: [1000, 2000], chunk: 1000, budgetSeconds: 60, idleSeconds: 10, seqOps: 4000 },
  guestStorm: 100,
  guestParallel: 8,
  hostileWell: 16,
  hostileOps: 100,
  durability: {
    rounds: 5,
    bootGuests: 200,
    txConns: 64,
    txPerConn: 100,
    naiveCommits: 500,
    naiveBytes: 100,
    restartDomains: 1000,
    restartChunk: 500,
    restarts: 2,
  },
};

const SEQ_OPS = ["read", "write", "dir", "mkdirrm"] as const;

function build(tmp: string): { xsload: string; echo: string; shim: string } {
  const cc = (src: string, out: string): string => {
    const r = spawnSync("gcc", ["-O2", "-Wall", "-o", out, join(ROOT, "bench", src)], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`gcc ${src}: ${r.stderr || r.error}`);
    return out;
  };
  const xsload = cc("xsload.c", join(tmp, "xsload"));
  const echo = cc("echo.c", join(tmp, "echo"));
  const r = spawnSync(join(PEERS, "build.sh"), [join(tmp, "shim")], { encoding: "utf8" });
  const shim = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !existsSync(shim)) throw new Error(`building the fake-hypervisor shim failed: ${r.stderr}`);
  return { xsload, echo, shim };
}

type Daemons = Record<DaemonName, Target>;

/** One daemon, fresh, in its own directory `dir` (made here). */
function startDaemon(name: DaemonName, dir: string, shim: string): Promise<Target> {
  mkdirSync(dir, { recursive: true });
  return name === "tsxenstored" ? startTsxenstored(dir) : startPeer(name, dir, shim);
}

async function startDaemons(tmp: string, tag: string, shim: string): Promise<Daemons> {
  const dir = (n: string): string => join(tmp, `${n}${tag}`);
  const ts = await startDaemon("tsxenstored", dir("ts"), shim);
  const cx = await startDaemon("cxenstored", dir("cx"), shim);
  const ox = await startDaemon("oxenstored", dir("ox"), shim);
  log(`daemons: tsxenstored pid ${ts.pid}, cxenstored pid ${cx.pid}, oxenstored pid ${ox.pid}`);
  return { tsxenstored: ts, cxenstored: cx, oxenstored: ox };
}


/** Why the guest workloads cannot run here (no emulation library or addon), or null. */
function guestsUnavailable(): string | null {
  return emulationUnavailable("cxenstored") ?? emulationUnavailable("oxenstored");
}

class Suite {
  readonly errors: string[] = [];
  /** The CPU that latency measurements run on (daemon and client together), or null. */
  pinCpu: number | null = null;

  constructor(
    readonly cfg: Config,
    readonly lg: LoadGenerator,
  ) {}

  /**
   * Run f with the targets (all their threads) and the load generator on one
   * CPU: one request at a time then costs the two processes' CPU time and two
   * context switches, and not the wake-up of an idle virtual CPU, which on a
   * VM is slow and comes and goes with the rest of the machine's load.
   */
  async onOneCpu<T>(targets: Target[], f: () => Promise<T>): Promise<T> {
    if (this.pinCpu === null) return f();
    const all = allowedCpus();
    const cpu = String(this.pinCpu);
    try {
      if (!targets.every((t) => setAffinity(t.pid, cpu))) {
        log("taskset failed: measuring without pinning");
        return await f();
      }
      this.lg.cpu = this.pinCpu;
      return await f();
    } finally {
      this.lg.cpu = null;
      for (const t of targets) setAffinity(t.pid, all);
    }
  }

  /** Run one measurement; a failure is recorded and reported, not fatal. */
  async attempt<T>(what: string, f: () => Promise<T>): Promise<T | null> {
    try {
      return await f();
    } catch (e) {
      const msg = `${what}: ${(e as Error).message.split("\n").slice(0, 3).join(" / ")}`;
      log(`FAILED ${msg}`);
      this.errors.push(msg);
      return null;
    }
  }

  /** Prime each daemon (and Node's JIT) with a little of every kind of request; not measured. */
  async warmUp(d: Daemons): Promise<void> {
    for (const name of DAEMONS) {
      const t = d[name];
      await this.attempt(`warm-up ${name}`, async () => {
        await this.lg.wrap(t, TEST_XENSTORE, ["-i", String(this.cfg.mode === "quick" ? 20 : 100)]);
        for (const op of SEQ_OPS) await this.lg.run(t, ["seq", op, this.cfg.mode === "quick" ? 1000 : 4000]);
        await this.lg.run(t, ["par", "write", 8, 16, this.cfg.mode === "quick" ? 8000 : 30000]);
        await this.lg.run(t, ["tx", 8, 20, "shared"]);
        // Guest creation and teardown (domids the boot storm does not use).
        await this.lg.run(t, ["boot", 8, 15001, this.cfg.mode === "quick" ? 20 : 100]);
        await this.lg.run(t, ["teardown", 8, 15001, this.cfg.mode === "quick" ? 20 : 100]);
      });
    }
  }

  /**
   * Workload 1: cfg.rounds rounds with the daemon and test-xenstore on one
   * CPU and, in the same rounds, cfg.testXenstoreUnpinnedRounds without
   * pinning; which of the two goes first alternates, and the daemons' order
   * rotates each round. With --no-pin, the first kind is unpinned too and
   * there is no second.
   */
  async testXenstore(d: Daemons): Promise<TestXenstore> {
    const rounds = this.cfg.rounds;
    const unpinnedRounds = this.pinCpu === null ? 0 : (this.cfg.testXenstoreUnpinnedRounds ?? 0);
    const out: TestXenstore = { iterations: this.cfg.testXenstoreIterations, rounds, unpinnedRounds, tests: [], runs: [] };
    for (let r = 0; r < Math.max(rounds, unpinnedRounds); r++) {
      const kinds = (r % 2 ? [false, true] : [true, false]).filter((pin) => r < (pin ? rounds : unpinnedRounds));
      for (const pin of kinds)
        for (const name of rotate(DAEMONS, r)) await this.testXenstoreOnce(d[name], name, r, pin && this.pinCpu !== null, out);
    }
    return out;
  }

  private async testXenstoreOnce(t: Target, name: DaemonName, r: number, pinned: boolean, out: TestXenstore): Promise<void> {
    const how = pinned ? "" : " (unpinned)";
    await this.attempt(`test-xenstore ${name}${how}`, async () => {
      const wrap = () => this.lg.wrap(t, TEST_XENSTORE, ["-i", String(this.cfg.testXenstoreIterations)]);
      const res = pinned ? await this.onOneCpu([t], wrap) : await wrap();
      const ns: Record<string, number> = {};
      const failed: string[] = [];
      for (const line of res.stdout.split("\n")) {
        const m = /^(.+?)\s*:\s*(?:avg:\s*)?(\d+) ns/.exec(line);
        if (m) {
          ns[m[1]!.trim()] = Number(m[2]);
          if (!out.tests.includes(m[1]!.trim())) out.tests.push(m[1]!.trim());
        } else if (/failed/.test(line)) failed.push(line.trim());
      }
      if (res.status !== 0 && !failed.length) failed.push(`exit status ${res.status}`);
      out.runs.push({
        target: name,
        round: r,
        pinned,
        nsPerOp: ns,
        failed,
        seconds: num(res.json, "seconds"),
        daemonCpuS: daemonCpuSeconds(res.json.daemon_cpu_ns),
        clientCpuS: num(res.json, "client_cpu_s"),
      });
      log(`test-xenstore ${name}${how}: ${Object.keys(ns).length} tests, ${failed.length} failed, ${num(res.json, "seconds").toFixed(1)} s`);
    });
  }

  seqRow(target: TargetName, op: string, j: Record<string, unknown>): SeqRow {
    const ops = num(j, "ops");
    const dcpu = daemonCpuSeconds(j.daemon_cpu_ns);
    return {
      target,
      op,
      ops,
      p50Us: num(j, "p50_us"),
      p99Us: num(j, "p99_us"),
      opsPerS: num(j, "ops_per_s"),
      seconds: num(j, "seconds"),
      daemonCpuUsPerOp: dcpu === null ? null : (dcpu / ops) * 1e6,
      clientCpuUsPerOp: (num(j, "client_cpu_s") / ops) * 1e6,
      clientBusy: num(j, "client_cpu_s") / num(j, "seconds"),
    };
  }

  /** Workload 2 on each target; `store` tags each target's rows (workloads 6 and 13: "empty" or "full"). */
  async sequential(targets: Target[], n: number, rounds: number, label: string, store?: Map<Target, "empty" | "full">, ops: readonly string[] = SEQ_OPS): Promise<SeqRow[]> {
    const samples: SeqRow[] = [];
    for (let r = 0; r < rounds; r++)
      for (const op of ops)
        for (const t of rotate(targets, r))
          await this.attempt(`${label} ${op} ${t.name}${store ? ` (${store.get(t)} store)` : ""}`, async () => {
            const row = this.seqRow(t.name, op, (await this.onOneCpu([t], () => this.lg.run(t, ["seq", op, n]))).json);
            const s = store?.get(t);
            if (s) row.store = s;
            samples.push(row);
          });
    return medianRows(samples, (s) => `${s.target}/${s.store ?? ""}/${s.op}`);
  }

  /** `par read CONNS 1 N`: the toolstack's pattern (one request in flight per connection) with a plain READ, as a floor. */
  async oneInFlight(targets: Target[]): Promise<ParRow[]> {
    const samples: ParRow[] = [];
    const conns = this.cfg.toolstackConns;
    const ops = Math.round(this.cfg.parOps / 3);
    for (let r = 0; r < this.cfg.rounds; r++)
      for (const t of rotate(targets, r))
        await this.attempt(`one in flight ${t.name}`, async () => {
          samples.push(parRow(t.name, "read", conns, 1, (await this.lg.run(t, ["par", "read", conns, 1, ops])).json));
        });
    return medianRows(samples, (s) => s.target);
  }

  async parallel(targets: Target[]): Promise<ParRow[]> {
    const samples: ParRow[] = [];
    const cases: [string, number][] = [
      ["read", 8],
      ["write", 8],
      ["read", 64],
      ["write", 64],
    ];
    for (let r = 0; r < this.cfg.rounds; r++)
      for (const [op, conns] of cases)
        for (const t of rotate(targets, r))
          await this.attempt(`parallel ${op} ${conns} ${t.name}`, async () => {
            const depth = this.cfg.parDepth;
            samples.push(parRow(t.name, op, conns, depth, (await this.lg.run(t, ["par", op, conns, depth, this.cfg.parOps])).json));
          });
    return medianRows(samples, (s) => `${s.target}/${s.op}/${s.conns}`);
  }

  async transactions(d: Daemons): Promise<TxRow[]> {
    const rows: TxRow[] = [];
    const cases: [string, number, number][] = [
      ["disjoint", 64, this.cfg.txDisjoint],
      ["shared", 8, this.cfg.txShared8],
      ["shared", 64, this.cfg.txShared64],
    ];
    for (let i = 0; i < cases.length; i++) {
      const [kind, conns, n] = cases[i]!;
      for (const name of rotate(DAEMONS, i))
        await this.attempt(`transactions ${kind} ${conns} ${name}`, async () => {
          const j = (await this.lg.run(d[name], ["tx", conns, n, kind])).json;
          rows.push({
            target: name,
            kind,
            conns,
            perConn: n,
            commits: num(j, "commits"),
            commitsPerS: num(j, "commits_per_s"),
            eagain: num(j, "eagain"),
            exact: j.exact === true,
            final: num(j, "final"),
            expected: num(j, "expected"),
            seconds: num(j, "seconds"),
            daemonCpuS: daemonCpuSeconds(j.daemon_cpu_ns),
            clientCpuS: num(j, "client_cpu_s"),
          });
          log(`transactions ${kind}/${conns} ${name}: ${num(j, "commits_per_s").toFixed(0)} commits/s, ${num(j, "eagain")} EAGAIN, exact ${j.exact}`);
        });
    }
    return rows;
  }

  async bootStorm(d: Daemons): Promise<BootRow[]> {
    const rows: BootRow[] = [];
    const conns = this.cfg.toolstackConns;
    for (let i = 0; i < this.cfg.bootGuests.length; i++) {
      const n = this.cfg.bootGuests[i]!;
      for (const name of rotate(DAEMONS, i))
        await this.attempt(`boot storm ${n} ${name}`, async () => {
          const b = (await this.lg.run(d[name], ["boot", conns, 1, n])).json;
          const t = (await this.lg.run(d[name], ["teardown", conns, 1, n])).json;
          const bc = daemonCpuSeconds(b.daemon_cpu_ns);
          const tc = daemonCpuSeconds(t.daemon_cpu_ns);
          rows.push({
            target: name,
            guests: n,
            conns,
            bootS: num(b, "seconds"),
            bootEagain: num(b, "eagain"),
            bootTransactions: num(b, "transactions"),
            bootRequests: num(b, "requests"),
            teardownS: num(t, "seconds"),
            teardownEagain: num(t, "eagain"),
            teardownRequests: num(t, "requests"),
            daemonCpuS: bc === null || tc === null ? null : bc + tc,
            clientCpuS: num(b, "client_cpu_s") + num(t, "client_cpu_s"),
          });
          log(`boot storm ${n} ${name}: boot ${num(b, "seconds").toFixed(2)} s (${num(b, "eagain")} EAGAIN), teardown ${num(t, "seconds").toFixed(2)} s`);
        });
    }
    return rows;
  }

  async fanout(d: Daemons): Promise<FanoutRow[]> {
    const rows: FanoutRow[] = [];
    for (const name of DAEMONS)
      await this.attempt(`fan-out ${name}`, async () => {
        const j = (await this.lg.run(d[name], ["fanout", this.cfg.fanoutWatches, this.cfg.fanoutWrites])).json;
        const dcpu = daemonCpuSeconds(j.daemon_cpu_ns);
        rows.push({
          target: name,
          watches: num(j, "watches"),
          writes: num(j, "writes"),
          writesPerS: num(j, "writes_per_s"),
          events: num(j, "events"),
          expectedEvents: num(j, "expected_events"),
          eventsPerS: num(j, "events_per_s"),
          seconds: num(j, "seconds"),
          daemonCpuUsPerEvent: dcpu === null ? null : (dcpu / num(j, "events")) * 1e6,
          clientCpuS: num(j, "client_cpu_s"),
        });
        log(`fan-out ${name}: ${num(j, "writes_per_s").toFixed(0)} writes/s, ${num(j, "events_per_s").toFixed(0)} events/s`);
      });
    return rows;
  }

  /** Run the guest driver (bench/guests.ts) against a fresh daemon serving a fresh emulated host. */
  private async overGuests<T>(name: DaemonName, tmp: string, tag: string, args: (string | number)[], f: (j: Record<string, unknown>, t: Target, cpu: number) => T): Promise<T> {
    const dir = join(tmp, `${tag}-${name}`);
    const t = await startEmulatedHost(name, dir);
    try {
      const cpu0 = cpuSeconds(t.pid);
      const r = await exec(process.execPath, [join(DIST_BENCH, "guests.js"), args[0]!.toString(), dir, ...args.slice(1).map(String)], { TSXS_EMU_DIR: dir, TSXS_BENCH_DAEMON_PID: String(t.pid) }, 1800000);
      const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
      if (r.status !== 0 || !line) throw new Error(`guests.js ${args.join(" ")} against ${name} failed (status ${r.status}): ${r.stderr.trim().slice(-1500)}`);
      return f(JSON.parse(line) as Record<string, unknown>, t, cpuSeconds(t.pid) - cpu0);
    } finally {
      await t.stop();
    }
  }

  /** Workload 8: a boot storm of guests through their rings, each daemon fresh. */
  async guestStorm(tmp: string): Promise<GuestStormRow[]> {
    const rows: GuestStormRow[] = [];
    const { guestStorm: n, guestParallel: p } = this.cfg;
    for (const name of DAEMONS)
      await this.attempt(`guest boot storm ${name}`, () =>
        this.overGuests(name, tmp, "storm", ["storm", n, p], (j, _t, cpu) => {
          const row: GuestStormRow = {
            target: name,
            guests: n,
            parallel: p,
            bootS: num(j, "bootS"),
            boot: j.boot as Latency,
            bootTransactions: num(j, "bootTransactions"),
            bootEagain: num(j, "bootEagain"),
            teardownS: num(j, "teardownS"),
            teardownEagain: num(j, "teardownEagain"),
            notReleased: num(j, "notReleased"),
            daemonCpuS: cpu,
            rssBootedKiB: num(j, "rssBootedKiB"),
          };
          rows.push(row);
          log(`guest boot storm ${n} ${name}: boot ${row.bootS.toFixed(2)} s (p99 per guest ${row.boot.p99Ms.toFixed(0)} ms, ${row.bootEagain} EAGAIN), teardown ${row.teardownS.toFixed(2)} s, ${row.notReleased} not released`);
        }),
      );
    return rows;
  }

  /** Workload 9: well-behaved guests' and dom0's latency, without and with a flooding guest. */
  async hostile(tmp: string): Promise<HostileRow[]> {
    const rows: HostileRow[] = [];
    const { hostileWell: well, hostileOps: ops } = this.cfg;
    for (const name of DAEMONS)
      await this.attempt(`hostile guests ${name}`, () =>
        this.overGuests(name, tmp, "hostile", ["hostile", well, ops], (j, t, cpu) => {
          const flood = j.flood as Record<string, unknown>;
          const row: HostileRow = {
            target: name,
            well,
            ops,
            quiet: j.quiet as HostilePhase,
            flooded: j.flooded as HostilePhase,
            floodPerS: num(flood, "perS"),
            daemonCpuS: cpu,
            rssKiB: memoryKiB(t.pid).rss,
          };
          rows.push(row);
          log(`hostile guests ${name}: guests' p99 ${row.quiet.guests.p99Ms.toFixed(2)} -> ${row.flooded.guests.p99Ms.toFixed(2)} ms, dom0's ${row.quiet.dom0.p99Ms.toFixed(2)} -> ${row.flooded.dom0.p99Ms.toFixed(2)} ms; flood ${row.floodPerS.toFixed(0)} requests/s`);
        }),
      );
    return rows;
  }

  /**
   * Fresh daemons, two of each kind: one is filled with cfg.scaleDomains
   * guests in chunks (alternating daemons; a daemon whose next chunk would
   * overrun its time budget stops there), with VmRSS after each chunk; its
   * twin stays empty. Then workload 2 runs on both, interleaved (so that the
   * machine's changing load hits both alike), for the full ÷ empty ratio.
   */
  async scale(d: Daemons, twins: Daemons): Promise<ScaleDaemon[]> {
    const out = new Map<DaemonName, ScaleDaemon>();
    const cfg = this.cfg;
    for (const set of [d, twins])
      for (const name of DAEMONS) {
        const t = set[name];
        await this.attempt(`scale warm-up ${name}`, async () => {
          for (const op of SEQ_OPS) await this.lg.run(t, ["seq", op, cfg.mode === "quick" ? 1000 : 4000]);
        });
      }
    for (const name of DAEMONS) {
      const m = memoryReading(d[name].pid);
      out.set(name, { ...emptyPopulation(name, m), rssEmptyKiB: m.rssKiB, seqEmpty: [], seqFull: [], rssFullKiB: m.rssKiB, hwmFullKiB: m.hwmKiB });
    }
    const active = new Set<DaemonName>(DAEMONS);
    const lastChunkS = new Map<DaemonName, number>();
    for (let k = 0, first = 1; first <= cfg.scaleDomains; k++, first += cfg.scaleChunk) {
      const count = Math.min(cfg.scaleChunk, cfg.scaleDomains - first + 1);
      for (const name of rotate(DAEMONS, k)) {
        if (!active.has(name)) continue;
        const s = out.get(name)!;
        const prev = lastChunkS.get(name) ?? 0;
        // Chunks get slower as the store grows: stop before one that would overrun the budget.
        if (s.populateS + prev * 1.2 > cfg.scaleBudgetSeconds) {
          s.stoppedEarly = true;
          active.delete(name);
          log(`scale ${name}: stopping at ${s.domains} domains (${s.populateS.toFixed(0)} s spent, the next chunk would take about ${prev.toFixed(0)} s)`);
          continue;
        }
        const ok = await this.attempt(`scale populate ${name} ${first}..${first + count - 1}`, async () => {
          const j = (await this.lg.run(d[name], ["populate", cfg.toolstackConns, 32, first, count], 1800000)).json;
          const m = addChunk(s, count, j, d[name].pid);
          const secs = num(j, "seconds");
          lastChunkS.set(name, secs);
          log(`scale ${name}: ${s.domains} domains, ${(m.rssKiB / 1024).toFixed(0)} MiB, chunk ${secs.toFixed(1)} s`);
        });
        if (ok === null) active.delete(name);
      }
    }
    for (const name of DAEMONS) {
      const s = out.get(name)!;
      const m = memoryKiB(d[name].pid);
      s.rssFullKiB = m.rss;
      s.hwmFullKiB = m.hwm;
    }
    const store = new Map<Target, "empty" | "full">();
    const targets: Target[] = [];
    for (const name of DAEMONS) {
      store.set(d[name], "full");
      store.set(twins[name], "empty");
      targets.push(d[name], twins[name]);
    }
    const rows = await this.sequential(targets, cfg.scaleSeqOps, cfg.rounds, "scale", store);
    for (const name of DAEMONS) {
      const s = out.get(name)!;
      s.seqFull = rows.filter((r) => r.target === name && r.store === "full");
      s.seqEmpty = rows.filter((r) => r.target === name && r.store === "empty");
    }
    return [...out.values()];
  }

  /** Stop a daemon started within a measured workload, counting its CPU time as the benchmark's (see LoadMeter.ended). */
  private async stopCounted(t: Target, meter: LoadMeter): Promise<void> {
    // tsxenstored is this process's child: reaped, its CPU time counts already.
    if (t.name !== "tsxenstored") {
      try {
        meter.ended(cpuSeconds(t.pid));
      } catch {
        // exited already
      }
    }
    await t.stop();
  }

  /**
   * Workload 12: the boot storm of workload 5 (`xsload boot CONNS 1 N`)
   * against a daemon started just before, with no warm-up at all, a fresh one
   * for every measurement: each size on each daemon cfg.coldStart.rounds
   * times, the daemons' order rotated; the median is reported. A daemon whose
   * boot of N took longer than repeatBelowS is not measured at N again.
   */
  async coldStart(tmp: string, shim: string, meter: LoadMeter): Promise<ColdStartResults> {
    const cc = this.cfg.coldStart!;
    const conns = this.cfg.toolstackConns;
    const samples = new Map<string, ColdStartRow[]>();
    for (let r = 0; r < cc.rounds; r++)
      for (let i = 0; i < cc.guests.length; i++) {
        const n = cc.guests[i]!;
        for (const name of rotate(DAEMONS, r + i)) {
          const key = `${name}/${n}`;
          const prev = samples.get(key) ?? [];
          const slow = prev.find((x) => x.bootS > cc.repeatBelowS);
          if (slow) {
            log(`cold start ${n} ${name}: not repeated (its boot took ${slow.bootS.toFixed(1)} s)`);
            continue;
          }
          await this.attempt(`cold start ${n} ${name}`, async () => {
            const t = await startDaemon(name, join(tmp, `cold-${name}-${n}-${r}`), shim);
            try {
              const b = (await this.lg.run(t, ["boot", conns, 1, n])).json;
              const rss = memoryKiB(t.pid).rss;
              prev.push({
                target: name,
                guests: n,
                conns,
                bootS: num(b, "seconds"),
                bootRunsS: [num(b, "seconds")],
                bootEagain: num(b, "eagain"),
                bootRequests: num(b, "requests"),
                daemonCpuS: daemonCpuSeconds(b.daemon_cpu_ns),
                clientCpuS: num(b, "client_cpu_s"),
                rssKiB: rss,
              });
              samples.set(key, prev);
              log(`cold start ${n} ${name}: boot ${num(b, "seconds").toFixed(2)} s (${num(b, "eagain")} EAGAIN), ${(rss / 1024).toFixed(0)} MiB`);
            } finally {
              await this.stopCounted(t, meter);
            }
          });
        }
      }
    const rows: ColdStartRow[] = [];
    for (const n of cc.guests)
      for (const name of DAEMONS) {
        const g = samples.get(`${name}/${n}`);
        if (!g?.length) continue;
        const [row] = medianRows(g, () => "");
        const cpu = g.map((x) => x.daemonCpuS).filter((x): x is number => x !== null);
        rows.push({ ...row!, daemonCpuS: cpu.length === g.length ? median(cpu) : null, bootRunsS: g.map((x) => x.bootS) });
      }
    // tsxenstored's own handling of the same requests, without sockets (a fresh process each time).
    const inProcess: InProcessBoot[] = [];
    const script = join(dirname(fileURLToPath(import.meta.url)), "inproc-boot.js");
    for (const n of cc.guests) {
      const runs: InProcessBoot[] = [];
      for (let r = 0; r < cc.rounds; r++) {
        await this.attempt(`in-process boot ${n}`, async () => {
          const out = await exec(process.execPath, [script, String(n)]);
          const j = lastJson(out.stdout);
          if (out.status !== 0 || !j) throw new Error(`inproc-boot ${n} failed (status ${out.status}): ${out.stderr.trim().slice(-500)}`);
          runs.push({ guests: n, requests: num(j, "requests"), seconds: num(j, "seconds"), usPerRequest: num(j, "usPerRequest") });
        });
      }
      if (!runs.length) continue;
      const mid = [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)]!;
      inProcess.push(mid);
      log(`in-process boot ${n}: ${mid.seconds.toFixed(2)} s, ${mid.usPerRequest.toFixed(1)} us per request (median of ${runs.length})`);
    }
    return { rounds: cc.rounds, repeatBelowS: cc.repeatBelowS, rows, inProcess };
  }

  /**
   * Workload 13: each daemon fresh, filled at once with guests (workload 5's
   * whole tree, the disk included: `xsload populate CONNS 32 FIRST COUNT vbd`)
   * in chunks, with VmRSS after each; at each of cfg.fullStore.domains,
   * memory is read right after the chunk and again after an idle pause.
   * Then latency (`xsload seq read|write`, as workload 6) on the full daemons
   * and on fresh empty twins, interleaved.
   */
  async fullStore(tmp: string, shim: string, meter: LoadMeter): Promise<FullStoreResults> {
    const fc = this.cfg.fullStore!;
    const started: Target[] = [];
    const out: FullStoreDaemon[] = [];
    try {
      const full = new Map<DaemonName, Target>();
      for (const name of DAEMONS) {
        const t = await this.attempt(`full store: start ${name}`, () => startDaemon(name, join(tmp, `full-${name}`), shim));
        if (!t) continue;
        started.push(t);
        full.set(name, t);
        out.push(await this.fill(t, name, fc));
      }
      const store = new Map<Target, "empty" | "full">();
      const targets: Target[] = [];
      for (const [name, t] of full) {
        const twin = await this.attempt(`full store: start the empty ${name}`, () => startDaemon(name, join(tmp, `empty-${name}`), shim));
        if (!twin) continue;
        started.push(twin);
        store.set(t, "full");
        store.set(twin, "empty");
        targets.push(t, twin);
      }
      const ops = ["read", "write"] as const;
      for (const t of targets)
        await this.attempt(`full store: warm-up ${t.name} (${store.get(t)})`, async () => {
          for (const op of ops) await this.lg.run(t, ["seq", op, this.cfg.mode === "quick" ? 1000 : 4000]);
        });
      const rows = await this.sequential(targets, fc.seqOps, this.cfg.rounds, "full store", store, ops);
      for (const s of out) {
        s.seqFull = rows.filter((r) => r.target === s.target && r.store === "full");
        s.seqEmpty = rows.filter((r) => r.target === s.target && r.store === "empty");
      }
    } finally {
      for (const t of started) await this.stopCounted(t, meter);
    }
    return { idleSeconds: fc.idleSeconds, daemons: out, nodeFloor: await this.nodeFloor(tmp) };
  }

  /** VmRSS of a Node.js process that serves the protocol and stores nothing (the echo server), 1 s after its start. */
  private async nodeFloor(tmp: string): Promise<MemoryReading | undefined> {
    const dir = join(tmp, "node-floor");
    mkdirSync(dir, { recursive: true });
    const t = await this.attempt("full store: start the Node.js echo server", () => startEcho("echo-node", dir, ""));
    if (!t) return undefined;
    try {
      await sleep(1000);
      return memoryReading(t.pid);
    } finally {
      await t.stop();
    }
  }

  /** Workload 13's populate of one fresh daemon, up to the last of fc.domains or its time budget. */
  private async fill(t: Target, name: DaemonName, fc: FullStoreConfig): Promise<FullStoreDaemon> {
    const start = memoryReading(t.pid);
    const s: FullStoreDaemon = { ...emptyPopulation(name, start), start, steps: [], seqEmpty: [], seqFull: [] };
    const last = Math.max(...fc.domains);
    let lastChunkS = 0;
    while (s.domains < last) {
      // Chunks end at each of fc.domains, where memory is read twice.
      const next = Math.min(...fc.domains.filter((x) => x > s.domains));
      const count = Math.min(fc.chunk, next - s.domains);
      // Chunks get slower as the store grows (cxenstored's much): stop before one that would overrun the budget.
      if (s.domains > 0 && s.populateS + lastChunkS * 1.2 > fc.budgetSeconds) {
        s.stoppedEarly = true;
        log(`full store ${name}: stopping at ${s.domains} domains (${s.populateS.toFixed(0)} s spent, the next chunk would take about ${lastChunkS.toFixed(0)} s)`);
        break;
      }
      const first = s.domains + 1;
      const ok = await this.attempt(`full store: populate ${name} ${first}..${first + count - 1}`, async () => {
        const j = (await this.lg.run(t, ["populate", this.cfg.toolstackConns, 32, first, count, "vbd"], 1800000)).json;
        lastChunkS = num(j, "seconds");
        const m = addChunk(s, count, j, t.pid);
        if (s.domains !== next) return;
        await sleep(fc.idleSeconds * 1000);
        const idle = memoryReading(t.pid);
        s.steps.push({ domains: s.domains, after: m, idle });
        log(`full store ${name}: ${s.domains} domains, ${(m.rssKiB / 1024).toFixed(1)} MiB right after, ${(idle.rssKiB / 1024).toFixed(1)} MiB ${fc.idleSeconds} s later (populate ${s.populateS.toFixed(1)} s)`);
      });
      if (ok === null) break;
    }
    return s;
  }
}

/** VmRSS and its parts, VmHWM, of a process. */
function memoryReading(pid: number): MemoryReading {
  const m = memoryKiB(pid);
  return { rssKiB: m.rss, anonKiB: m.anon, fileKiB: m.file, hwmKiB: m.hwm };
}

/** A daemon about to be populated: nothing yet, its fresh memory as the first checkpoint. */
function emptyPopulation(target: DaemonName, fresh: MemoryReading): Population {
  const checkpoints = [{ domains: 0, ...fresh, seconds: 0 }];
  return { target, domains: 0, nodesPerGuest: 0, populateS: 0, populateRequests: 0, populateDaemonCpuS: 0, stoppedEarly: false, checkpoints };
}

/** Count one populate chunk of `count` guests (xsload's JSON `j`) and read the daemon's memory after it. */
function addChunk(s: Population, count: number, j: Record<string, unknown>, pid: number): MemoryReading {
  s.domains += count;
  s.nodesPerGuest = num(j, "nodes_per_guest");
  s.populateS += num(j, "seconds");
  s.populateRequests += num(j, "requests");
  s.populateDaemonCpuS += daemonCpuSeconds(j.daemon_cpu_ns) ?? 0;
  const m = memoryReading(pid);
  s.checkpoints.push({ domains: s.domains, ...m, seconds: s.populateS });
  return m;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      keep: { type: "boolean", default: false },
      out: { type: "string" },
      from: { type: "string" },
      "no-pin": { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.from) {
    // Only redraw the report from a saved results.json.
    const saved = JSON.parse(readFileSync(values.from, "utf8")) as Results;
    const files = await writeReport(saved, values.out ?? join(ROOT, "docs"));
    log(`wrote ${files.join(", ")}`);
    return 0;
  }
  const cfg = values.quick ? QUICK : FULL;
  const only = new Set((values.only ?? "1,2,3,4,5,6,7,8,9,10,11,12,13").split(",").map((x) => Number(x.trim())));
  const outDir = values.out ?? join(ROOT, "docs");
  const started = Date.now();
  for (const need of [TEST_XENSTORE, join(PEERS, "start-peer.sh")])
    if (!existsSync(need)) throw new Error(`${need} is missing (see ../shared/peers/README.md: apt-get install xen-utils-4.17 xenstore-utils gcc)`);

  const tmp = mkdtempSync(join(tmpdir(), "tsxs-bench-"));
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: stopping the daemons`);
    stopAllSync();
    if (!values.keep) rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const machine = describeMachine();
  log(`${cfg.mode} run; machine ${machine.cpu}, ${machine.cores} cores, load ${machine.loadBefore.join(" ")}; temp dir ${tmp}`);
  const results: Results = { config: cfg, machine, workloads: [...only], durationS: 0, errors: [], machineLoad: {}, pinnedCpu: null };
  const bins = build(tmp);
  const lg = new LoadGenerator(bins.xsload);
  const suite = new Suite(cfg, lg);
  if (!values["no-pin"] && machine.cores > 1 && spawnSync("taskset", ["-V"], { stdio: "ignore" }).status === 0) suite.pinCpu = machine.cores - 1;
  results.pinnedCpu = suite.pinCpu;
  const pids: number[] = [];
  /** Run one workload, measuring how busy the machine was with other work meanwhile. */
  const measured = async <T>(w: number, title: string, f: (meter: LoadMeter) => Promise<T>): Promise<T> => {
    log(`workload ${w}: ${title}`);
    const meter = new LoadMeter(() => pids);
    const out = await f(meter);
    const load = meter.stop();
    results.machineLoad[w] = load;
    log(`workload ${w} took ${load.seconds.toFixed(0)} s; other processes kept ${load.otherCores.toFixed(2)} of ${machine.cores} cores busy`);
    return out;
  };
  try {
    if ([1, 2, 3, 4, 5, 7].some((w) => only.has(w))) {
      const d = await startDaemons(tmp, "", bins.shim);
      pids.splice(0, pids.length, ...DAEMONS.map((n) => d[n].pid));
      log("warming up");
      await suite.warmUp(d);
      if (only.has(1)) results.testXenstore = await measured(1, "test-xenstore", () => suite.testXenstore(d));
      if (only.has(2) || only.has(3) || only.has(5)) {
        const echos: Target[] = [];
        for (const e of ECHOS) {
          const dir = join(tmp, e);
          mkdirSync(dir, { recursive: true });
          const t = await suite.attempt(`start ${e}`, async () => {
            const t = await startEcho(e, dir, bins.echo);
            await lg.run(t, ["seq", "read", 2000]); // warm-up (Node's JIT)
            await lg.run(t, ["par", "read", 8, 16, 20000]);
            return t;
          });
          if (t) echos.push(t);
        }
        const targets = [...DAEMONS.map((n) => d[n]), ...echos];
        pids.push(...echos.map((e) => e.pid));
        if (only.has(2)) results.sequential = await measured(2, "one connection, sequential", () => suite.sequential(targets, cfg.seqOps, cfg.rounds, "sequential"));
        if (only.has(3)) results.parallel = await measured(3, "parallel connections, pipelined", () => suite.parallel(targets));
        // The boot storm's pattern as a floor (reported with workload 5).
        if (only.has(3) || only.has(5)) results.oneInFlight = await suite.oneInFlight(targets);
        for (const e of echos) await e.stop();
        pids.splice(DAEMONS.length);
      }
      if (only.has(4)) results.transactions = await measured(4, "transactions", () => suite.transactions(d));
      if (only.has(5)) results.bootStorm = await measured(5, "boot storm", () => suite.bootStorm(d));
      if (only.has(7)) results.fanout = await measured(7, "watch fan-out", () => suite.fanout(d));
      for (const n of DAEMONS) await d[n].stop();
    }
    if (only.has(6)) {
      const d = await startDaemons(tmp, "-full", bins.shim);
      const twins = await startDaemons(tmp, "-empty", bins.shim);
      pids.splice(0, pids.length, ...DAEMONS.map((n) => d[n].pid), ...DAEMONS.map((n) => twins[n].pid));
      results.scale = await measured(6, "scale (fresh daemons)", () => suite.scale(d, twins));
      for (const n of DAEMONS) await d[n].stop();
      for (const n of DAEMONS) await twins[n].stop();
    }
    if ((only.has(8) || only.has(9)) && !guestsUnavailable()) {
      pids.length = 0; // the daemons are started per measurement (each on a fresh emulated host)
      if (only.has(8)) results.guestStorm = await measured(8, "guest boot storm through rings (fresh daemons)", () => suite.guestStorm(tmp));
      if (only.has(9)) results.hostile = await measured(9, "a flooding guest among well-behaved ones (fresh daemons)", () => suite.hostile(tmp));
    } else if (only.has(8) || only.has(9)) log(`workloads 8 and 9 skipped: ${guestsUnavailable()}`);
    if (only.has(10) && cfg.durability) {
      // Its daemons are this process's children, started and stopped within
      // the workload: their CPU time counts as this process's (reaped children).
      pids.length = 0;
      const dur = new Durability(suite, cfg, cfg.durability, tmp);
      results.durability = await measured(10, "crash durability (fresh tsxenstored daemons only)", () => dur.all());
    }
    if (only.has(11)) {
      pids.length = 0;
      const m = new MetricsOverhead(suite, cfg, tmp);
      results.metrics = await measured(11, "--metrics on vs off (fresh tsxenstored daemons only)", () => m.all());
    }
    if (only.has(12) && cfg.coldStart) {
      // Its daemons are started and stopped within the workload (their CPU time: LoadMeter.ended).
      pids.length = 0;
      results.coldStart = await measured(12, "cold start: the boot storm on fresh daemons, no warm-up", (meter) => suite.coldStart(tmp, bins.shim, meter));
    }
    if (only.has(13) && cfg.fullStore) {
      pids.length = 0;
      results.fullStore = await measured(13, `memory and latency with ${cfg.fullStore.domains.at(-1)} domains (fresh daemons)`, (meter) => suite.fullStore(tmp, bins.shim, meter));
    }
  } finally {
    await stopAll();
    if (!values.keep) rmSync(tmp, { recursive: true, force: true });
  }
  results.errors = suite.errors;
  results.durationS = (Date.now() - started) / 1000;
  machine.loadAfter = loadavg().map((x) => Math.round(x * 100) / 100);
  const files = await writeReport(results, outDir);
  log(`wrote ${files.join(", ")} in ${(results.durationS / 60).toFixed(1)} min${suite.errors.length ? `; ${suite.errors.length} measurement(s) failed` : ""}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`);
    stopAllSync();
    process.exit(1);
  },
);
