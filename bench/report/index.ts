/**
 * docs/benchmarks.md, its charts (docs/bench/*.svg, drawn by vega-lite and
 * rendered headlessly by vega) and docs/bench/results.json from one run.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { Results } from "../types.js";
import { renderSvg } from "./charts.js";
import { explainMisses } from "./misses.js";
import { page } from "./page.js";
import type { Section } from "./section.js";
import { bootStormSection } from "./sections/boot-storm.js";
import { coldStartSection } from "./sections/cold-start.js";
import { durabilitySection } from "./sections/durability.js";
import { fanoutSection } from "./sections/fanout.js";
import { fullStoreSection } from "./sections/full-store.js";
import { metricsSection } from "./sections/metrics.js";
import { guestStormSection, hostileSection } from "./sections/guests.js";
import { cpuPerOpSection, parallelSection } from "./sections/parallel.js";
import { scaleSection } from "./sections/scale.js";
import { sequentialSection } from "./sections/sequential.js";
import { testXenstoreSection } from "./sections/test-xenstore.js";
import { transactionsSection } from "./sections/transactions.js";
import { targetsChart, targetsTable } from "./targets.js";

/** Writes outDir/benchmarks.md and outDir/bench/*; returns the files written, relative to the current directory. */
export async function writeReport(r: Results, outDir: string): Promise<string[]> {
  const benchDir = join(outDir, "bench");
  mkdirSync(benchDir, { recursive: true });
  // In page order, which is also the order of the targets table and of the files written.
  const parts = [
    testXenstoreSection(r),
    sequentialSection(r),
    parallelSection(r),
    cpuPerOpSection(r),
    transactionsSection(r),
    bootStormSection(r),
    scaleSection(r),
    fanoutSection(r),
    guestStormSection(r),
    hostileSection(r),
    durabilitySection(r),
    metricsSection(r),
    coldStartSection(r),
    fullStoreSection(r),
  ].filter((x): x is Section => x !== null);
  const checks = parts.flatMap((x) => x.checks);
  const sections = parts.flatMap((x) => (x.markdown === undefined ? [] : [x.markdown]));
  const charts = parts.flatMap((x) => x.charts);
  const summary = targetsChart(checks);
  if (summary) charts.push(summary);

  // Render the charts.
  const files: string[] = [];
  for (const c of charts) {
    const path = join(benchDir, c.file);
    writeFileSync(path, await renderSvg(c.spec));
    files.push(path);
  }
  const jsonPath = join(benchDir, "results.json");
  writeFileSync(jsonPath, JSON.stringify(r, null, 1) + "\n");
  files.push(jsonPath);

  const md = page(r, targetsTable(checks), explainMisses(r, checks), sections);
  const mdPath = join(outDir, "benchmarks.md");
  writeFileSync(mdPath, md);
  files.unshift(mdPath);
  return files.map((f) => relative(process.cwd(), f) || f);
}
