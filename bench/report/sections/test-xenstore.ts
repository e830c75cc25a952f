/** Section 1 of docs/benchmarks.md: the upstream test-xenstore, ns per operation. */
import { DAEMONS, median, type DaemonName, type TargetName } from "../../lib.js";
import type { Results } from "../../types.js";
import { grouped, type Bar, type Chart } from "../charts.js";
import { best, div, g, mark, n, ratio, table } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

/** Each daemon's median, over the rounds, of each test's ns per operation. */
function testXenstoreMedians(r: Results): Map<DaemonName, Record<string, number>> {
  const out = new Map<DaemonName, Record<string, number>>();
  const tx = r.testXenstore;
  if (!tx) return out;
  for (const d of DAEMONS) {
    const runs = tx.runs.filter((x) => x.target === d);
    if (!runs.length) continue;
    const m: Record<string, number> = {};
    for (const t of tx.tests) {
      const xs = runs.map((x) => x.nsPerOp[t]).filter((x): x is number => x !== undefined);
      if (xs.length) m[t] = median(xs);
    }
    out.set(d, m);
  }
  return out;
}

export function testXenstoreSection(r: Results): Section | null {
  if (!r.testXenstore) return null;
  const checks: Check[] = [];
  const charts: Chart[] = [];
  const tx = r.testXenstore;
  const med = testXenstoreMedians(r);
  const rows: string[][] = [];
  const values: Bar[] = [];
  for (const t of tx.tests) {
    const v: Partial<Record<TargetName, number>> = {};
    for (const d of DAEMONS) {
      const x = med.get(d)?.[t];
      if (x !== undefined) {
        v[d] = x;
        values.push({ group: t, target: d, value: x / 1000 });
      }
    }
    const b = best(v, false);
    const q = div(v.tsxenstored, b.value);
    const ok = q === null ? null : q <= 1.0;
    rows.push([t, ...DAEMONS.map((d) => n(v[d])), `${ratio(q)} (${b.who || "–"})`, mark(ok)]);
    checks.push({ workload: "1 test-xenstore", what: `\`${t}\``, measured: `${n(v.tsxenstored)} ns vs ${n(b.value)} ns (${b.who})`, target: "≤ 1.0×", ratio: q, threshold: 1.0, ok });
  }
  const cpuRows = DAEMONS.map((d) => {
    const runs = tx.runs.filter((x) => x.target === d);
    const failed = [...new Set(runs.flatMap((x) => x.failed))];
    return [
      d,
      g(median(runs.map((x) => x.seconds))),
      g(median(runs.map((x) => x.daemonCpuS ?? NaN))),
      g(median(runs.map((x) => x.clientCpuS))),
      failed.length ? failed.join("; ") : "all passed",
    ];
  });
  const markdown = `## 1. Upstream \`test-xenstore\`

\`test-xenstore -i ${n(tx.iterations)}\` (the 12 tests of Xen's \`tools/tests/xenstore\`)${r.pinnedCpu !== null ? `, daemon and test-xenstore on CPU ${r.pinnedCpu}` : ""}, ${tx.rounds} round(s) with the daemons' order rotated; the median of each test's average is shown, in ns per operation (lower is better). Ratio: tsxenstored ÷ the better of cx/ox. Target ≤ 1.0× on every test.

${table(["test", "tsxenstored ns", "cxenstored ns", "oxenstored ns", "ratio", "≤ 1.0×"], rows)}

Whole \`test-xenstore\` run (median): wall time, the daemon's CPU time during it, and the client's CPU time (test-xenstore itself, which is single-threaded and waits for each reply).

${table(["daemon", "wall s", "daemon CPU s", "client CPU s", "result"], cpuRows)}

![test-xenstore](bench/test-xenstore.svg)`;
  charts.push({ file: "test-xenstore.svg", title: "test-xenstore", spec: grouped("test-xenstore: µs per operation (lower is better)", values, "µs / op", "test") });
  return { markdown, checks, charts };
}
