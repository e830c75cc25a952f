/**
 * Section 13 of docs/benchmarks.md: resident memory of fresh daemons filled
 * with 10,000 guests (section 5's whole tree, the disk included), right after
 * and after an idle pause, and latency on the full store against an empty twin.
 */
import type { DaemonName, TargetName } from "../../lib.js";
import type { FullStoreDaemon, FullStoreStep, MemoryReading, Results } from "../../types.js";
import { emptyFullChart, memoryChart, type Bar, type Chart } from "../charts.js";
import { best, div, g, mark, mib, n, ratio, table, tag } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

const WORKLOAD = "13 full store";
/** tsxenstored's resident memory with 10,000 domains: at most this many MiB. */
const RSS_TARGET_MIB = 95;
const LATENCY_TARGET = 1.1;
/** The domain count of the targets (a quick run fills fewer). */
const FULL = 10000;

/**
 * A daemon's last memory reading and the domains it had then: the idle one at
 * the count it stopped at, or (stopped by the budget between two counts) the
 * reading right after its last chunk.
 */
export function lastReading(x: FullStoreDaemon): { domains: number; reading: MemoryReading; idle: boolean } | null {
  const s = x.steps.find((y) => y.domains === x.domains);
  if (s) return { domains: s.domains, reading: s.idle, idle: true };
  const c = x.checkpoints[x.checkpoints.length - 1];
  if (!c || !c.domains) return null;
  return { domains: c.domains, reading: { rssKiB: c.rssKiB, anonKiB: c.anonKiB ?? NaN, fileKiB: c.fileKiB ?? NaN, hwmKiB: c.hwmKiB }, idle: false };
}

/** (The last reading − fresh) ÷ the nodes then. */
export function bytesPerNode(x: FullStoreDaemon): number | null {
  const l = lastReading(x);
  return l && x.nodesPerGuest ? ((l.reading.rssKiB - x.start.rssKiB) * 1024) / (l.domains * x.nodesPerGuest) : null;
}

