/** What a workload's renderer (bench/report/sections/*.ts) hands back. */
import type { Chart } from "./charts.js";
import type { Check } from "./targets.js";

export interface Section {
  /** The section of docs/benchmarks.md; absent for a part that only draws a chart. */
  markdown?: string;
  /** Its targets, in the order of the targets table. */
  checks: Check[];
  /** Its charts, in the order they are written. */
  charts: Chart[];
}
