/**
 * Section 6 of docs/benchmarks.md: memory as the store fills with domains,
 * and latency on the full store against an empty twin.
 */
import type { DaemonName } from "../../lib.js";
import type { Results, ScaleDaemon } from "../../types.js";
import { emptyFullChart, memoryChart, type Bar, type Chart } from "../charts.js";
import { div, g, mark, mib, n, ratio, table, tag } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

export function scaleSection(r: Results): Section | null {
  if (!r.scale) return null;
  const checks: Check[] = [];
  const charts: Chart[] = [];
  const cfg = r.config;
  const s = r.scale;
  const of = (t: DaemonName): ScaleDaemon | undefined => s.find((x) => x.target === t);
  const body = s.map((x) => [
    tag(x.target),
    `${n(x.domains)}${x.stoppedEarly ? " (stopped: time budget)" : ""}`,
    n(x.domains * x.nodesPerGuest),
    g(x.populateS),
    n(x.populateRequests / Math.max(x.populateS, 1e-9)),
    g(x.populateDaemonCpuS),
    mib(x.rssEmptyKiB),
    mib(x.rssFullKiB),
    (() => {
      const last = x.checkpoints[x.checkpoints.length - 1];
      return last?.anonKiB !== undefined ? `${mib(last.anonKiB)} / ${mib(last.fileKiB ?? 0)}` : "–";
    })(),
    mib(x.hwmFullKiB),
    x.domains ? n(((x.rssFullKiB - x.rssEmptyKiB) * 1024) / (x.domains * x.nodesPerGuest)) : "–",
  ]);
  // Memory: at the largest domain count every daemon reached (the checkpoints share one grid).
  const ts = of("tsxenstored");
  const cx = of("cxenstored");
  let memNote = "";
  if (ts && cx) {
    const common = Math.min(ts.domains, cx.domains);
    const at = (x: ScaleDaemon) => x.checkpoints.find((c) => c.domains === common);
    const a = at(ts);
    const b = at(cx);
    const q = div(a?.rssKiB, b?.rssKiB);
    const anon = a?.anonKiB !== undefined && b?.anonKiB !== undefined ? `; private (RssAnon) ${mib(a.anonKiB)} vs ${mib(b.anonKiB)} MiB` : "";
    checks.push({
      workload: "6 scale",
      what: `resident memory, ${n(common)} domains${common < cfg.scaleDomains ? ` (the most both reached; target is for ${n(cfg.scaleDomains)})` : ""}`,
      measured: `${a ? mib(a.rssKiB) : "–"} MiB vs ${b ? mib(b.rssKiB) : "–"} MiB (cx)${anon}`,
      target: "≤ cx",
      ratio: q,
      threshold: 1,
      ok: q === null ? null : q <= 1,
    });
    if (common < cfg.scaleDomains) memNote = `\n\nNot every daemon reached ${n(cfg.scaleDomains)} domains within its populate budget of ${cfg.scaleBudgetSeconds} s, so memory is compared at ${n(common)} domains, the most both tsxenstored and cxenstored reached (see the chart for the whole curve).`;
  }
  const lat: string[][] = [];
  const values: Bar[] = [];
  for (const x of s) {
    for (const e of x.seqEmpty) {
      const f = x.seqFull.find((y) => y.op === e.op);
      const q = div(f?.p50Us, e.p50Us);
      lat.push([tag(x.target), e.op, g(e.p50Us), g(f?.p50Us), g(e.p99Us), g(f?.p99Us), ratio(q), x.target === "tsxenstored" ? mark(q === null ? null : q <= 1.5) : ""]);
      values.push({ group: `${e.op}`, target: `${x.target} empty`, value: e.p50Us });
      if (f) values.push({ group: `${e.op}`, target: `${x.target} full`, value: f.p50Us });
      if (x.target === "tsxenstored")
        checks.push({ workload: "6 scale", what: `\`${e.op}\` p50 on the full store (${n(x.domains)} domains) ÷ empty`, measured: `${g(f?.p50Us)} µs vs ${g(e.p50Us)} µs`, target: "≤ 1.5×", ratio: q, threshold: 1.5, ok: q === null ? null : q <= 1.5 });
    }
  }
  const markdown = `## 6. Scale: ${n(cfg.scaleDomains)} domains

Fresh daemons, two of each: one is filled with guests (the boot storm's trees without the vbd, about ${n(s[0]?.nodesPerGuest ?? 0)} nodes each; \`xsload populate ${cfg.toolstackConns} 32 FIRST ${n(cfg.scaleChunk)}\`: plain pipelined requests, no transactions, watches or INTRODUCE) in chunks of ${n(cfg.scaleChunk)} domains, alternating the daemons, with VmRSS read from \`/proc/<pid>/status\` after each chunk; a daemon whose next chunk would overrun its ${cfg.scaleBudgetSeconds} s populate budget stops there. Its twin stays empty. Then workload 2 (\`xsload seq OP ${n(cfg.scaleSeqOps)}\`, ${cfg.rounds} round(s), median${r.pinnedCpu !== null ? `, daemon and client on CPU ${r.pinnedCpu}` : ""}) runs on the full daemons and their empty twins, interleaved, so that the machine's changing load affects both alike. "bytes per node" is (RSS full − RSS before filling) ÷ nodes. Targets: tsxenstored's RSS ≤ cxenstored's; its p50 on the full store ≤ 1.5× its p50 on the empty store.${memNote}

${table(["daemon", "domains", "nodes", "populate s", "requests/s", "daemon CPU s", "RSS before MiB", "RSS full MiB", "of which private / file MiB", "peak MiB", "bytes per node"], body)}

${table(["daemon", "op", "p50 empty µs", "p50 full µs", "p99 empty µs", "p99 full µs", "full ÷ empty", "≤ 1.5×"], lat)}

![resident memory](bench/scale-memory.svg)

![latency on the empty and the full store](bench/scale-latency.svg)`;
  const points = s.flatMap((x) => x.checkpoints.map((c) => ({ target: x.target, domains: c.domains, rss: c.rssKiB / 1024 })));
  charts.push({ file: "scale-memory.svg", title: "memory", spec: memoryChart(points) });
  charts.push({ file: "scale-latency.svg", title: "scale latency", spec: emptyFullChart(values) });
  return { markdown, checks, charts };
}
