/**
 * Workload 10: what crash durability (`--durability log|sync|off`, the
 * journal in the state directory) costs tsxenstored, and how fast it comes
 * back after a crash. Fresh tsxenstored daemons only: cxenstored and
 * oxenstored keep their store in memory and have nothing to compare.
 *
 * 1. pipelined WRITEs (workload 3's `xsload par write`) against off, log and sync;
 * 2. the libxl-style boot storm (workload 5's) against off and log;
 * 3. 64 clients committing small transactions against sync (off and log as
 *    context), and a naive journal on the same file system: append 100
 *    bytes + fdatasync, one commit at a time;
 * 4. a store of many domains (workload 6's `xsload populate`) in the
 *    default mode, SIGKILLed and restarted on the same rundir: time until
 *    the socket answers, the daemon's own "recovered ..." figure, the state
 *    directory's size.
 */
import { spawnSync } from "node:child_process";
import { closeSync, fdatasyncSync, lstatSync, mkdirSync, openSync, readdirSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { daemonCpuSeconds, exec, log, median, medianRows, memoryKiB, num, parRow, rotate, startTsxenstored, type ChildTarget, type LoadGenerator } from "./lib.js";
import type { Config, DirSize, DurabilityBootRow, DurabilityConfig, DurabilityMode, DurabilityParRow, DurabilityRestart, DurabilityRestartResult, DurabilityResults, DurabilityTxRow, NaiveFsync } from "./types.js";

/**
 * Each mode's value ÷ off's in the same round, the median over the rounds:
 * measured close together in time, a pair shares the machine's load of the
 * moment, so this is steadier than the ratio of the medians.
 */
function pairedRatio<T extends { mode: DurabilityMode }>(samples: (T & { round: number })[], mode: DurabilityMode, same: (a: T, b: T) => boolean, value: (x: T) => number): number | null {
  const rs: number[] = [];
  for (const x of samples) {
    if (x.mode !== mode) continue;
    const off = samples.find((o) => o.mode === "off" && o.round === x.round && same(o, x));
    if (off && value(off) > 0) rs.push(value(x) / value(off));
  }
  return rs.length ? median(rs) : null;
}

/** What workload 10 needs of the suite (bench/run.ts). */
export interface Runner {
  readonly lg: LoadGenerator;
  attempt<T>(what: string, f: () => Promise<T>): Promise<T | null>;
}

const MODES: DurabilityMode[] = ["off", "log", "sync"];

/** The command-line flags of a mode: log is the default and gets none. */
export function modeArgs(mode: DurabilityMode): string[] {
  return mode === "log" ? [] : ["--durability", mode];
}

/** The file system type of `dir` (`stat -f -c %T`), or "?". */
function fsType(dir: string): string {
  const r = spawnSync("stat", ["-f", "-c", "%T", dir], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "?";
}

/** The files under `dir`: blocks allocated, sizes, count. */
export function dirSize(dir: string): DirSize {
  const out: DirSize = { allocatedBytes: 0, apparentBytes: 0, files: 0 };
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = lstatSync(p);
        out.allocatedBytes += st.blocks * 512;
        out.apparentBytes += st.size;
        out.files++;
      }
    }
  };
  walk(dir);
  return out;
}

/**
 * A naive journal on `dir`'s file system: append `bytes` bytes and
 * fdatasync, `commits` times, one at a time (after 10 unmeasured ones).
 */
