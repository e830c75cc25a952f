/** Section 4 of docs/benchmarks.md: transactions on disjoint subtrees and on one shared counter. */
import { DAEMONS, type TargetName } from "../../lib.js";
import type { Results } from "../../types.js";
import { grouped, type Bar, type Chart } from "../charts.js";
import { best, div, g, n, ratio, table, tag } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

export function transactionsSection(r: Results): Section | null {
  if (!r.transactions) return null;
  const checks: Check[] = [];
  const charts: Chart[] = [];
  const rows = r.transactions;
  const cases = [...new Set(rows.map((x) => `${x.kind} ×${x.conns}`))];
  const body: string[][] = [];
  const values: Bar[] = [];
  for (const c of cases) {
    const of = (t: string) => rows.find((x) => `${x.kind} ×${x.conns}` === c && x.target === t);
    const cps: Partial<Record<TargetName, number>> = {};
    for (const t of DAEMONS) {
      const x = of(t);
      if (x) {
        cps[t] = x.commitsPerS;
        values.push({ group: c, target: t, value: x.commitsPerS });
      }
    }
    const b = best(cps, true);
    for (const t of DAEMONS) {
      const x = of(t);
      if (!x) continue;
      body.push([
        c,
        tag(t),
        n(x.commits),
        g(x.seconds),
        n(x.commitsPerS),
        n(x.eagain),
        `${n(x.final)} / ${n(x.expected)} ${x.exact ? "✔" : "✘ WRONG"}`,
        g(x.daemonCpuS),
        g(x.clientCpuS),
        t === "tsxenstored" ? `${ratio(div(x.commitsPerS, b.value))} (${b.who})` : "",
      ]);
    }
    const ts = of("tsxenstored");
    if (c.startsWith("disjoint")) {
      checks.push({ workload: "4 transactions", what: `disjoint subtrees ×${ts?.conns ?? "?"}: EAGAIN`, measured: ts ? `${n(ts.eagain)} EAGAIN, counters ${ts.exact ? "exact" : "WRONG"}` : "–", target: "0", ratio: null, threshold: null, ok: ts ? ts.eagain === 0 && ts.exact : null });
    } else {
      const q = div(ts?.commitsPerS, b.value);
      checks.push({ workload: "4 transactions", what: `shared counter ×${ts?.conns ?? "?"}: commits/s`, measured: `${n(ts?.commitsPerS)} vs ${n(b.value)} (${b.who}); counter ${ts?.exact ? "exact" : "WRONG"}`, target: "≥ 2×", ratio: q, threshold: 2, ok: q === null || !ts ? null : q >= 2 && ts.exact });
    }
  }
  const markdown = `## 4. Transactions

\`xsload tx CONNS N disjoint|shared\`: each connection commits N transactions that read a counter, write it + 1 and commit, retrying on \`EAGAIN\` (a failed request inside a transaction ends it with \`TRANSACTION_END F\` and retries). "disjoint": every connection has its own subtree \`/bench/tx/d<i>/counter\` (target: 0 \`EAGAIN\`); "shared": all connections increment \`/bench/tx/shared/counter\` (target: ≥ 2× the commits/s of the better of cx/ox). The final counters are read back and checked: a lost update shows as WRONG. The connections are driven by one C process (a state machine per connection, poll(2)), one request in flight per connection.

${table(["case", "daemon", "commits", "s", "commits/s", "EAGAIN", "final / expected", "daemon CPU s", "client CPU s", "ratio"], body)}

![transactions](bench/transactions.svg)`;
  charts.push({ file: "transactions.svg", title: "transactions", spec: grouped("Transactions: commits/s (higher is better)", values, "commits/s", "case") });
  return { markdown, checks, charts };
}
