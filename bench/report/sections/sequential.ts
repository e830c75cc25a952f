/** Section 2 of docs/benchmarks.md: one connection, one request at a time. */
import type { TargetName } from "../../lib.js";
import type { Results, SeqRow } from "../../types.js";
import { grouped, type Bar, type Chart } from "../charts.js";
import { ORDER, best, div, g, n, pct, ratio, table, tag } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

function seqByOp(rows: SeqRow[], op: string, t: string): SeqRow | undefined {
  return rows.find((x) => x.op === op && x.target === t);
}

export function sequentialSection(r: Results): Section | null {
  if (!r.sequential) return null;
  const checks: Check[] = [];
  const charts: Chart[] = [];
  const cfg = r.config;
  const rows = r.sequential;
  const ops = [...new Set(rows.map((x) => x.op))];
  const body: string[][] = [];
  const values: Bar[] = [];
  for (const op of ops) {
    const p50: Partial<Record<TargetName, number>> = {};
    for (const t of ORDER) {
      const x = seqByOp(rows, op, t);
      if (!x) continue;
      p50[t] = x.p50Us;
      values.push({ group: op, target: t, value: x.p50Us });
    }
    const b = best(p50, false);
    for (const t of ORDER) {
      const x = seqByOp(rows, op, t);
      if (!x) continue;
      body.push([
        op,
        tag(t),
        g(x.p50Us),
        g(x.p99Us),
        n(x.opsPerS),
        g(x.daemonCpuUsPerOp),
        g(x.clientCpuUsPerOp),
        pct(x.clientBusy),
        t === "tsxenstored" ? `${ratio(div(x.p50Us, b.value))} (${b.who})` : "",
      ]);
    }
    const ts = seqByOp(rows, op, "tsxenstored");
    const cx = seqByOp(rows, op, "cxenstored");
    const q = div(ts?.daemonCpuUsPerOp, cx?.daemonCpuUsPerOp);
    checks.push({
      workload: "2 sequential",
      what: `daemon CPU per \`${op}\``,
      measured: `${g(ts?.daemonCpuUsPerOp)} µs vs ${g(cx?.daemonCpuUsPerOp)} µs (cx)`,
      target: "≤ cx",
      ratio: q,
      threshold: 1.0,
      ok: q === null ? null : q <= 1.0,
    });
  }
  const markdown = `## 2. One connection, sequential requests

\`xsload seq OP ${n(cfg.seqOps)}\`: one connection, one request at a time${r.pinnedCpu !== null ? `, server and client on CPU ${r.pinnedCpu}` : ""}, ${cfg.rounds} round(s) (median). \`read\`/\`write\` use 64 keys \`/bench/c0/k*\`, \`dir\` lists them, \`mkdirrm\` is a MKDIR then an RM of a new node (two requests per op). \`echo-c\` and \`echo-node\` are the minimal servers of \`bench/echo.c\` and \`bench/echo-server.ts\` (same framing, every reply "OK"): the floor of this transport on this machine, for C and for Node. Daemon CPU is its utime+stime over the timed part; "client busy" is the load generator's CPU time ÷ wall time (below 100% means it was waiting for the server). Ratio: tsxenstored p50 ÷ the better of cx/ox (lower is better).

${table(["op", "server", "p50 µs", "p99 µs", "ops/s", "daemon CPU µs/op", "client CPU µs/op", "client busy", "p50 ratio"], body)}

![sequential latency](bench/sequential.svg)`;
  charts.push({ file: "sequential.svg", title: "sequential", spec: grouped("One connection: p50 latency in µs (lower is better)", values, "p50 µs", "operation") });
  return { markdown, checks, charts };
}
