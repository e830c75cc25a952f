/**
 * The targets: one check per measured target (each workload's section makes
 * its own), their table at the top of docs/benchmarks.md and their chart.
 */
import { ratioChart, type Chart } from "./charts.js";
import { mark, ratio, table } from "./format.js";

export interface Check {
  workload: string;
  what: string;
  measured: string;
  target: string;
  /** tsxenstored ÷ the reference; null where the target is not a ratio or a side is missing. */
  ratio: number | null;
  threshold: number | null;
  /** null: not judged (something was not measured). */
  ok: boolean | null;
}

/** The "Targets" part of the page: how many were met, the table, the chart. */
export function targetsTable(checks: Check[]): string {
  const met = checks.filter((c) => c.ok === true).length;
  const judged = checks.filter((c) => c.ok !== null).length;
  return `## Targets

${met} of ${judged} targets met in this run. Ratio = tsxenstored ÷ reference.

${table(
  ["workload", "what", "measured", "ratio", "target", "met"],
  checks.map((c) => [c.workload, c.what, c.measured, ratio(c.ratio), c.target, mark(c.ok)]),
)}

![targets](bench/targets.svg)`;
}

/** Target summary chart: tsxenstored ÷ reference against each threshold; none if no check has both. */
export function targetsChart(checks: Check[]): Chart | null {
  const withRatio = checks.filter((c) => c.ratio !== null && c.threshold !== null);
  if (!withRatio.length) return null;
  const values = withRatio.map((c) => ({
    item: `${c.workload.replace(/^\d+ /, "")}: ${c.what.replace(/`/g, "").replace(/ \(.*\)$/, "")}`,
    ratio: c.ratio,
    threshold: c.threshold,
    result: c.ok ? "met" : "missed",
  }));
  return { file: "targets.svg", title: "targets", spec: ratioChart(values) };
}
