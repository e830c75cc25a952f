/** Section 1 of docs/benchmarks.md: the upstream test-xenstore, ns per operation. */
import { DAEMONS, median, type DaemonName, type TargetName } from "../../lib.js";
import type { Results, TestXenstoreRun } from "../../types.js";
import { grouped, type Bar, type Chart } from "../charts.js";
import { best, div, g, mark, n, ratio, table } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

function geomean(xs: number[]): number | null {
  return xs.length ? Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length) : null;
}

/** Whether a run was pinned (runs saved before unpinned ones existed: as the whole run was). */
function pinnedRun(r: Results, x: TestXenstoreRun): boolean {
  return x.pinned ?? r.pinnedCpu !== null;
}

/** Each daemon's median, over the rounds, of each test's ns per operation: the pinned runs, or the unpinned ones. */
function testXenstoreMedians(r: Results, pinned: boolean): Map<DaemonName, Record<string, number>> {
  const out = new Map<DaemonName, Record<string, number>>();
  const tx = r.testXenstore;
  if (!tx) return out;
  for (const d of DAEMONS) {
    const runs = tx.runs.filter((x) => x.target === d && pinnedRun(r, x) === pinned);
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
  const main = r.pinnedCpu !== null;
  const med = testXenstoreMedians(r, main);
  // Unpinned rounds beside the pinned ones; with --no-pin the main rounds are the unpinned ones.
  const unpinned = testXenstoreMedians(r, false);
  const beside = main && unpinned.size > 0;
  const rows: string[][] = [];
  const values: Bar[] = [];
  const unpinnedValues: Bar[] = [];
  const toCx: { test: string; q: number }[] = [];
  const toBest: number[] = [];
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
    if (q !== null) toBest.push(q);
    const row = [t, ...DAEMONS.map((d) => n(v[d])), `${ratio(q)} (${b.who || "–"})`, mark(ok)];
    checks.push({ workload: "1 test-xenstore", what: `\`${t}\``, measured: `${n(v.tsxenstored)} ns vs ${n(b.value)} ns (${b.who})`, target: "≤ 1.0×", ratio: q, threshold: 1.0, ok });
    const u = Object.fromEntries(DAEMONS.map((d) => [d, unpinned.get(d)?.[t]])) as Partial<Record<DaemonName, number>>;
    const uq = div(u.tsxenstored, u.cxenstored);
    if (uq !== null) toCx.push({ test: t, q: uq });
    if (beside) {
      row.push(...DAEMONS.map((d) => n(u[d])), ratio(uq), mark(uq === null ? null : uq <= 1.1));
      for (const d of DAEMONS) if (u[d] !== undefined) unpinnedValues.push({ group: t, target: d, value: u[d] / 1000 });
    }
    rows.push(row);
  }
  // Unpinned: the geometric mean of the tests' ratios to cxenstored, and the worst test.
  if (unpinned.size > 0) {
    const geo = geomean(toCx.map((x) => x.q));
    const worst = [...toCx].sort((a, b) => b.q - a.q)[0];
    const rounds = main ? (tx.unpinnedRounds ?? 0) : tx.rounds;
    checks.push({ workload: "1 test-xenstore", what: "unpinned: geometric mean ÷ cx", measured: `${toCx.length} tests, ${rounds} round(s)`, target: "≤ 1.0×", ratio: geo, threshold: 1.0, ok: geo === null ? null : geo <= 1.0 });
    checks.push({ workload: "1 test-xenstore", what: "unpinned: slowest test ÷ cx", measured: worst ? `\`${worst.test}\`` : "–", target: "≤ 1.1×", ratio: worst?.q ?? null, threshold: 1.1, ok: worst ? worst.q <= 1.1 : null });
    if (beside) rows.push(["**geometric mean**", "", "", "", ratio(geomean(toBest)), "", "", "", "", ratio(geo), mark(geo === null ? null : geo <= 1.0)]);
    else rows.push(["**geometric mean ÷ cx**", "", "", "", `${ratio(geo)} (cx)`, mark(geo === null ? null : geo <= 1.0)]);
  }
  const cpuRows: string[][] = [];
  for (const pinned of beside ? [true, false] : [main])
    for (const d of DAEMONS) {
      const runs = tx.runs.filter((x) => x.target === d && pinnedRun(r, x) === pinned);
      if (!runs.length) continue;
      const failed = [...new Set(runs.flatMap((x) => x.failed))];
      cpuRows.push([
        d,
        ...(beside ? [pinned ? `CPU ${r.pinnedCpu}` : "unpinned"] : []),
        n(runs.length),
        g(median(runs.map((x) => x.seconds))),
        g(median(runs.map((x) => x.daemonCpuS ?? NaN))),
        g(median(runs.map((x) => x.clientCpuS))),
        failed.length ? failed.join("; ") : "all passed",
      ]);
    }
  const head = ["test", "tsxenstored ns", "cxenstored ns", "oxenstored ns", "ratio", "≤ 1.0×"];
  if (beside) head.push("unpinned: tsxenstored ns", "cxenstored ns", "oxenstored ns", "÷ cx", "≤ 1.1×");
  const how = main
    ? `, daemon and test-xenstore on CPU ${r.pinnedCpu}, ${tx.rounds} round(s)${beside ? `, and in the same rounds, ${tx.unpinnedRounds} round(s) unpinned (the scheduler places both; which kind goes first alternates)` : ""}`
    : `, unpinned (\`--no-pin\`), ${tx.rounds} round(s)`;
  const unpinnedTargets =
    unpinned.size > 0
      ? ` Unpinned${main ? " (right)" : ""}: the ratio is to cxenstored; targets: the geometric mean of the tests' ratios ≤ 1.0× and no test above 1.1×.`
      : "";
  const markdown = `## 1. Upstream \`test-xenstore\`

\`test-xenstore -i ${n(tx.iterations)}\` (the 12 tests of Xen's \`tools/tests/xenstore\`)${how}, with the daemons' order rotated each round; the median of each test's average is shown, in ns per operation (lower is better). Ratio: tsxenstored ÷ the better of cx/ox. Target ≤ 1.0× on every test.${unpinnedTargets}

${table(head, rows)}

Whole \`test-xenstore\` run (median): wall time, the daemon's CPU time during it, and the client's CPU time (test-xenstore itself, which is single-threaded and waits for each reply).

${table(["daemon", ...(beside ? ["CPU"] : []), "runs", "wall s", "daemon CPU s", "client CPU s", "result"], cpuRows)}

![test-xenstore](bench/test-xenstore.svg)${beside ? "\n\n![test-xenstore unpinned](bench/test-xenstore-unpinned.svg)" : ""}`;
  charts.push({ file: "test-xenstore.svg", title: "test-xenstore", spec: grouped(`test-xenstore${beside ? ` on CPU ${r.pinnedCpu}` : ""}: µs per operation (lower is better)`, values, "µs / op", "test") });
  if (beside) charts.push({ file: "test-xenstore-unpinned.svg", title: "test-xenstore unpinned", spec: grouped("test-xenstore unpinned: µs per operation (lower is better)", unpinnedValues, "µs / op", "test") });
  return { markdown, checks, charts };
}
