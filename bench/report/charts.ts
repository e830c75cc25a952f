/**
 * The report's charts: vega-lite specifications (grouped bars, the memory
 * curve, the empty/full latency pairs, the targets) and their headless
 * rendering to SVG by vega.
 */
import * as vega from "vega";
import * as vl from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import { DAEMONS, type TargetName } from "../lib.js";
import { ORDER } from "./format.js";

const COLORS = ["#4c78a8", "#f58518", "#54a24b", "#9d9d9d", "#cfcfcf"];

/** One chart, written to docs/bench/<file>. */
export interface Chart {
  file: string;
  title: string;
  spec: TopLevelSpec;
}

/** One bar of a grouped chart: a server's value in one group. */
export interface Bar {
  group: string;
  target: string;
  value: number;
}

function colorScale(present: string[]): { domain: string[]; range: string[] } {
  const domain = ORDER.filter((t) => present.includes(t));
  return { domain, range: domain.map((t) => COLORS[ORDER.indexOf(t as TargetName)]!) };
}

export function grouped(title: string, values: Bar[], yTitle: string, groupTitle: string, log = false): TopLevelSpec {
  const targets = [...new Set(values.map((v) => v.target))];
  const groups = [...new Set(values.map((v) => v.group))];
  // Log scale: bars start at the power of ten below the smallest value.
  const floor = 10 ** Math.floor(Math.log10(Math.max(1e-9, Math.min(...values.map((v) => v.value).filter((v) => v > 0)))));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    background: "white",
    // With xOffset, the step is the width of one bar.
    width: { step: Math.max(8, Math.min(22, Math.floor(640 / Math.max(1, groups.length * targets.length)))) } as unknown as number,
    height: 240,
    data: { values },
    mark: { type: "bar", tooltip: true },
    encoding: {
      x: { field: "group", type: "nominal", title: groupTitle, sort: groups, axis: { labelAngle: groups.some((x) => x.length > 8) ? -30 : 0 } },
      xOffset: { field: "target", type: "nominal", sort: colorScale(targets).domain },
      y: { field: "value", type: "quantitative", title: log ? `${yTitle} (log scale)` : yTitle, scale: log ? { type: "log", domainMin: floor } : { zero: true } },
      ...(log ? { y2: { datum: floor } } : {}),
      color: { field: "target", type: "nominal", title: null, scale: colorScale(targets), legend: { orient: "top" } },
    },
  } as TopLevelSpec;
}

/** Workload 6: each daemon's VmRSS (MiB) at each checkpoint, as lines. */
export function memoryChart(points: { target: string; domains: number; rss: number }[]): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Resident memory (VmRSS) as the store grows",
    background: "white",
    width: 420,
    height: 240,
    data: { values: points },
    mark: { type: "line", point: true, tooltip: true },
    encoding: {
      x: { field: "domains", type: "quantitative", title: "domains in the store" },
      y: { field: "rss", type: "quantitative", title: "VmRSS MiB" },
      color: { field: "target", type: "nominal", title: null, scale: colorScale(DAEMONS), legend: { orient: "top" } },
    },
  } as TopLevelSpec;
}

/** Workload 6: p50 per operation, each daemon's empty and full store side by side (targets "<daemon> empty|full"). */
export function emptyFullChart(values: Bar[]): TopLevelSpec {
  const latTargets = DAEMONS.flatMap((d) => [`${d} empty`, `${d} full`]);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "p50 latency (µs), empty store vs full store (lower is better)",
    background: "white",
    width: { step: 12 } as unknown as number,
    height: 220,
    data: { values },
    mark: { type: "bar", tooltip: true },
    encoding: {
      x: { field: "group", type: "nominal", title: "operation", sort: [...new Set(values.map((v) => v.group))], axis: { labelAngle: 0 } },
      xOffset: { field: "target", type: "nominal", sort: latTargets },
      y: { field: "value", type: "quantitative", title: "p50 µs" },
      color: {
        field: "target",
        type: "nominal",
        title: null,
        scale: { domain: latTargets, range: ["#9ecae9", "#4c78a8", "#ffbf79", "#f58518", "#a8d89d", "#54a24b"] },
        legend: { orient: "top", columns: 3 },
      },
    },
  } as TopLevelSpec;
}

/** The targets: one bar per ratio, from 1 on a log scale, and a tick at its threshold. */
export function ratioChart(values: { item: string; ratio: number | null; threshold: number | null; result: string }[]): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "tsxenstored ÷ reference (bar) against the target (black tick)",
      subtitle: "\"≤\" targets are met left of the tick, \"≥\" targets right of it",
    },
    background: "white",
    width: 360,
    height: { step: 16 } as unknown as number,
    data: { values },
    layer: [
      {
        mark: { type: "bar", tooltip: true },
        encoding: {
          y: { field: "item", type: "nominal", title: null, sort: null, axis: { labelLimit: 440 } },
          x: { field: "ratio", type: "quantitative", title: "ratio (log scale; bars start at 1)", scale: { type: "log" } },
          x2: { datum: 1 },
          color: { field: "result", type: "nominal", title: null, scale: { domain: ["met", "missed"], range: ["#54a24b", "#e45756"] }, legend: { orient: "top" } },
        },
      },
      {
        mark: { type: "tick", color: "black", thickness: 2 },
        encoding: {
          y: { field: "item", type: "nominal", sort: null },
          x: { field: "threshold", type: "quantitative" },
        },
      },
    ],
  } as unknown as TopLevelSpec;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
