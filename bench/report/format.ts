/**
 * Formatting for docs/benchmarks.md: numbers, ratios, marks and Markdown
 * tables, and the comparison with the better of the two upstream daemons.
 */
import type { DaemonName, TargetName } from "../lib.js";

/** The order servers are listed in, in the tables and the charts. */
export const ORDER: TargetName[] = ["tsxenstored", "cxenstored", "oxenstored", "echo-c", "echo-node"];
const PEER_NAMES: DaemonName[] = ["cxenstored", "oxenstored"];

export function n(x: number | null | undefined, digits = 0): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Three significant digits, with separators. */
export function g(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  const a = Math.abs(x);
  return n(x, a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
}

export function ratio(x: number | null): string {
  return x === null || !Number.isFinite(x) ? "–" : `${x < 10 ? x.toFixed(2) : x.toFixed(1)}×`;
}

export function mark(ok: boolean | null): string {
  return ok === null ? "–" : ok ? "✔" : "✘";
}

export function pct(x: number): string {
  return Number.isFinite(x) ? `${Math.round(x * 100)}%` : "–";
}

export function mib(kib: number): string {
  return n(kib / 1024, kib / 1024 >= 100 ? 0 : 1);
}

/** The server's name in a table, tsxenstored's in bold. */
export function tag(t: string): string {
  return t === "tsxenstored" ? "**tsxenstored**" : t;
}

export function table(head: string[], rows: string[][]): string {
  // Right-align the columns whose cells are mostly numbers.
  const numeric = (c: string): boolean => c === "–" || /^[-–−]?\d[\d.,]*(×|%| µs| ns| s| MiB)?( \(\w+\))?( \/ .*)?$/.test(c);
  const align = head.map((_, i) => {
    const cells = rows.map((r) => r[i] ?? "").filter((c) => c !== "");
    return cells.length && cells.filter(numeric).length * 2 > cells.length ? "---:" : "---";
  });
  return [`| ${head.join(" | ")} |`, `| ${align.join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

/** The better of cx and ox for a metric (lower or higher is better). */
export function best(values: Partial<Record<TargetName, number | null>>, higherIsBetter: boolean): { value: number | null; who: string } {
  let out: { value: number | null; who: string } = { value: null, who: "" };
  for (const p of PEER_NAMES) {
    const v = values[p];
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (out.value === null || (higherIsBetter ? v > out.value : v < out.value)) out = { value: v, who: p === "cxenstored" ? "cx" : "ox" };
  }
  return out;
}

export function div(a: number | null | undefined, b: number | null | undefined): number | null {
  return a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? null : a / b;
}
