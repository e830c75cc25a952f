/**
 * Section 11 of docs/benchmarks.md: what `--metrics` costs the request
 * path (tsxenstored only): pipelined writes and single-request latency on
 * a daemon with `--metrics` (scraped once a second) ÷ one without.
 */
import type { Results } from "../../types.js";
import { g, n, pct, ratio, table } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

const WORKLOAD = "11 metrics";

export function metricsSection(r: Results): Section | null {
  const m = r.metrics;
  if (!m) return null;
  const checks: Check[] = [];
  const par = (mode: "on" | "off") => m.parallel.find((x) => x.mode === mode);
  const seq = (mode: "on" | "off") => m.sequential.find((x) => x.mode === mode);
  const flag = (mode: "on" | "off"): string => (mode === "on" ? "`--metrics` (scraped each second)" : "off");
  const body: string[][] = [];
  for (const mode of ["off", "on"] as const) {
    const p = par(mode);
    if (p) body.push([`write ×${p.conns} (pipelined)`, flag(mode), `${n(p.opsPerS)} writes/s`, g(p.daemonCpuUsPerOp), pct(p.clientBusy), mode === "on" ? ratio(m.writesRatio) : ""]);
  }
  for (const mode of ["off", "on"] as const) {
    const s = seq(mode);
    if (s) body.push(["read, one at a time", flag(mode), `p50 ${g(s.p50Us)} µs, p99 ${g(s.p99Us)} µs`, g(s.daemonCpuUsPerOp), "", mode === "on" ? `${ratio(m.p50Ratio)} (p99 ${ratio(m.p99Ratio)})` : ""]);
  }
  const w = m.writesRatio;
  checks.push({ workload: WORKLOAD, what: "pipelined `write ×8`: --metrics ÷ off", measured: `${n(par("on")?.opsPerS)} vs ${n(par("off")?.opsPerS)} writes/s (medians)`, target: "≥ 0.95×", ratio: w, threshold: 0.95, ok: w === null ? null : w >= 0.95 });
  const l = m.p50Ratio;
  checks.push({ workload: WORKLOAD, what: "`read` p50 latency: --metrics ÷ off", measured: `${g(seq("on")?.p50Us)} vs ${g(seq("off")?.p50Us)} µs (medians)`, target: "≤ 1.05×", ratio: l, threshold: 1.05, ok: l === null ? null : l <= 1.05 });
  const markdown = `## 11. The cost of metrics (tsxenstored only)

Two fresh tsxenstored daemons with \`--durability off\`, one with \`--metrics\` on a Unix socket, which this suite scrapes once a second for the whole workload (${n(m.scrapes)} scrapes${m.scrapeErrors ? `, ${m.scrapeErrors} failed` : ""}; a scrape took ${g(m.scrapeP50Ms)} ms (median, ${g(m.scrapeMaxMs)} ms at most) and returned ${n(m.scrapeBytes)} bytes). The request path keeps integer counters and, with \`--metrics\`, reads the clock before and after one request in 16 for the latency histogram; everything else is computed when scraped. Workload 3's \`xsload par write 8 ${r.config.parDepth} ${n(m.parallel[0]?.ops ?? 4 * r.config.parOps)}\` (4 times its writes, to span several scrapes) and workload 2's \`xsload seq read ${n(r.config.seqOps)}\` (daemon and client on one CPU) run against each, ${m.rounds} rounds in rotated order; figures are medians, ratios the median of each round's on ÷ off.

${body.length ? table(["case", "metrics", "result", "daemon CPU µs/op", "client busy", "on ÷ off"], body) : "Not measured (see what failed)."}`;
  return { markdown, checks, charts: [] };
}
