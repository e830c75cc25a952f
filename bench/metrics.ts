/**
 * Workload 11: what `--metrics` costs the request path. Two fresh
 * tsxenstored daemons, the same but for `--metrics` (a Unix socket, scraped
 * once a second by this process for the whole workload, as Prometheus
 * would), both with `--durability off` so that only the metrics differ:
 *
 * 1. pipelined WRITEs (workload 3's `xsload par write 8 DEPTH N`, with 4 times
 *    its N, so that each run spans several scrapes);
 * 2. single-request latency (workload 2's `xsload seq read N`, daemon and
 *    client on one CPU as there).
 *
 * Each round measures both, in rotated order; the ratio is on ÷ off, the
 * median over the rounds of each round's ratio (the pair measured seconds
 * apart shares the machine's load of the moment).
 */
import { get } from "node:http";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { log, median, medianRows, num, parRow, rotate, startTsxenstored, daemonCpuSeconds, type ChildTarget, type LoadGenerator, type Target } from "./lib.js";
import type { Config, MetricsMode, MetricsParRow, MetricsResults, MetricsSeqRow } from "./types.js";

/** What workload 11 needs of the suite (bench/run.ts). */
export interface MetricsRunner {
  readonly lg: LoadGenerator;
  attempt<T>(what: string, f: () => Promise<T>): Promise<T | null>;
  onOneCpu<T>(targets: Target[], f: () => Promise<T>): Promise<T>;
}

const MODES: MetricsMode[] = ["off", "on"];
const CONNS = 8;
/** Each run this many times workload 3's writes, so that it spans several scrapes (a full run: about 2 s of writes). */
const LONGER = 4;
/** At least this many rounds: the difference sought is a few per cent, the machine's noise as much. */
const ROUNDS = 5;

/** One GET /metrics over a Unix socket: its time and size. */
function scrapeOnce(socketPath: string): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = get({ socketPath, path: "/metrics" }, (res) => {
      let bytes = 0;
      res.on("data", (d: Buffer) => (bytes += d.length));
      res.on("end", () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t0, bytes }) : reject(new Error(`GET /metrics: ${res.statusCode}`))));
    });
    req.on("error", reject);
  });
}

/** The median over rounds of (on ÷ off) in the same round. */
function paired<T extends { mode: MetricsMode; round: number }>(samples: T[], value: (x: T) => number): number | null {
  const rs: number[] = [];
  for (const on of samples) {
    if (on.mode !== "on") continue;
    const off = samples.find((o) => o.mode === "off" && o.round === on.round);
    if (off && value(off) > 0) rs.push(value(on) / value(off));
  }
  return rs.length ? median(rs) : null;
}

export class MetricsOverhead {
  constructor(
    private readonly run: MetricsRunner,
    private readonly cfg: Config,
    private readonly tmp: string,
  ) {}

  async all(): Promise<MetricsResults> {
    const rounds = Math.max(ROUNDS, this.cfg.rounds);
    const writes = this.cfg.parOps * LONGER;
    const sock = join(this.tmp, "metrics-on", "metrics.sock");
    const d = new Map<MetricsMode, ChildTarget>();
    for (const m of MODES) {
      const dir = join(this.tmp, `metrics-${m}`);
      mkdirSync(dir, { recursive: true });
      d.set(m, await startTsxenstored(dir, ["--durability", "off", ...(m === "on" ? ["--metrics", sock] : [])]));
    }
    const scrapes: { ms: number; bytes: number }[] = [];
    let scrapeErrors = 0;
    const timer = setInterval(() => {
      scrapeOnce(sock).then(
        (s) => scrapes.push(s),
        () => scrapeErrors++,
      );
    }, 1000);
    const par: (MetricsParRow & { round: number })[] = [];
    const seq: (MetricsSeqRow & { round: number })[] = [];
    try {
      for (const m of MODES) {
        const t = d.get(m)!;
        await this.run.attempt(`metrics warm-up ${m}`, async () => {
          await this.run.lg.run(t, ["par", "write", CONNS, this.cfg.parDepth, Math.round(this.cfg.parOps / 4)]);
          await this.run.lg.run(t, ["seq", "read", 2000]);
        });
      }
      for (let r = 0; r < rounds; r++) {
        for (const m of rotate(MODES, r)) {
          const t = d.get(m)!;
          await this.run.attempt(`metrics ${m}: write ×${CONNS}`, async () => {
            const j = (await this.run.lg.run(t, ["par", "write", CONNS, this.cfg.parDepth, writes])).json;
            par.push({ round: r, mode: m, ...parRow("tsxenstored", "write", CONNS, this.cfg.parDepth, j) });
          });
          await this.run.attempt(`metrics ${m}: seq read`, async () => {
            const j = (await this.run.onOneCpu([t], () => this.run.lg.run(t, ["seq", "read", this.cfg.seqOps]))).json;
            const ops = num(j, "ops");
            const dcpu = daemonCpuSeconds(j.daemon_cpu_ns);
            seq.push({ round: r, mode: m, ops, p50Us: num(j, "p50_us"), p99Us: num(j, "p99_us"), opsPerS: num(j, "ops_per_s"), daemonCpuUsPerOp: dcpu === null ? null : (dcpu / ops) * 1e6 });
          });
        }
      }
    } finally {
      clearInterval(timer);
      for (const t of d.values()) await t.stop();
    }
    const ms = scrapes.map((s) => s.ms);
    const out: MetricsResults = {
      rounds,
      parallel: medianRows(par, (x) => x.mode).map(({ round: _r, ...x }) => x),
      sequential: medianRows(seq, (x) => x.mode).map(({ round: _r, ...x }) => x),
      writesRatio: paired(par, (x) => x.opsPerS),
      p50Ratio: paired(seq, (x) => x.p50Us),
      p99Ratio: paired(seq, (x) => x.p99Us),
      scrapes: scrapes.length,
      scrapeErrors,
      scrapeP50Ms: ms.length ? median(ms) : null,
      scrapeMaxMs: ms.length ? Math.max(...ms) : null,
      scrapeBytes: scrapes.length ? scrapes[scrapes.length - 1]!.bytes : null,
    };
    log(
      `metrics: writes on ÷ off ${out.writesRatio?.toFixed(3)}, read p50 on ÷ off ${out.p50Ratio?.toFixed(3)}, p99 ${out.p99Ratio?.toFixed(3)}; ${out.scrapes} scrapes, p50 ${out.scrapeP50Ms?.toFixed(1)} ms, ${out.scrapeBytes} bytes`,
    );
    return out;
  }
}
