/**
 * Section 12 of docs/benchmarks.md: the boot storm of section 5 against a
 * daemon started just before, with no warm-up at all (a fresh daemon for
 * every measurement).
 */
import { DAEMONS, type TargetName } from "../../lib.js";
import type { InProcessBoot, Results } from "../../types.js";
import { grouped, type Bar, type Chart } from "../charts.js";
import { best, div, g, mib, n, ratio, table, tag } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

const WORKLOAD = "12 cold start";

/** The targets, for the sizes of a full run in order: [guests, reference, threshold]. */
const TARGETS: [number, "ox" | "best", number][] = [
  [300, "ox", 0.7],
  [1000, "best", 0.5],
];

/**
 * tsxenstored's in-process handling of each size (bench/inproc-boot.ts) with
 * what the target allows a request: its boot time ÷ tsxenstored's boot requests.
 */
export function inProcessAgainstTarget(r: Results): (InProcessBoot & { allowedUs: number | null })[] {
  const c = r.coldStart;
  if (!c) return [];
  const sizes = [...new Set(c.rows.map((x) => x.guests))].sort((a, b) => a - b);
  return (c.inProcess ?? []).map((x) => {
    const t = TARGETS[sizes.indexOf(x.guests)];
    const of = (d: string) => c.rows.find((y) => y.guests === x.guests && y.target === d);
    const peers: Partial<Record<TargetName, number>> = {};
    for (const d of ["cxenstored", "oxenstored"] as const) {
      const y = of(d);
      if (y) peers[d] = y.bootS;
    }
    const ref = t ? (t[1] === "ox" ? peers.oxenstored : best(peers, false).value) : undefined;
    const requests = of("tsxenstored")?.bootRequests;
    const allowedUs = t && typeof ref === "number" && requests ? (t[2] * ref * 1e6) / requests : null;
    return { ...x, allowedUs };
  });
}

export function coldStartSection(r: Results): Section | null {
  const c = r.coldStart;
  if (!c?.rows.length) return null;
  const checks: Check[] = [];
  const charts: Chart[] = [];
  const sizes = [...new Set(c.rows.map((x) => x.guests))].sort((a, b) => a - b);
  const warm = r.bootStorm ?? [];
  const anyWarm = sizes.some((s) => warm.some((x) => x.guests === s));
  const body: string[][] = [];
  const values: Bar[] = [];
  sizes.forEach((size, i) => {
    const of = (t: string) => c.rows.find((x) => x.guests === size && x.target === t);
    const times: Partial<Record<TargetName, number>> = {};
    for (const t of DAEMONS) {
      const x = of(t);
      if (!x) continue;
      times[t] = x.bootS;
      values.push({ group: `${n(size)} guests`, target: t, value: x.bootS });
    }
    const b = best(times, false);
    const toOx = div(times.tsxenstored, times.oxenstored);
    const toBest = div(times.tsxenstored, b.value);
    for (const t of DAEMONS) {
      const x = of(t);
      if (!x) continue;
      const w = warm.find((y) => y.guests === size && y.target === t);
      body.push([
        n(size),
        tag(t),
        g(x.bootS),
        x.bootRunsS.map(g).join(", "),
        n(x.bootEagain),
        n(x.bootRequests),
        g(x.daemonCpuS),
        x.daemonCpuS === null ? "–" : g((x.daemonCpuS * 1e6) / x.bootRequests),
        g(x.clientCpuS),
        mib(x.rssKiB),
        ...(anyWarm ? [w ? `${g(w.bootS)} (${ratio(div(x.bootS, w.bootS))})` : "–"] : []),
        t === "tsxenstored" ? `${ratio(toOx)} / ${ratio(toBest)} (${b.who || "–"})` : "",
      ]);
    }
    const target = TARGETS[i];
    if (!target) return;
    const [full, ref, threshold] = target;
    const q = ref === "ox" ? toOx : toBest;
    const quick = size !== full ? ` (quick run: the target is for ${n(full)})` : "";
    checks.push({
      workload: WORKLOAD,
      what: `${n(size)} guests, fresh daemon: boot time ÷ ${ref === "ox" ? "ox" : "the better peer"}${quick}`,
      measured: `${g(times.tsxenstored)} s vs ${ref === "ox" ? `${g(times.oxenstored)} s (ox)` : `${g(b.value)} s (${b.who})`}`,
      target: `≤ ${threshold}×`,
      ratio: q,
      threshold,
      ok: q === null ? null : q <= threshold,
    });
  });
  const inProc = inProcessAgainstTarget(r).map((x) => [n(x.guests), n(x.requests), g(x.seconds), g(x.usPerRequest), x.allowedUs === null ? "–" : g(x.allowedUs)]);
  const inProcText = inProc.length
    ? `

tsxenstored's own handling of these requests (\`bench/inproc-boot.ts\`): the same requests as \`xsload boot\` handed to a \`Xenstored\` in one fresh process (warmed up as the daemon warms up before it accepts), one at a time, each reply taken back before the next request: no sockets, no event loop, no journal, no other process (the client's encoding and parsing are included). The median of ${c.rounds} fresh process(es). "allowed": the target's boot time ÷ the boot's requests, all the time a request may take, its system calls and wake-ups included.

${table(["guests", "requests", "seconds", "µs per request", "allowed µs per request"], inProc)}`
    : "";
  const conns = c.rows[0]!.conns;
  const markdown = `## 12. Cold start: the boot storm on a fresh daemon

Section 5's \`xsload boot ${conns} 1 N\` (N guests created the way libxl creates them, ${conns} toolstack connections with one request in flight each) against a daemon started just before and given no warm-up by the benchmark: its first requests from outside are these (tsxenstored warms itself up before it accepts, \`--warm-up 300\`: included in no time here). A fresh daemon for every measurement, ${c.rounds} repetition(s) of each size on each daemon with the daemons' order rotated, the median reported (a daemon whose boot of N took longer than ${g(c.repeatBelowS)} s is measured at N only once: it cannot be the better peer). Boot time only; the daemon is stopped after it. "µs CPU per request": the daemon's CPU time during the boot ÷ its requests. "VmRSS": right after the boot.${anyWarm ? ` "warm": section 5's boot of the same N on the daemons warmed up first (÷: cold ÷ warm).` : ""} Ratio: tsxenstored ÷ oxenstored / ÷ the better of cx/ox. Targets: ${n(TARGETS[0]![0])} guests ≤ ${TARGETS[0]![2]}× oxenstored, ${n(TARGETS[1]![0])} guests ≤ ${TARGETS[1]![2]}× the better peer.

${table(["guests", "daemon", "boot s", "each run s", "EAGAIN", "requests", "daemon CPU s", "µs CPU per request", "client CPU s", "VmRSS MiB", ...(anyWarm ? ["warm s (cold ÷ warm)"] : []), "ratio ÷ ox / ÷ better"], body)}${inProcText}

![cold start](bench/cold-start.svg)`;
  charts.push({ file: "cold-start.svg", title: "cold start", spec: grouped("Boot storm on a fresh daemon: seconds (lower is better)", values, "seconds", "guests", true) });
  return { markdown, checks, charts };
}
