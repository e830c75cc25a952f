/**
 * Section 5 of docs/benchmarks.md: guests created and torn down the way libxl
 * does it, and the same traffic with plain READs as a floor.
 */
import { DAEMONS, type TargetName } from "../../lib.js";
import type { Results } from "../../types.js";
import { grouped, type Bar, type Chart } from "../charts.js";
import { best, div, g, n, pct, ratio, table, tag } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

/** The boot storm's request pattern with plain READs, for every server: the floor of that traffic. */
function oneInFlightTable(r: Results): string {
  const rows = r.oneInFlight;
  if (!rows?.length) return "";
  const conns = rows[0]!.conns;
  return `
The same traffic with the simplest request, as a floor: \`xsload par read ${conns} 1 N\` (${conns} connections, one \`READ\` in flight each), the daemons and the echo servers of workload 2, median of the rounds. "µs per request" is wall time ÷ requests: how often the server finishes one.

${table(
  ["server", "requests/s", "µs per request", "daemon CPU µs/request", "client busy"],
  rows.map((x) => [tag(x.target), n(x.opsPerS), g(1e6 / x.opsPerS), g(x.daemonCpuUsPerOp), pct(x.clientBusy)]),
)}
`;
}

export function bootStormSection(r: Results): Section | null {
  if (!r.bootStorm) return null;
  const checks: Check[] = [];
  const charts: Chart[] = [];
  const cfg = r.config;
  const rows = r.bootStorm;
  const sizes = [...new Set(rows.map((x) => x.guests))];
  const body: string[][] = [];
  const values: Bar[] = [];
  for (const size of sizes) {
    const of = (t: string) => rows.find((x) => x.guests === size && x.target === t);
    const times: Partial<Record<TargetName, number>> = {};
    const down: Partial<Record<TargetName, number>> = {};
    for (const t of DAEMONS) {
      const x = of(t);
      if (!x) continue;
      times[t] = x.bootS;
      down[t] = x.teardownS;
      values.push({ group: `boot ${size}`, target: t, value: x.bootS });
      values.push({ group: `teardown ${size}`, target: t, value: x.teardownS });
    }
    const b = best(times, false);
    const bd = best(down, false);
    for (const t of DAEMONS) {
      const x = of(t);
      if (!x) continue;
      body.push([
        n(size),
        tag(t),
        g(x.bootS),
        n(x.bootEagain),
        n(x.bootRequests),
        g(x.teardownS),
        n(x.teardownEagain),
        g(x.daemonCpuS),
        g(x.clientCpuS),
        t === "tsxenstored" ? `${ratio(div(x.bootS, b.value))} (${b.who}) / ${ratio(div(x.teardownS, bd.value))} (${bd.who})` : "",
      ]);
    }
    if (size === Math.max(...sizes)) {
      const q = div(times.tsxenstored, b.value);
      checks.push({ workload: "5 boot storm", what: `${n(size)} guests: boot time${size < 1000 ? " (quick run: the target is for 1,000)" : ""}`, measured: `${g(times.tsxenstored)} s vs ${g(b.value)} s (${b.who})`, target: "≤ 0.5×", ratio: q, threshold: 0.5, ok: q === null ? null : q <= 0.5 });
    }
  }
  const markdown = `## 5. Boot storm

\`xsload boot ${cfg.toolstackConns} 1 N\` then \`xsload teardown ${cfg.toolstackConns} 1 N\`: N guests created the way libxl creates them, from ${cfg.toolstackConns} toolstack connections at once (one request in flight each, as libxl's synchronous calls). Per guest: one transaction creating \`/local/domain/<domid>\` (\`roperm\` {n0, r<domid>} on the home, \`cpu\`, \`memory\`, \`control\`, \`device\`; \`rwperm\` {n<domid>} on \`control/shutdown\`, \`control/feature-*\`, \`control/sysrq\`, \`data\`, \`drivers\`, \`feature\`, \`attr\`, \`error\`), \`/vm/<uuid>\` and \`/libxl/<domid>\` (noperm n0); a second transaction with the domain's keys (\`domid\`, \`memory/*\`, \`cpu/*/availability\`, \`store/*\`, \`console/*\`, \`control/platform-feature-*\`); then a vif (\`device/vif/0\`, \`backend/vif/<domid>/0\`) and a vbd (\`device/vbd/51712\`, \`backend/vbd/<domid>/51712\`), each in one transaction with the frontend/backend keys and \`/libxl/<domid>/device/...\`, followed by a watch on the backend's \`state\`, the backend's move to state 2 (written by the same connection, playing the backend driver), its event, \`hotplug-status\`, unwatch; then \`INTRODUCE <domid> <mfn> <port>\`. Teardown: one transaction removing the backend and frontend trees, \`/local/domain/<domid>\`, \`/vm/<uuid>\` and \`/libxl/<domid>\`, then \`RELEASE\`. About 95 nodes per guest. Time and \`EAGAIN\` retries (a transaction that fails is redone from its start). Ratio: tsxenstored ÷ the better of cx/ox (boot / teardown); target: boot of 1,000 guests ≤ 0.5×.

${table(["guests", "daemon", "boot s", "boot EAGAIN", "boot requests", "teardown s", "teardown EAGAIN", "daemon CPU s", "client CPU s", "ratio boot / teardown"], body)}
${oneInFlightTable(r)}
![boot storm](bench/boot-storm.svg)`;
  charts.push({ file: "boot-storm.svg", title: "boot", spec: grouped("Boot storm: seconds (lower is better)", values, "seconds", "phase × guests", true) });
  return { markdown, checks, charts };
}
