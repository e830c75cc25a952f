/**
 * docs/benchmarks.md, its charts (docs/bench/*.svg, drawn by vega-lite and
 * rendered headlessly by vega) and docs/bench/results.json from one run.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { DAEMONS, median, type DaemonName, type TargetName } from "./lib.js";
import type { BootRow, ParRow, Results, ScaleDaemon, SeqRow } from "./types.js";
import { emptyFullChart, grouped, memoryChart, ratioChart, renderSvg, type Bar, type Chart } from "./report/charts.js";
import { ORDER, best, div, g, mark, mib, n, pct, ratio, table, tag } from "./report/format.js";

const WORKLOAD_NAMES: Record<number, string> = {
  1: "1 test-xenstore",
  2: "2 sequential",
  3: "3 parallel",
  4: "4 transactions",
  5: "5 boot storm",
  6: "6 scale",
  7: "7 watch fan-out",
};

// ---------------------------------------------------------------- targets

interface Check {
  workload: string;
  what: string;
  measured: string;
  target: string;
  ratio: number | null;
  threshold: number | null;
  ok: boolean | null;
}

// ---------------------------------------------------------------- sections

function testXenstoreMedians(r: Results): Map<DaemonName, Record<string, number>> {
  const out = new Map<DaemonName, Record<string, number>>();
  const tx = r.testXenstore;
  if (!tx) return out;
  for (const d of DAEMONS) {
    const runs = tx.runs.filter((x) => x.target === d);
    if (!runs.length) continue;
    const m: Record<string, number> = {};
    for (const t of tx.tests) {
      const xs = runs.map((x) => x.nsPerOp[t]).filter((x): x is number => x !== undefined);
      if (xs.length) m[t] = median(xs);
    }
    out.set(d, m);
  }
  return out;
}

export async function writeReport(r: Results, outDir: string): Promise<string[]> {
  const benchDir = join(outDir, "bench");
  mkdirSync(benchDir, { recursive: true });
  const checks: Check[] = [];
  const charts: Chart[] = [];
  const sections: string[] = [];
  const cfg = r.config;

  // 1. test-xenstore
  if (r.testXenstore) {
    const tx = r.testXenstore;
    const med = testXenstoreMedians(r);
    const rows: string[][] = [];
    const values: Bar[] = [];
    for (const t of tx.tests) {
      const v: Partial<Record<TargetName, number>> = {};
      for (const d of DAEMONS) {
        const x = med.get(d)?.[t];
        if (x !== undefined) {
          v[d] = x;
          values.push({ group: t, target: d, value: x / 1000 });
        }
      }
      const b = best(v, false);
      const q = div(v.tsxenstored, b.value);
      const ok = q === null ? null : q <= 1.0;
      rows.push([t, ...DAEMONS.map((d) => n(v[d])), `${ratio(q)} (${b.who || "–"})`, mark(ok)]);
      checks.push({ workload: "1 test-xenstore", what: `\`${t}\``, measured: `${n(v.tsxenstored)} ns vs ${n(b.value)} ns (${b.who})`, target: "≤ 1.0×", ratio: q, threshold: 1.0, ok });
    }
    const cpuRows = DAEMONS.map((d) => {
      const runs = tx.runs.filter((x) => x.target === d);
      const failed = [...new Set(runs.flatMap((x) => x.failed))];
      return [
        d,
        g(median(runs.map((x) => x.seconds))),
        g(median(runs.map((x) => x.daemonCpuS ?? NaN))),
        g(median(runs.map((x) => x.clientCpuS))),
        failed.length ? failed.join("; ") : "all passed",
      ];
    });
    sections.push(`## 1. Upstream \`test-xenstore\`

\`test-xenstore -i ${n(tx.iterations)}\` (the 12 tests of Xen's \`tools/tests/xenstore\`)${r.pinnedCpu !== null ? `, daemon and test-xenstore on CPU ${r.pinnedCpu}` : ""}, ${tx.rounds} round(s) with the daemons' order rotated; the median of each test's average is shown, in ns per operation (lower is better). Ratio: tsxenstored ÷ the better of cx/ox. Target ≤ 1.0× on every test.

${table(["test", "tsxenstored ns", "cxenstored ns", "oxenstored ns", "ratio", "≤ 1.0×"], rows)}

Whole \`test-xenstore\` run (median): wall time, the daemon's CPU time during it, and the client's CPU time (test-xenstore itself, which is single-threaded and waits for each reply).

${table(["daemon", "wall s", "daemon CPU s", "client CPU s", "result"], cpuRows)}

![test-xenstore](bench/test-xenstore.svg)`);
    charts.push({ file: "test-xenstore.svg", title: "test-xenstore", spec: grouped("test-xenstore: µs per operation (lower is better)", values, "µs / op", "test") });
  }

  // 2. sequential
  const seqByOp = (rows: SeqRow[], op: string, t: string): SeqRow | undefined => rows.find((x) => x.op === op && x.target === t);
  if (r.sequential) {
    const rows = r.sequential;
    const ops = [...new Set(rows.map((x) => x.op))];
    const body: string[][] = [];
    const values: Bar[] = [];
    for (const op of ops) {
      const p50: Partial<Record<TargetName, number>> = {};
      for (const t of ORDER) {
        const x = seqByOp(rows, op, t);
        if (!x) continue;
        p50[t] = x.p50Us;
        values.push({ group: op, target: t, value: x.p50Us });
      }
      const b = best(p50, false);
      for (const t of ORDER) {
        const x = seqByOp(rows, op, t);
        if (!x) continue;
        body.push([
          op,
          tag(t),
          g(x.p50Us),
          g(x.p99Us),
          n(x.opsPerS),
          g(x.daemonCpuUsPerOp),
          g(x.clientCpuUsPerOp),
          pct(x.clientBusy),
          t === "tsxenstored" ? `${ratio(div(x.p50Us, b.value))} (${b.who})` : "",
        ]);
      }
      const ts = seqByOp(rows, op, "tsxenstored");
      const cx = seqByOp(rows, op, "cxenstored");
      const q = div(ts?.daemonCpuUsPerOp, cx?.daemonCpuUsPerOp);
      checks.push({
        workload: "2 sequential",
        what: `daemon CPU per \`${op}\``,
        measured: `${g(ts?.daemonCpuUsPerOp)} µs vs ${g(cx?.daemonCpuUsPerOp)} µs (cx)`,
        target: "≤ cx",
        ratio: q,
        threshold: 1.0,
        ok: q === null ? null : q <= 1.0,
      });
    }
    sections.push(`## 2. One connection, sequential requests

\`xsload seq OP ${n(cfg.seqOps)}\`: one connection, one request at a time${r.pinnedCpu !== null ? `, server and client on CPU ${r.pinnedCpu}` : ""}, ${cfg.rounds} round(s) (median). \`read\`/\`write\` use 64 keys \`/bench/c0/k*\`, \`dir\` lists them, \`mkdirrm\` is a MKDIR then an RM of a new node (two requests per op). \`echo-c\` and \`echo-node\` are the minimal servers of \`bench/echo.c\` and \`bench/echo-server.ts\` (same framing, every reply "OK"): the floor of this transport on this machine, for C and for Node. Daemon CPU is its utime+stime over the timed part; "client busy" is the load generator's CPU time ÷ wall time (below 100% means it was waiting for the server). Ratio: tsxenstored p50 ÷ the better of cx/ox (lower is better).

${table(["op", "server", "p50 µs", "p99 µs", "ops/s", "daemon CPU µs/op", "client CPU µs/op", "client busy", "p50 ratio"], body)}

![sequential latency](bench/sequential.svg)`);
    charts.push({ file: "sequential.svg", title: "sequential", spec: grouped("One connection: p50 latency in µs (lower is better)", values, "p50 µs", "operation") });
  }

  // 3. parallel
  if (r.parallel) {
    const rows = r.parallel;
    const cases = [...new Set(rows.map((x) => `${x.op} ×${x.conns}`))];
    const body: string[][] = [];
    const values: Bar[] = [];
    for (const c of cases) {
      const of = (t: string) => rows.find((x) => `${x.op} ×${x.conns}` === c && x.target === t);
      const tput: Partial<Record<TargetName, number>> = {};
      for (const t of ORDER) {
        const x = of(t);
        if (!x) continue;
        tput[t] = x.opsPerS;
        values.push({ group: c, target: t, value: x.opsPerS });
      }
      const b = best(tput, true);
      const q = div(tput.tsxenstored, b.value);
      for (const t of ORDER) {
        const x = of(t);
        if (!x) continue;
        const busy = x.daemonCpuUsPerOp === null ? NaN : (x.daemonCpuUsPerOp * x.opsPerS) / 1e6;
        body.push([c, tag(t), n(x.opsPerS), g(x.daemonCpuUsPerOp), pct(busy), g(x.clientCpuUsPerOp), pct(x.clientBusy), t === "tsxenstored" ? `${ratio(q)} (${b.who})` : "", t === "tsxenstored" ? mark(q === null ? null : q >= 1.5) : ""]);
      }
      checks.push({ workload: "3 parallel", what: `throughput \`${c}\``, measured: `${n(tput.tsxenstored)} vs ${n(b.value)} ops/s (${b.who})`, target: "≥ 1.5×", ratio: q, threshold: 1.5, ok: q === null ? null : q >= 1.5 });
      const ts = of("tsxenstored");
      const cx = of("cxenstored");
      const qc = div(ts?.daemonCpuUsPerOp, cx?.daemonCpuUsPerOp);
      checks.push({ workload: "3 parallel", what: `daemon CPU per op \`${c}\``, measured: `${g(ts?.daemonCpuUsPerOp)} µs vs ${g(cx?.daemonCpuUsPerOp)} µs (cx)`, target: "≤ cx", ratio: qc, threshold: 1.0, ok: qc === null ? null : qc <= 1.0 });
    }
    sections.push(`## 3. Parallel connections, pipelined

\`xsload par OP CONNS ${cfg.parDepth} ${n(cfg.parOps)}\`: CONNS connections, each keeping ${cfg.parDepth} requests in flight, ${n(cfg.parOps)} requests in all; ${cfg.rounds} round(s) (median). Aggregate ops/s (higher is better); ratio: tsxenstored ÷ the better of cx/ox, target ≥ 1.5×. The client is one C process multiplexing all connections with poll(2). "daemon busy" and "client busy" are CPU time ÷ wall time (100% = one core): the daemons are single-threaded (Node adds a few helper threads), so a daemon near 100% was the limit; the echo servers show how much more the same client can drive. A server that sends each reply in its own write makes the client read more often, hence the client's higher CPU per op with cx and ox.

${table(["case", "server", "ops/s", "daemon CPU µs/op", "daemon busy", "client CPU µs/op", "client busy", "ratio", "≥ 1.5×"], body)}

![parallel throughput](bench/parallel.svg)

![daemon CPU per operation](bench/cpu-per-op.svg)`);
    charts.push({ file: "parallel.svg", title: "parallel", spec: grouped("Pipelined connections: aggregate ops/s (higher is better)", values, "ops/s", "operation × connections") });
  }
  if (r.sequential || r.parallel) {
    const values: Bar[] = [];
    for (const x of r.sequential ?? []) if (x.daemonCpuUsPerOp !== null) values.push({ group: `seq ${x.op}`, target: x.target, value: x.daemonCpuUsPerOp });
    for (const x of r.parallel ?? []) if (x.daemonCpuUsPerOp !== null) values.push({ group: `${x.op} ×${x.conns}`, target: x.target, value: x.daemonCpuUsPerOp });
    charts.push({ file: "cpu-per-op.svg", title: "cpu", spec: grouped("Server CPU time per operation in µs (lower is better)", values, "CPU µs / op", "workload") });
  }

  // 4. transactions
  if (r.transactions) {
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
    sections.push(`## 4. Transactions

\`xsload tx CONNS N disjoint|shared\`: each connection commits N transactions that read a counter, write it + 1 and commit, retrying on \`EAGAIN\` (a failed request inside a transaction ends it with \`TRANSACTION_END F\` and retries). "disjoint": every connection has its own subtree \`/bench/tx/d<i>/counter\` (target: 0 \`EAGAIN\`); "shared": all connections increment \`/bench/tx/shared/counter\` (target: ≥ 2× the commits/s of the better of cx/ox). The final counters are read back and checked: a lost update shows as WRONG. The connections are driven by one C process (a state machine per connection, poll(2)), one request in flight per connection.

${table(["case", "daemon", "commits", "s", "commits/s", "EAGAIN", "final / expected", "daemon CPU s", "client CPU s", "ratio"], body)}

![transactions](bench/transactions.svg)`);
    charts.push({ file: "transactions.svg", title: "transactions", spec: grouped("Transactions: commits/s (higher is better)", values, "commits/s", "case") });
  }

  // 5. boot storm
  if (r.bootStorm) {
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
    sections.push(`## 5. Boot storm

\`xsload boot ${cfg.toolstackConns} 1 N\` then \`xsload teardown ${cfg.toolstackConns} 1 N\`: N guests created the way libxl creates them, from ${cfg.toolstackConns} toolstack connections at once (one request in flight each, as libxl's synchronous calls). Per guest: one transaction creating \`/local/domain/<domid>\` (\`roperm\` {n0, r<domid>} on the home, \`cpu\`, \`memory\`, \`control\`, \`device\`; \`rwperm\` {n<domid>} on \`control/shutdown\`, \`control/feature-*\`, \`control/sysrq\`, \`data\`, \`drivers\`, \`feature\`, \`attr\`, \`error\`), \`/vm/<uuid>\` and \`/libxl/<domid>\` (noperm n0); a second transaction with the domain's keys (\`domid\`, \`memory/*\`, \`cpu/*/availability\`, \`store/*\`, \`console/*\`, \`control/platform-feature-*\`); then a vif (\`device/vif/0\`, \`backend/vif/<domid>/0\`) and a vbd (\`device/vbd/51712\`, \`backend/vbd/<domid>/51712\`), each in one transaction with the frontend/backend keys and \`/libxl/<domid>/device/...\`, followed by a watch on the backend's \`state\`, the backend's move to state 2 (written by the same connection, playing the backend driver), its event, \`hotplug-status\`, unwatch; then \`INTRODUCE <domid> <mfn> <port>\`. Teardown: one transaction removing the backend and frontend trees, \`/local/domain/<domid>\`, \`/vm/<uuid>\` and \`/libxl/<domid>\`, then \`RELEASE\`. About 95 nodes per guest. Time and \`EAGAIN\` retries (a transaction that fails is redone from its start). Ratio: tsxenstored ÷ the better of cx/ox (boot / teardown); target: boot of 1,000 guests ≤ 0.5×.

${table(["guests", "daemon", "boot s", "boot EAGAIN", "boot requests", "teardown s", "teardown EAGAIN", "daemon CPU s", "client CPU s", "ratio boot / teardown"], body)}
${oneInFlightTable(r)}
![boot storm](bench/boot-storm.svg)`);
    charts.push({ file: "boot-storm.svg", title: "boot", spec: grouped("Boot storm: seconds (lower is better)", values, "seconds", "phase × guests", true) });
  }

  // 6. scale
  if (r.scale) {
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
    sections.push(`## 6. Scale: ${n(cfg.scaleDomains)} domains

Fresh daemons, two of each: one is filled with guests (the boot storm's trees without the vbd, about ${n(s[0]?.nodesPerGuest ?? 0)} nodes each; \`xsload populate ${cfg.toolstackConns} 32 FIRST ${n(cfg.scaleChunk)}\`: plain pipelined requests, no transactions, watches or INTRODUCE) in chunks of ${n(cfg.scaleChunk)} domains, alternating the daemons, with VmRSS read from \`/proc/<pid>/status\` after each chunk; a daemon whose next chunk would overrun its ${cfg.scaleBudgetSeconds} s populate budget stops there. Its twin stays empty. Then workload 2 (\`xsload seq OP ${n(cfg.scaleSeqOps)}\`, ${cfg.rounds} round(s), median${r.pinnedCpu !== null ? `, daemon and client on CPU ${r.pinnedCpu}` : ""}) runs on the full daemons and their empty twins, interleaved, so that the machine's changing load affects both alike. "bytes per node" is (RSS full − RSS before filling) ÷ nodes. Targets: tsxenstored's RSS ≤ cxenstored's; its p50 on the full store ≤ 1.5× its p50 on the empty store.${memNote}

${table(["daemon", "domains", "nodes", "populate s", "requests/s", "daemon CPU s", "RSS before MiB", "RSS full MiB", "of which private / file MiB", "peak MiB", "bytes per node"], body)}

${table(["daemon", "op", "p50 empty µs", "p50 full µs", "p99 empty µs", "p99 full µs", "full ÷ empty", "≤ 1.5×"], lat)}

![resident memory](bench/scale-memory.svg)

![latency on the empty and the full store](bench/scale-latency.svg)`);
    const points = s.flatMap((x) => x.checkpoints.map((c) => ({ target: x.target, domains: c.domains, rss: c.rssKiB / 1024 })));
    charts.push({ file: "scale-memory.svg", title: "memory", spec: memoryChart(points) });
    charts.push({ file: "scale-latency.svg", title: "scale latency", spec: emptyFullChart(values) });
  }

  // 7. fan-out
  if (r.fanout) {
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
    sections.push(`## 7. Watch fan-out

\`xsload fanout ${n(cfg.fanoutWatches)} ${n(cfg.fanoutWrites)}\`: ${n(cfg.fanoutWatches)} watches (16 connections) on \`/\`, \`/fan\`, … \`/fan/a/b/c/d/hot\` (the ancestors of the hot path and the path itself), then writes to \`/fan/a/b/c/d/hot\`; each write is sent once the previous one's reply and all of its ${n(cfg.fanoutWatches)} events have arrived, so every event is delivered (none can be coalesced) and events/s = writes/s × watches. No target; ratio: tsxenstored ÷ the better of cx/ox (higher is better).

${table(["daemon", "watches", "writes", "writes/s", "events/s", "events delivered", "daemon CPU µs/event", "client CPU s", "ratio"], body)}

![watch fan-out](bench/fanout.svg)`);
    charts.push({ file: "fanout.svg", title: "fanout", spec: grouped("Watch fan-out: events delivered per second (higher is better)", rows.map((x) => ({ group: `${n(x.watches)} watches`, target: x.target, value: x.eventsPerS })), "events/s", "") });
  }

  // Target summary chart: tsxenstored ÷ reference against each threshold.
  const withRatio = checks.filter((c) => c.ratio !== null && c.threshold !== null);
  if (withRatio.length) {
    const values = withRatio.map((c) => ({
      item: `${c.workload.replace(/^\d+ /, "")}: ${c.what.replace(/`/g, "").replace(/ \(.*\)$/, "")}`,
      ratio: c.ratio,
      threshold: c.threshold,
      result: c.ok ? "met" : "missed",
    }));
    charts.push({ file: "targets.svg", title: "targets", spec: ratioChart(values) });
  }

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

  const why = explainMisses(r, checks);

  const m = r.machine;
  const met = checks.filter((c) => c.ok === true).length;
  const judged = checks.filter((c) => c.ok !== null).length;
  const md = `# Benchmarks

Generated by \`npm run bench${cfg.mode === "quick" ? " -- --quick" : ""}\` on ${m.date} in ${(r.durationS / 60).toFixed(1)} minutes${cfg.mode === "quick" ? ". **This is a quick run** (smaller N, one round): its numbers are indicative only; `npm run bench` makes the full one" : ""}. Do not edit by hand: run it again. Raw numbers: [bench/results.json](bench/results.json).${r.workloads.length < 7 ? ` Only workloads ${r.workloads.join(", ")} were run (\`--only\`).` : ""}

tsxenstored is compared with the two upstream daemons of Xen ${m.xen} (Debian \`xen-utils-4.17\`), \`cxenstored\` (C) and \`oxenstored\` (OCaml), run without a hypervisor by \`../shared/peers/start-peer.sh\` (their \`fakexen.so\` shim; oxenstored with the upstream default configuration, including its quotas and transaction-conflict rate limits). All three serve the same workloads in the same run, on their own Unix sockets, the daemons' order rotating from one measurement to the next. Ratios are **tsxenstored ÷ the better of cx/ox** for that row.

## Machine

| | |
|---|---|
| CPU | ${m.cpu} |
| cores | ${m.cores} |
| RAM | ${m.memGiB} GiB |
| kernel | ${m.kernel} |
| Node.js | ${m.node} |
| gcc (load generator) | ${m.gcc} |
| tsxenstored | ${m.commit} |
| load average (1, 5, 15 min) | before ${m.loadBefore.join(", ")}; after ${(m.loadAfter ?? []).join(", ")} |

Other work on the machine during each workload (all busy CPU time from \`/proc/stat\`, less the CPU time of the daemons under test and of the load generators; in cores, out of ${m.cores}):

${table(
  ["workload", "duration s", "other processes (cores)", "everything (cores)"],
  Object.entries(r.machineLoad ?? {}).map(([w, l]) => [WORKLOAD_NAMES[Number(w)] ?? w, n(l.seconds), n(l.otherCores, 2), n(l.busyCores, 2)]),
)}

Other work competes for the cores, and on a virtual machine an idle core is slow to wake: a one-request-at-a-time round trip between two processes on different cores took anywhere between about 10 and 60 µs here, for every server alike, the C echo server included, depending on what else the machine was doing. ${r.pinnedCpu !== null ? `So the latency workloads (1, 2, and the latency part of 6) put the daemon (all its threads) and the client on one CPU (CPU ${r.pinnedCpu}, with \`taskset\`): a round trip then costs the two processes' CPU time and two context switches, which is stable and shows each daemon's own cost. The throughput workloads (3, 4, 5, 7) run unpinned, the daemon and the load generator on separate cores.` : "This run did not pin the daemon and the client to one CPU (\`--no-pin\`), so its latency figures include that noise."} The ratios, measured close together in time with the order rotated, are the more trustworthy part.

## How it is measured

* **Load generator**: \`bench/xsload.c\`, compiled with \`gcc -O2\` into a temporary directory at the start of the run. It is a separate process speaking the wire protocol directly (no library), one C process driving all connections with poll(2), so that the client is not the bottleneck; its own CPU time (getrusage) is in the tables. \`test-xenstore\` (the upstream client) runs under \`xsload - run\`, which reports its CPU time the same way.
* **Daemon CPU time**: the scheduler's run time of every thread of the daemon's process, in nanoseconds (\`/proc/<pid>/task/*/schedstat\`; where that is missing, utime + stime from \`/proc/<pid>/stat\` in clock ticks of ${(1000 / m.clkTck).toFixed(0)} ms), sampled by xsload at the start and the end of the timed part only.
* **Memory**: VmRSS (and VmHWM, the peak) from \`/proc/<pid>/status\`.
* **CPU placement**: ${r.pinnedCpu !== null ? `workloads 1, 2 and the latency part of 6 run with the daemon and its client on CPU ${r.pinnedCpu} (see above); the others are not pinned.` : "nothing is pinned (\`--no-pin\`)."}
* **Warm-up**: before the measurements every daemon serves a little of each workload (\`test-xenstore\`, sequential and pipelined requests, transactions, the creation and teardown of 100 guests on domids the boot storm does not use), unmeasured; this matters for Node's JIT.
* **Repetition**: workloads 1-3 run ${cfg.rounds} round(s) with the daemons' order rotated each round; the median is reported. Workloads 4, 5 and 7 run once per daemon, 6 once on fresh daemons.
* Every client connects to the daemon's Unix socket and is therefore privileged (dom0): no per-domain quotas apply, and there are no guest rings.

## Targets

${met} of ${judged} targets met in this run. Ratio = tsxenstored ÷ reference.

${table(
  ["workload", "what", "measured", "ratio", "target", "met"],
  checks.map((c) => [c.workload, c.what, c.measured, ratio(c.ratio), c.target, mark(c.ok)]),
)}

![targets](bench/targets.svg)

${why}

${sections.join("\n\n")}
${r.errors.length ? `\n## What failed in this run\n\n${r.errors.map((e) => `* ${e.replace(/\n/g, " ")}`).join("\n")}\n` : ""}
## Reproducing

\`\`\`sh
npm run bench              # everything: 7-10 minutes on 2 cores
npm run bench -- --quick   # smaller N, one round: under a minute
\`\`\`

Needs gcc, \`taskset\` (util-linux), Debian's \`xen-utils-4.17\` and \`xenstore-utils\` (the upstream daemons and \`test-xenstore\`) and \`../shared/peers\`. The orchestrator is \`bench/run.ts\` (compiled to \`dist/bench/run.js\`). Options after \`--\`: \`--only 1,2\` runs some workloads, \`--no-pin\` leaves the latency workloads unpinned, \`--keep\` keeps the temporary directory (binaries, sockets, daemon logs), \`--from docs/bench/results.json\` redraws this page and the charts from saved numbers without measuring.
`;
  const mdPath = join(outDir, "benchmarks.md");
  writeFileSync(mdPath, md);
  files.unshift(mdPath);
  return files.map((f) => relative(process.cwd(), f) || f);
}

/** The boot storm's request pattern with plain READs, for every server: the floor of that traffic. */
function oneInFlightTable(r: Results): string {
  const rows = r.oneInFlight;
  if (!rows?.length) return "";
  const conns = rows[0]!.conns;
  return `
The same traffic with the simplest request, as a floor: \`xsload par read ${conns} 1 N\` (${conns} connections, one \`READ\` in flight each), the daemons and the echo servers of workload 2, median of the rounds. "µs per request" is wall time ÷ requests: how often the server finishes one.

${table(
  ["server", "requests/s", "µs per request", "daemon CPU µs/request", "client busy"],
  rows.map((x) => [x.target === "tsxenstored" ? "**tsxenstored**" : x.target, n(x.opsPerS), g(1e6 / x.opsPerS), g(x.daemonCpuUsPerOp), pct(x.clientBusy)]),
)}
`;
}

/**
 * The measured reasons behind the targets this run missed: where the floor
 * is (the Node.js echo server, Node's own memory) and what the daemon costs
 * above it. Only the missed kinds get a paragraph.
 */
function explainMisses(r: Results, checks: Check[]): string {
  const missed = (re: RegExp): boolean => checks.some((c) => c.ok === false && re.test(`${c.workload} ${c.what}`));
  const out: string[] = [];
  const seq = r.sequential ?? [];
  const cpu = (t: string, op = "read"): string => {
    const v = seq.filter((x: SeqRow) => x.target === t && x.op === op && x.daemonCpuUsPerOp !== null).map((x) => x.daemonCpuUsPerOp!);
    return v.length ? g(median(v)) : "–";
  };
  if (missed(/^1 |^2 /)) {
    out.push(`* **One request at a time (workloads 1 and 2).** Each request costs a wake-up, a read and a write system call, plus the runtime around them. The echo servers measure that floor on this machine: per \`read\`, the Node.js echo server costs ${cpu("echo-node")} µs of server CPU and the C one ${cpu("echo-c")} µs, against ${cpu("tsxenstored")} µs for tsxenstored and ${cpu("cxenstored")} µs for cxenstored. tsxenstored's own work (parsing, the tree, the reply) is the difference to the Node.js echo server; the rest is what Node.js's event loop and streams cost per wake-up, which a C daemon does not pay. Missed in this run: ${checks
      .filter((c) => c.ok === false && /^(1|2) /.test(c.workload))
      .map((c) => `${c.what} ${ratio(c.ratio)}`)
      .join(", ")}.`);
  }
  if (missed(/parallel/)) {
    const par = r.parallel ?? [];
    const busy = checks
      .filter((c) => c.ok === false && c.workload === "3 parallel")
      .map((c) => {
        const which = /`(.*)`/.exec(c.what)?.[1] ?? "";
        const of = (t: string): ParRow | undefined => par.find((x) => `${x.op} ×${x.conns}` === which && x.target === t);
        return `\`${which}\` ${ratio(c.ratio)}: the load generator was ${pct(of("tsxenstored")?.clientBusy ?? NaN)} busy against tsxenstored and ${pct(of("cxenstored")?.clientBusy ?? NaN)} against cxenstored`;
      });
    out.push(`* **Pipelined requests.** One C process drives all connections and shares the 2 cores with the daemon (and with Node's helper threads): near 100% busy, it is itself a limit, and with cxenstored, which sends each reply in its own write, it reads more often. Missed in this run: ${busy.join("; ")}.`);
  }
  if (missed(/transactions/)) {
    const tx = (r.transactions ?? []).find((x) => x.target === "tsxenstored" && x.kind === "shared" && x.conns === 8);
    const perCommit = tx && tx.daemonCpuS !== null ? (tx.daemonCpuS * 1e6) / tx.commits : null;
    const floor = r.oneInFlight?.find((x) => x.target === "tsxenstored")?.daemonCpuUsPerOp ?? null;
    out.push(`* **Transactions on one shared counter.** Optimistic transactions on a single node serialize: every commit dooms the others that read the counter. tsxenstored makes contending transactions take turns (a reader of a node that recently caused \`EAGAIN\` waits, bounded to 10 ms, for the transaction that read it first), which removes almost all retries (compare the \`EAGAIN\` columns). What remains is the daemon's cost of each transaction's four requests (start, read, write, commit), one in flight per client${perCommit !== null ? `: ${g(perCommit)} µs of daemon CPU per commit` : ""}${floor !== null ? `, against ${g(floor)} µs for one plain \`READ\` when eight clients keep the daemon busy (section 5's floor table)` : ""}. Here only the transaction whose turn it is matters, and it needs two round trips to its client (the read's answer, then the write's) before it commits: the daemon waits, then pays a full wake-up for nearly every request${tx && tx.daemonCpuS !== null ? ` (it was busy ${pct(tx.daemonCpuS / tx.seconds)} of the run, helper threads included)` : ""}. With 8 clients cxenstored wastes less than with 64 (fewer transactions are doomed by each commit), so the same mechanism gains less there than with 64 clients.`);
  }
  if (missed(/boot storm/)) {
    const b = (r.bootStorm ?? []).filter((x) => x.target === "tsxenstored").sort((x, y) => y.guests - x.guests)[0];
    const perReq = b && b.daemonCpuS !== null ? (b.daemonCpuS * 1e6) / (b.bootRequests + b.teardownRequests) : null;
    const peers = (r.bootStorm ?? []).filter((x) => x.guests === b?.guests && x.target !== "tsxenstored");
    const bestPeer = peers.sort((x, y) => x.bootS - y.bootS)[0];
    const wall = (x: BootRow | undefined): number | null => (x ? (x.bootS * 1e6) / x.bootRequests : null);
    const need = bestPeer ? (bestPeer.bootS * 1e6) / 2 / bestPeer.bootRequests : null;
    const floorOf = (t: string): number | null => {
      const x = r.oneInFlight?.find((y) => y.target === t);
      return x ? 1e6 / x.opsPerS : null;
    };
    const echoNode = floorOf("echo-node");
    const verdict =
      need === null || echoNode === null
        ? ""
        : need <= echoNode
          ? ` That is faster than the Node.js echo server answers requests that do nothing in this very traffic (${g(echoNode)} µs): out of reach for a Node.js daemon on this machine, whatever its work.`
          : ` That leaves ${g(need - echoNode)} µs per request above the Node.js echo server (${g(echoNode)} µs in this very traffic) for the work of a libxl request; tsxenstored needs ${g((wall(b) ?? 0) - echoNode)} µs more than the echo server.`;
    out.push(`* **Boot storm.** Creating ${b ? n(b.guests) : "the"} guests the libxl way is ${b ? n(b.bootRequests) : "about 126 per guest"} synchronous requests from 8 connections with one request in flight each. Halving ${bestPeer?.target ?? "the better peer"}'s time means finishing one every ${g(need)} µs on average; tsxenstored finishes one every ${g(wall(b))} µs${perReq !== null ? ` (${g(perReq)} µs of daemon CPU per request, boot and teardown together)` : ""}, while the same traffic with plain \`READ\`s takes it ${g(floorOf("tsxenstored"))} µs (the floor table in section 5): libxl's requests are heavier (transactions creating about 30 nodes each, replayed at commit; \`SET_PERMS\`; watches).${verdict} Profiled by hand (2026-11-29, \`strace -c\` and \`node --cpu-prof\` on a warmed daemon creating guests in batches of 100): tsxenstored makes the minimum of system calls, one \`read\` and one \`write\` per request and one \`epoll_wait\` per eight, and 44% of its busy time is inside the \`write\` that sends a reply and wakes the waiting client on the other core, a cost every daemon pays per reply on this virtual machine.`);
  }
  if (missed(/resident memory/)) {
    const s = r.scale ?? [];
    const ts = s.find((x) => x.target === "tsxenstored");
    const cx = s.find((x) => x.target === "cxenstored");
    const empty = ts?.checkpoints[0];
    out.push(`* **Resident memory.** A Node.js process starts at ${empty ? mib(empty.rssKiB) : "–"} MiB resident${empty?.fileKiB !== undefined ? `, ${mib(empty.fileKiB)} MiB of it file-backed pages of the \`node\` executable (shared with any other Node.js process, and reclaimable)` : ""}, before it stores anything; cxenstored starts at ${cx?.checkpoints[0] ? mib(cx.checkpoints[0].rssKiB) : "–"} MiB. What the store itself costs is the growth: see "bytes per node" and the private (RssAnon) figures in section 6. The tree keeps childless nodes packed in their parent, interns names and ACLs, and uses a small young generation (\`--max-semi-space-size=2\` in \`bin/tsxenstored\`). Measured by hand inside the daemon (\`xenstore-control memreport\`, 2026-11-27) right after such a fill, the live heap was about 117 bytes per node; the private memory beyond that is the garbage-collected heap's free space right after the burst (its pages are kept for reuse) and the runtime's fixed cost.`);
  }
  if (out.length === 0) return "";
  return `## Where a target is missed, and why

${out.join("\n")}`;
}