export function fullStoreSection(r: Results): Section | null {
  const f = r.fullStore;
  if (!f?.daemons.length) return null;
  const checks: Check[] = [];
  const charts: Chart[] = [];
  const ds = f.daemons;
  const of = (t: DaemonName): FullStoreDaemon | undefined => ds.find((x) => x.target === t);
  const stepAt = (x: FullStoreDaemon | undefined, domains: number): FullStoreStep | undefined => x?.steps.find((s) => s.domains === domains);
  const counts = r.config.fullStore?.domains ?? [...new Set(ds.flatMap((x) => x.steps.map((s) => s.domains)))].sort((a, b) => a - b);
  const last = Math.max(...counts);
  const quick = last < FULL ? ` (quick run: the target is for ${n(FULL)})` : "";
  const ts = of("tsxenstored");

  // The absolute target, then ≤ the better peer at each count (the idle reading).
  {
    const s = stepAt(ts, last);
    checks.push({
      workload: WORKLOAD,
      what: `VmRSS, ${n(last)} domains (${f.idleSeconds} s idle)${quick}`,
      measured: s ? `${mib(s.idle.rssKiB)} MiB (right after filling: ${mib(s.after.rssKiB)} MiB)` : "–",
      target: `≤ ${RSS_TARGET_MIB} MiB`,
      ratio: null,
      threshold: null,
      ok: s ? s.idle.rssKiB <= RSS_TARGET_MIB * 1024 : null,
    });
  }
  const toPeer = new Map<number, string>();
  for (const domains of counts) {
    const rss: Partial<Record<TargetName, number>> = {};
    for (const x of ds) {
      const s = stepAt(x, domains);
      if (s) rss[x.target] = s.idle.rssKiB;
    }
    const b = best(rss, false);
    const q = div(rss.tsxenstored, b.value);
    const peer = b.who === "cx" ? of("cxenstored") : b.who === "ox" ? of("oxenstored") : undefined;
    const after = div(stepAt(ts, domains)?.after.rssKiB, stepAt(peer, domains)?.after.rssKiB);
    // A peer that stopped short (time budget): compare at the most it reached, from the curve (right after each chunk).
    const missing = (["cxenstored", "oxenstored"] as DaemonName[])
      .filter((p) => of(p) && !stepAt(of(p), domains))
      .map((p) => {
        const x = of(p)!;
        const who = p === "cxenstored" ? "cx" : "ox";
        const a = ts?.checkpoints.find((c) => c.domains === x.domains);
        const b = x.checkpoints.find((c) => c.domains === x.domains);
        return `${who} stopped at ${n(x.domains)} domains${a && b && x.domains ? `, where (right after filling) ${mib(a.rssKiB)} vs ${mib(b.rssKiB)} MiB, ${ratio(div(a.rssKiB, b.rssKiB))}` : ""}`;
      });
    toPeer.set(domains, `${ratio(q)} (${b.who || "–"})`);
    checks.push({
      workload: WORKLOAD,
      what: `VmRSS ÷ the better peer, ${n(domains)} domains (${f.idleSeconds} s idle)${domains === last ? quick : ""}`,
      measured: `${rss.tsxenstored !== undefined ? mib(rss.tsxenstored) : "–"} vs ${b.value !== null ? mib(b.value) : "–"} MiB (${b.who || "–"}); right after filling ${ratio(after)}${missing.length ? `; ${missing.join(", ")}` : ""}`,
      target: "≤ 1.0×",
      ratio: q,
      threshold: 1,
      ok: q === null ? null : q <= 1,
    });
  }
  const head = ["daemon", "domains", "nodes", "populate s", "daemon CPU s", "fresh MiB", ...counts.map((d) => `${n(d)}: right after / ${f.idleSeconds} s later MiB`), "private / file MiB", "peak MiB", "bytes per node", "÷ better peer"];
  const body = ds.map((x) => {
    const end = lastReading(x)?.reading;
    return [
      tag(x.target),
      `${n(x.domains)}${x.stoppedEarly ? " (stopped: time budget)" : ""}`,
      n(x.domains * x.nodesPerGuest),
      g(x.populateS),
      g(x.populateDaemonCpuS),
      mib(x.start.rssKiB),
      ...counts.map((d) => {
        const s = stepAt(x, d);
        return s ? `${mib(s.after.rssKiB)} / ${mib(s.idle.rssKiB)}` : "–";
      }),
      end ? `${mib(end.anonKiB)} / ${mib(end.fileKiB)}` : "–",
      end ? mib(end.hwmKiB) : "–",
      n(bytesPerNode(x)),
      x.target === "tsxenstored" ? counts.map((d) => toPeer.get(d) ?? "–").join(" / ") : "",
    ];
  });

  // Latency: the full store ÷ its empty twin.
  const lat: string[][] = [];
  const values: Bar[] = [];
  for (const x of ds)
    for (const e of x.seqEmpty) {
      const full = x.seqFull.find((y) => y.op === e.op);
      const q = div(full?.p50Us, e.p50Us);
      lat.push([tag(x.target), e.op, g(e.p50Us), g(full?.p50Us), g(e.p99Us), g(full?.p99Us), ratio(q), x.target === "tsxenstored" ? mark(q === null ? null : q <= LATENCY_TARGET) : ""]);
      values.push({ group: e.op, target: `${x.target} empty`, value: e.p50Us });
      if (full) values.push({ group: e.op, target: `${x.target} full`, value: full.p50Us });
      if (x.target === "tsxenstored")
        checks.push({ workload: WORKLOAD, what: `\`${e.op}\` p50, full store ÷ empty (${n(x.domains)} domains)`, measured: `${g(full?.p50Us)} µs vs ${g(e.p50Us)} µs`, target: `≤ ${LATENCY_TARGET}×`, ratio: q, threshold: LATENCY_TARGET, ok: q === null ? null : q <= LATENCY_TARGET });
    }
  const nodes = ds.find((x) => x.nodesPerGuest)?.nodesPerGuest ?? 0;
  const fc = r.config.fullStore;
  const stopped = ds.filter((x) => x.stoppedEarly);
  const markdown = `## 13. Memory at ${n(last)} domains × ${n(nodes)} nodes

Each daemon fresh (started just before, no warm-up), filled at once with ${n(last)} guests: section 5's whole tree for each, its vif and its disk (vbd) included, ${n(nodes)} nodes a guest, as plain pipelined requests (\`xsload populate ${r.config.toolstackConns} 32 FIRST COUNT vbd\`: no transactions, watches or \`INTRODUCE\`), in chunks of ${n(fc?.chunk ?? 0)} domains with VmRSS read after each (the curve below). At ${counts.map((d) => n(d)).join(" and ")} domains, VmRSS is read right after the chunk and again after ${f.idleSeconds} s with the daemon idle (a garbage-collected heap may give memory back by then); the targets use the idle reading. The daemons are filled one after the other (those filled already stay idle meanwhile)${fc ? `, each within a populate budget of ${fc.budgetSeconds} s (a daemon whose next chunk would overrun it stops there)` : ""}. "private / file" and "peak": RssAnon, RssFile and VmHWM of the last reading (the idle one; for a daemon stopped by its budget, the one after its last chunk); "bytes per node": (that VmRSS − fresh) ÷ the nodes then. Then workload 2's \`xsload seq read|write ${n(fc?.seqOps ?? 0)}\` (${r.config.rounds} round(s), median${r.pinnedCpu !== null ? `, daemon and client on CPU ${r.pinnedCpu}` : ""}) on each full daemon and on a fresh empty twin, interleaved, after an unmeasured warm-up of both. Targets: tsxenstored's VmRSS with ${n(FULL)} domains ≤ ${RSS_TARGET_MIB} MiB, and ≤ 1.0× the better of cx/ox at ${counts.map((d) => n(d)).join(" and ")} domains; p50 on the full store ≤ ${LATENCY_TARGET}× on the empty one.${stopped.length ? ` ${stopped.map((x) => `${x.target} stopped at ${n(x.domains)} domains (time budget)`).join("; ")}: where a peer is missing, the better peer is the other.` : ""}

${table(head, body)}

${lat.length ? table(["daemon", "op", "p50 empty µs", "p50 full µs", "p99 empty µs", "p99 full µs", "full ÷ empty", `≤ ${LATENCY_TARGET}×`], lat) : "Latency not measured (see what failed)."}

![resident memory](bench/full-store-memory.svg)${values.length ? "\n\n![latency on the empty and the full store](bench/full-store-latency.svg)" : ""}`;
  const points = ds.flatMap((x) => x.checkpoints.map((c) => ({ target: x.target, domains: c.domains, rss: c.rssKiB / 1024 })));
  charts.push({ file: "full-store-memory.svg", title: "full store memory", spec: memoryChart(points) });
  if (values.length) charts.push({ file: "full-store-latency.svg", title: "full store latency", spec: emptyFullChart(values) });
  return { markdown, checks, charts };
}