export function naiveFsync(dir: string, commits: number, bytes: number): NaiveFsync {
  const path = join(dir, "naive-journal");
  const fd = openSync(path, "a");
  const buf = Buffer.alloc(bytes, 0x61);
  const lat: number[] = [];
  let seconds = 0;
  try {
    for (let i = 0; i < 10; i++) {
      writeSync(fd, buf);
      fdatasyncSync(fd);
    }
    const t0 = performance.now();
    for (let i = 0; i < commits; i++) {
      const a = performance.now();
      writeSync(fd, buf);
      fdatasyncSync(fd);
      lat.push(performance.now() - a);
    }
    seconds = (performance.now() - t0) / 1000;
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
  const sorted = [...lat].sort((x, y) => x - y);
  return {
    commits,
    bytes,
    seconds,
    p50Us: median(lat) * 1000,
    p99Us: (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? NaN) * 1000,
    commitsPerS: commits / seconds,
  };
}

/** The daemon's "recovered revision N from DIR (K commits replayed, T ms)" line. */
export function parseRecovered(output: string): { revision: number; replayed: number; ms: number } | null {
  const m = /recovered revision (\d+) from .* \((\d+) commits? replayed, (\d+(?:\.\d+)?) ms\)/.exec(output);
  return m ? { revision: Number(m[1]), replayed: Number(m[2]), ms: Number(m[3]) } : null;
}

export class Durability {
  /** The daemons running now (their pids are what the load meter leaves out). */
  readonly live = new Set<ChildTarget>();

  constructor(
    readonly run: Runner,
    readonly cfg: Config,
    readonly dcfg: DurabilityConfig,
    readonly tmp: string,
  ) {}

  pids(): number[] {
    return [...this.live].map((t) => t.pid);
  }

  private async start(dir: string, mode: DurabilityMode, timeoutMs?: number): Promise<ChildTarget> {
    mkdirSync(dir, { recursive: true });
    const t = await startTsxenstored(dir, modeArgs(mode), timeoutMs);
    this.live.add(t);
    return t;
  }

  private async stop(t: ChildTarget, crash = false): Promise<void> {
    this.live.delete(t);
    if (crash) await t.crash();
    else await t.stop();
  }

  async all(): Promise<DurabilityResults> {
    const out: DurabilityResults = { fsType: "?", parallel: [], boot: [], tx: [], naive: null, restart: null };
    const dirs = new Map<DurabilityMode, string>(MODES.map((m) => [m, join(this.tmp, `durability-${m}`)]));
    const d = new Map<DurabilityMode, ChildTarget>();
    try {
      for (const m of MODES) {
        const t = await this.run.attempt(`durability: start --durability ${m}`, () => this.start(dirs.get(m)!, m));
        if (t) d.set(m, t);
      }
      out.fsType = fsType(this.tmp);
      log(`durability: daemons ${[...d].map(([m, t]) => `${m} pid ${t.pid}`).join(", ")}; state directories on ${out.fsType}`);
      await this.warmUp(d);
      out.parallel = await this.parallel(d);
      out.boot = await this.boot(d);
      const { tx, naive } = await this.contended(d, dirs.get("sync")!);
      out.tx = tx;
      out.naive = naive;
    } finally {
      for (const t of d.values()) await this.stop(t);
    }
    out.restart = await this.run.attempt("durability: restart", () => this.restart());
    return out;
  }

  /** Unmeasured: a little of each request pattern, for Node's JIT (and the journal's first segment). */
  private async warmUp(d: Map<DurabilityMode, ChildTarget>): Promise<void> {
    const quick = this.cfg.mode === "quick";
    for (const [m, t] of d)
      await this.run.attempt(`durability warm-up ${m}`, async () => {
        await this.run.lg.run(t, ["par", "write", 8, 16, quick ? 8000 : 30000]);
        await this.run.lg.run(t, ["tx", 8, 20, "disjoint"]);
        await this.run.lg.run(t, ["boot", 8, 15001, quick ? 20 : 100]);
        await this.run.lg.run(t, ["teardown", 8, 15001, quick ? 20 : 100]);
      });
  }

  /** Part 1: workload 3's pipelined WRITEs (8 and 64 connections) against each mode. */
  private async parallel(d: Map<DurabilityMode, ChildTarget>): Promise<DurabilityParRow[]> {
    const samples: (DurabilityParRow & { round: number })[] = [];
    const depth = this.cfg.parDepth;
    for (let r = 0; r < this.dcfg.rounds; r++)
      for (const conns of [8, 64])
        for (const m of rotate(MODES, r)) {
          const t = d.get(m);
          if (!t) continue;
          await this.run.attempt(`durability write ×${conns} ${m}`, async () => {
            const j = (await this.run.lg.run(t, ["par", "write", conns, depth, this.cfg.parOps])).json;
            samples.push({ round: r, mode: m, ...parRow("tsxenstored", "write", conns, depth, j) });
            log(`durability write ×${conns} ${m}: ${num(j, "ops_per_s").toFixed(0)} writes/s`);
          });
        }
    return medianRows(samples, (s) => `${s.mode}/${s.conns}`).map(({ round: _, ...x }) => ({
      ...x,
      ratioToOff: x.mode === "off" ? null : pairedRatio(samples, x.mode, (a, b) => a.conns === b.conns, (y) => y.opsPerS),
    }));
  }

  /** Part 2: workload 5's boot storm and teardown against off and log. */
  private async boot(d: Map<DurabilityMode, ChildTarget>): Promise<DurabilityBootRow[]> {
    const samples: (DurabilityBootRow & { round: number })[] = [];
    const conns = this.cfg.toolstackConns;
    const n = this.dcfg.bootGuests;
    for (let r = 0; r < this.dcfg.rounds; r++)
      for (const m of rotate<DurabilityMode>(["off", "log"], r)) {
        const t = d.get(m);
        if (!t) continue;
        await this.run.attempt(`durability boot ${n} ${m}`, async () => {
          const b = (await this.run.lg.run(t, ["boot", conns, 1, n])).json;
          const td = (await this.run.lg.run(t, ["teardown", conns, 1, n])).json;
          const bc = daemonCpuSeconds(b.daemon_cpu_ns);
          const tc = daemonCpuSeconds(td.daemon_cpu_ns);
          samples.push({
            round: r,
            mode: m,
            guests: n,
            conns,
            bootS: num(b, "seconds"),
            bootEagain: num(b, "eagain"),
            bootRequests: num(b, "requests"),
            teardownS: num(td, "seconds"),
            teardownEagain: num(td, "eagain"),
            daemonCpuS: bc === null || tc === null ? null : bc + tc,
          });
          log(`durability boot ${n} ${m}: boot ${num(b, "seconds").toFixed(2)} s, teardown ${num(td, "seconds").toFixed(2)} s`);
        });
      }
    return medianRows(samples, (s) => s.mode).map(({ round: _, ...x }) => ({
      ...x,
      bootRatioToOff: x.mode === "off" ? null : pairedRatio(samples, x.mode, () => true, (y) => y.bootS),
      teardownRatioToOff: x.mode === "off" ? null : pairedRatio(samples, x.mode, () => true, (y) => y.teardownS),
    }));
  }

  /**
   * Part 3: `xsload tx 64 N disjoint` against each mode (off and log for
   * context), and just before sync's, the naive journal beside its state
   * directory (in its rundir: the same file system).
   */
  private async contended(d: Map<DurabilityMode, ChildTarget>, syncDir: string): Promise<{ tx: DurabilityTxRow[]; naive: NaiveFsync | null }> {
    const rows: DurabilityTxRow[] = [];
    const { txConns: conns, txPerConn: per } = this.dcfg;
    let naive: NaiveFsync | null = null;
    for (const m of MODES) {
      const t = d.get(m);
      if (!t) continue;
      if (m === "sync") {
        naive = await this.run.attempt("durability naive fsync", async () => naiveFsync(syncDir, this.dcfg.naiveCommits, this.dcfg.naiveBytes));
        if (naive) log(`durability naive journal: ${naive.commitsPerS.toFixed(0)} commits/s (p50 ${naive.p50Us.toFixed(0)} µs per write + fdatasync)`);
      }
      await this.run.attempt(`durability tx ×${conns} ${m}`, async () => {
        const j = (await this.run.lg.run(t, ["tx", conns, per, "disjoint"])).json;
        rows.push({
          mode: m,
          conns,
          perConn: per,
          commits: num(j, "commits"),
          commitsPerS: num(j, "commits_per_s"),
          seconds: num(j, "seconds"),
          eagain: num(j, "eagain"),
          exact: j.exact === true,
          daemonCpuS: daemonCpuSeconds(j.daemon_cpu_ns),
        });
        log(`durability tx ×${conns} ${m}: ${num(j, "commits_per_s").toFixed(0)} commits/s, ${num(j, "eagain")} EAGAIN, exact ${j.exact}`);
      });
    }
    return { tx: rows, naive };
  }

  /** Read the last populated domain's name back; null if xenstore-read is not there. */
  private async verify(t: ChildTarget, domid: number): Promise<boolean | null> {
    try {
      const r = await exec("xenstore-read", [`/local/domain/${domid}/name`, "/local/domain/1/name"], { XENSTORED_PATH: t.socket }, 30000);
      return r.status === 0 && r.stdout.trim().split("\n").join(" ") === `guest-${domid} guest-1`;
    } catch {
      return null;
    }
  }

  /**
   * Part 4: populate a fresh default-mode daemon, SIGKILL it, start it again
   * on the same rundir (dcfg.restarts times, each after a SIGKILL), the last
   * one stopped with SIGTERM.
   */
  private async restart(): Promise<DurabilityRestartResult> {
    const dir = join(this.tmp, "durability-restart");
    const { restartDomains: total, restartChunk: chunk } = this.dcfg;
    let t = await this.start(dir, "log");
    try {
      const res: DurabilityRestartResult = {
        domains: 0,
        nodesPerGuest: 0,
        populateS: 0,
        populateRequests: 0,
        emptyStartMs: t.startMs,
        rssBeforeKiB: 0,
        stateAtCrash: { allocatedBytes: 0, apparentBytes: 0, files: 0 },
        stateAfter: { allocatedBytes: 0, apparentBytes: 0, files: 0 },
        restarts: [],
      };
      for (let first = 1; first <= total; first += chunk) {
        const count = Math.min(chunk, total - first + 1);
        const j = (await this.run.lg.run(t, ["populate", this.cfg.toolstackConns, 32, first, count], 1800000)).json;
        res.domains += count;
        res.nodesPerGuest = num(j, "nodes_per_guest");
        res.populateS += num(j, "seconds");
        res.populateRequests += num(j, "requests");
      }
      res.rssBeforeKiB = memoryKiB(t.pid).rss;
      log(`durability restart: ${res.domains} domains populated in ${res.populateS.toFixed(1)} s, ${(res.rssBeforeKiB / 1024).toFixed(0)} MiB`);
      const stateDir = join(dir, "state");
      for (let i = 0; i < this.dcfg.restarts; i++) {
        await this.stop(t, true);
        if (i === 0) res.stateAtCrash = dirSize(stateDir);
        t = await this.start(dir, "log", 120000);
        const rec = parseRecovered(t.output());
        const row: DurabilityRestart = {
          readyMs: t.startMs,
          revision: rec?.revision ?? null,
          replayed: rec?.replayed ?? null,
          recoveredMs: rec?.ms ?? null,
          rssKiB: memoryKiB(t.pid).rss,
          verified: await this.verify(t, res.domains),
        };
        res.restarts.push(row);
        log(`durability restart ${i + 1} after SIGKILL: socket answered after ${row.readyMs.toFixed(0)} ms; ${rec ? `recovered revision ${rec.revision} (${rec.replayed} commits replayed, ${rec.ms} ms)` : "no \"recovered\" line"}; store ${row.verified === null ? "not checked" : row.verified ? "intact" : "WRONG"}`);
      }
      res.stateAfter = dirSize(stateDir);
      return res;
    } finally {
      await this.stop(t);
    }
  }
}
