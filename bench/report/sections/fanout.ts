/** Section 7 of docs/benchmarks.md: watch events delivered per second. */
import type { TargetName } from "../../lib.js";
import type { Results } from "../../types.js";
import { grouped, type Chart } from "../charts.js";
import { best, div, g, n, ratio, table, tag } from "../format.js";
import type { Section } from "../section.js";

export function fanoutSection(r: Results): Section | null {
  if (!r.fanout) return null;
  const charts: Chart[] = [];
  const cfg = r.config;
  const rows = r.fanout;
  const eps: Partial<Record<TargetName, number>> = {};
  for (const x of rows) eps[x.target] = x.eventsPerS;
  const b = best(eps, true);
  const body = rows.map((x) => [
    tag(x.target),
    n(x.watches),
    n(x.writes),
    n(x.writesPerS),
    n(x.eventsPerS),
    `${n(x.events)} / ${n(x.expectedEvents)}`,
    g(x.daemonCpuUsPerEvent),
    g(x.clientCpuS),
    x.target === "tsxenstored" ? `${ratio(div(x.eventsPerS, b.value))} (${b.who})` : "",
  ]);
  const markdown = `## 7. Watch fan-out

\`xsload fanout ${n(cfg.fanoutWatches)} ${n(cfg.fanoutWrites)}\`: ${n(cfg.fanoutWatches)} watches (16 connections) on \`/\`, \`/fan\`, … \`/fan/a/b/c/d/hot\` (the ancestors of the hot path and the path itself), then writes to \`/fan/a/b/c/d/hot\`; each write is sent once the previous one's reply and all of its ${n(cfg.fanoutWatches)} events have arrived, so every event is delivered (none can be coalesced) and events/s = writes/s × watches. No target; ratio: tsxenstored ÷ the better of cx/ox (higher is better).

${table(["daemon", "watches", "writes", "writes/s", "events/s", "events delivered", "daemon CPU µs/event", "client CPU s", "ratio"], body)}

![watch fan-out](bench/fanout.svg)`;
  charts.push({ file: "fanout.svg", title: "fanout", spec: grouped("Watch fan-out: events delivered per second (higher is better)", rows.map((x) => ({ group: `${n(x.watches)} watches`, target: x.target, value: x.eventsPerS })), "events/s", "") });
  return { markdown, checks: [], charts };
}
