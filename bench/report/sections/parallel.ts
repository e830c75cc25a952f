/**
 * Section 3 of docs/benchmarks.md: pipelined requests on parallel
 * connections; and the chart of CPU per operation it shows, which also
 * covers workload 2.
 */
import type { TargetName } from "../../lib.js";
import type { Results } from "../../types.js";
import { grouped, type Bar, type Chart } from "../charts.js";
import { ORDER, best, div, g, mark, n, pct, ratio, table, tag } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

export function parallelSection(r: Results): Section | null {
  if (!r.parallel) return null;
  const checks: Check[] = [];
  const charts: Chart[] = [];
  const cfg = r.config;
  const rows = r.parallel;
  const cases = [...new Set(rows.map((x) => `${x.op} ×${x.conns}`))];
  const body: string[][] = [];
  const values: Bar[] = [];
  for (const c of cases) {
    const of = (t: string) => rows.find((x) => `${x.op} ×${x.conns}` === c && x.target === t);
    const tput: Partial<Record<TargetName, number>> = {};
    for (const t of ORDER) {
      const x = of(t);
      if (!x) continue;
      tput[t] = x.opsPerS;
      values.push({ group: c, target: t, value: x.opsPerS });
    }
    const b = best(tput, true);
    const q = div(tput.tsxenstored, b.value);
    for (const t of ORDER) {
      const x = of(t);
      if (!x) continue;
      const busy = x.daemonCpuUsPerOp === null ? NaN : (x.daemonCpuUsPerOp * x.opsPerS) / 1e6;
      body.push([c, tag(t), n(x.opsPerS), g(x.daemonCpuUsPerOp), pct(busy), g(x.clientCpuUsPerOp), pct(x.clientBusy), t === "tsxenstored" ? `${ratio(q)} (${b.who})` : "", t === "tsxenstored" ? mark(q === null ? null : q >= 1.5) : ""]);
    }
    checks.push({ workload: "3 parallel", what: `throughput \`${c}\``, measured: `${n(tput.tsxenstored)} vs ${n(b.value)} ops/s (${b.who})`, target: "≥ 1.5×", ratio: q, threshold: 1.5, ok: q === null ? null : q >= 1.5 });
    const ts = of("tsxenstored");
    const cx = of("cxenstored");
    const qc = div(ts?.daemonCpuUsPerOp, cx?.daemonCpuUsPerOp);
    checks.push({ workload: "3 parallel", what: `daemon CPU per op \`${c}\``, measured: `${g(ts?.daemonCpuUsPerOp)} µs vs ${g(cx?.daemonCpuUsPerOp)} µs (cx)`, target: "≤ cx", ratio: qc, threshold: 1.0, ok: qc === null ? null : qc <= 1.0 });
  }
  const markdown = `## 3. Parallel connections, pipelined

\`xsload par OP CONNS ${cfg.parDepth} ${n(cfg.parOps)}\`: CONNS connections, each keeping ${cfg.parDepth} requests in flight, ${n(cfg.parOps)} requests in all; ${cfg.rounds} round(s) (median). Aggregate ops/s (higher is better); ratio: tsxenstored ÷ the better of cx/ox, target ≥ 1.5×. The client is one C process multiplexing all connections with poll(2). "daemon busy" and "client busy" are CPU time ÷ wall time (100% = one core): the daemons are single-threaded (Node adds a few helper threads), so a daemon near 100% was the limit; the echo servers show how much more the same client can drive. A server that sends each reply in its own write makes the client read more often, hence the client's higher CPU per op with cx and ox.

${table(["case", "server", "ops/s", "daemon CPU µs/op", "daemon busy", "client CPU µs/op", "client busy", "ratio", "≥ 1.5×"], body)}

![parallel throughput](bench/parallel.svg)

![daemon CPU per operation](bench/cpu-per-op.svg)`;
  charts.push({ file: "parallel.svg", title: "parallel", spec: grouped("Pipelined connections: aggregate ops/s (higher is better)", values, "ops/s", "operation × connections") });
  return { markdown, checks, charts };
}

/**
 * Daemon CPU per operation in workloads 2 and 3 together: drawn whenever
 * either ran (section 3 shows it), so it is a part of its own.
 */
export function cpuPerOpSection(r: Results): Section | null {
  if (!r.sequential && !r.parallel) return null;
  const values: Bar[] = [];
  for (const x of r.sequential ?? []) if (x.daemonCpuUsPerOp !== null) values.push({ group: `seq ${x.op}`, target: x.target, value: x.daemonCpuUsPerOp });
  for (const x of r.parallel ?? []) if (x.daemonCpuUsPerOp !== null) values.push({ group: `${x.op} ×${x.conns}`, target: x.target, value: x.daemonCpuUsPerOp });
  const chart = { file: "cpu-per-op.svg", title: "cpu", spec: grouped("Server CPU time per operation in µs (lower is better)", values, "CPU µs / op", "workload") };
  return { checks: [], charts: [chart] };
}
