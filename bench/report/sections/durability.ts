/**
 * Section 10 of docs/benchmarks.md: what crash durability (the journal,
 * `--durability log|sync|off`) costs tsxenstored, and its restart after a
 * SIGKILL. tsxenstored only: cx and ox have no durability.
 */
import type { DurabilityMode, Results } from "../../types.js";
import { div, g, mib, n, pct, ratio, table } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

const WORKLOAD = "10 durability";

/** The paired ratio (median over the rounds of mode ÷ off in the same round) where recorded, else the ratio of the medians. */
function toOff(paired: number | null | undefined, ofMedians: number | null): number | null {
  return paired ?? ofMedians;
}

/** The mode as the daemon was started. */
function flag(m: DurabilityMode): string {
  return m === "log" ? "log (default)" : `\`--durability ${m}\``;
}

export function durabilitySection(r: Results): Section | null {
  const d = r.durability;
  if (!d) return null;
  const dc = r.config.durability;
  const checks: Check[] = [];
  const parts: string[] = [];

  // Part 1: pipelined writes.
  const conns = [...new Set(d.parallel.map((x) => x.conns))];
  const parBody: string[][] = [];
  for (const c of conns) {
    const of = (m: DurabilityMode) => d.parallel.find((x) => x.conns === c && x.mode === m);
    const off = of("off");
    for (const m of ["off", "log", "sync"] as DurabilityMode[]) {
      const x = of(m);
      if (!x) continue;
      parBody.push([`write ×${c}`, flag(m), n(x.opsPerS), g(x.seconds), g(x.daemonCpuUsPerOp), pct(x.clientBusy), m === "off" ? "" : ratio(toOff(x.ratioToOff, div(x.opsPerS, off?.opsPerS)))]);
    }
    const log = of("log");
    const q = toOff(log?.ratioToOff, div(log?.opsPerS, off?.opsPerS));
    checks.push({ workload: WORKLOAD, what: `pipelined \`write ×${c}\`: log ÷ off`, measured: `${n(log?.opsPerS)} vs ${n(off?.opsPerS)} writes/s (medians)`, target: "≥ 0.9×", ratio: q, threshold: 0.9, ok: q === null ? null : q >= 0.9 });
  }
  const par0 = d.parallel[0];
  parts.push(`### Pipelined writes

Workload 3's \`xsload par write CONNS ${par0?.depth ?? r.config.parDepth} ${n(par0?.ops ?? r.config.parOps)}\` (CONNS connections, ${par0?.depth ?? r.config.parDepth} \`WRITE\`s in flight on each) against each mode, ${dc?.rounds ?? "several"} rounds with the modes' order rotated; the figures are the medians. Every \`WRITE\` is a commit, so each one is journaled. Ratio: ÷ the same traffic with \`--durability off\`, the median over the rounds of each round's ratio (the two measured seconds apart, sharing the machine's load of the moment); target: log ≥ 0.9× off (sync is shown, with no target).

${parBody.length ? table(["case", "mode", "writes/s", "s", "daemon CPU µs/write", "client busy", "÷ off"], parBody) : "Not measured (see what failed)."}`);

  // Part 2: boot storm.
  const boff = d.boot.find((x) => x.mode === "off");
  const blog = d.boot.find((x) => x.mode === "log");
  const bootBody = d.boot.map((x) => [
    flag(x.mode),
    n(x.guests),
    g(x.bootS),
    n(x.bootEagain),
    n(x.bootRequests),
    g(x.teardownS),
    n(x.teardownEagain),
    g(x.daemonCpuS),
    x.mode === "off" ? "" : `${ratio(toOff(x.bootRatioToOff, div(x.bootS, boff?.bootS)))} / ${ratio(toOff(x.teardownRatioToOff, div(x.teardownS, boff?.teardownS)))}`,
  ]);
  const guests = blog?.guests ?? boff?.guests ?? dc?.bootGuests ?? 0;
  {
    const q = toOff(blog?.bootRatioToOff, div(blog?.bootS, boff?.bootS));
    checks.push({ workload: WORKLOAD, what: `libxl-style boot of ${n(guests)} guests: log ÷ off${guests < 1000 ? " (quick run: the target is for 1,000)" : ""}`, measured: `${g(blog?.bootS)} s vs ${g(boff?.bootS)} s (medians)`, target: "≤ 1.1×", ratio: q, threshold: 1.1, ok: q === null ? null : q <= 1.1 });
  }
  parts.push(`### Boot storm

Workload 5's \`xsload boot ${r.config.toolstackConns} 1 ${n(guests)}\` then \`xsload teardown ${r.config.toolstackConns} 1 ${n(guests)}\` (libxl's transactions, permissions, watches and \`INTRODUCE\`/\`RELEASE\`; one request in flight per connection) against off and log, ${dc?.rounds ?? "several"} rounds with the order rotated; the figures are the medians. Ratio: log ÷ off (boot / teardown), the median of each round's ratio; target: boot ≤ 1.1×.

${bootBody.length ? table(["mode", "guests", "boot s", "boot EAGAIN", "boot requests", "teardown s", "teardown EAGAIN", "daemon CPU s", "÷ off boot / teardown"], bootBody) : "Not measured (see what failed)."}`);

  // Part 3: contended commits.
  const naive = d.naive;
  const tsync = d.tx.find((x) => x.mode === "sync");
  const txBody = d.tx.map((x) => [
    flag(x.mode),
    n(x.conns),
    n(x.commits),
    g(x.seconds),
    n(x.commitsPerS),
    n(x.eagain),
    x.exact ? "✔" : "✘ WRONG",
    g(x.daemonCpuS),
    ratio(div(x.commitsPerS, naive?.commitsPerS)),
  ]);
  if (naive) txBody.push([`naive journal: ${naive.bytes} B + \`fdatasync\` per commit`, "1", n(naive.commits), g(naive.seconds), n(naive.commitsPerS), "", "", "", "1.00×"]);
  {
    const q = div(tsync?.commitsPerS, naive?.commitsPerS);
    checks.push({ workload: WORKLOAD, what: `sync, ${tsync?.conns ?? dc?.txConns ?? 64} clients committing: commits/s ÷ a naive fsync per commit`, measured: `${n(tsync?.commitsPerS)} vs ${n(naive?.commitsPerS)} commits/s${tsync && !tsync.exact ? "; counters WRONG" : ""}`, target: "≥ 5×", ratio: q, threshold: 5, ok: q === null || !tsync ? null : q >= 5 && tsync.exact });
  }
  parts.push(`### Contended commits (group commit)

Workload 4's \`xsload tx ${tsync?.conns ?? dc?.txConns ?? 64} ${n(tsync?.perConn ?? dc?.txPerConn)} disjoint\`: ${tsync?.conns ?? dc?.txConns ?? 64} connections, each committing transactions that read its own counter and write it + 1 (small transactions, no conflicts), one in flight per connection; the counters are checked afterwards. In sync mode a commit is acknowledged only once its journal entry is \`fdatasync\`'d, one \`fdatasync\` for every commit made meanwhile. The reference is a naive journal on the same file system (${d.fsType}, a file beside the sync daemon's state directory), measured just before: one commit at a time, append ${naive?.bytes ?? dc?.naiveBytes ?? 100} bytes and \`fdatasync\`, ${n(naive?.commits ?? dc?.naiveCommits)} times${naive ? ` (p50 ${g(naive.p50Us)} µs, p99 ${g(naive.p99Us)} µs per commit)` : ""}: naive commits/s = 1 ÷ its mean latency. off and log are shown for context. Ratio: ÷ the naive journal; target: sync ≥ 5×.

${txBody.length ? table(["mode", "clients", "commits", "s", "commits/s", "EAGAIN", "counters", "daemon CPU s", "÷ naive"], txBody) : "Not measured (see what failed)."}`);

  // Part 4: restart.
  const rs = d.restart;
  if (rs) {
    const worst = rs.restarts.length ? Math.max(...rs.restarts.map((x) => x.readyMs)) : null;
    const intact = rs.restarts.every((x) => x.verified !== false);
    checks.push({
      workload: WORKLOAD,
      what: `restart after SIGKILL with ${n(rs.domains)} domains${rs.domains < 10000 ? " (quick run: the target is for 10,000)" : ""}`,
      measured: worst === null ? "–" : `${g(worst / 1000)} s (spawn until the socket answers, slowest of ${rs.restarts.length})${intact ? "" : "; store WRONG"}`,
      target: "≤ 2 s",
      ratio: null,
      threshold: null,
      ok: worst === null ? null : worst <= 2000 && intact,
    });
    const size = (s: typeof rs.stateAtCrash): string => `${mib(s.allocatedBytes / 1024)} MiB allocated (${mib(s.apparentBytes / 1024)} MiB in ${n(s.files)} files)`;
    const rsBody: string[][] = [
      ["first start, empty state directory", n(rs.emptyStartMs), "", "", "", "", ""],
      ...rs.restarts.map((x, i) => [
        `restart ${i + 1} after SIGKILL`,
        n(x.readyMs),
        x.recoveredMs === null ? "no line" : n(x.recoveredMs),
        n(x.revision),
        n(x.replayed),
        mib(x.rssKiB),
        x.verified === null ? "not checked" : x.verified ? "✔" : "✘ WRONG",
      ]),
    ];
    parts.push(`### Restart after a crash

A fresh daemon in the default mode (log) is filled with ${n(rs.domains)} domains by workload 6's \`xsload populate ${r.config.toolstackConns} 32 FIRST COUNT\` (${n(rs.nodesPerGuest)} nodes each, ${n(rs.populateRequests)} requests, ${g(rs.populateS)} s; ${mib(rs.rssBeforeKiB)} MiB resident), then killed with SIGKILL and started again on the same rundir (its state directory \`RUNDIR/state\`), ${rs.restarts.length} time(s), each after a SIGKILL. "ready ms": from spawn(2) of the new process (Node.js's own start included) until its socket accepts a connection (polled every 5 ms; the daemon listens only once it has recovered). "recovery ms", "revision" and "replayed": the daemon's own line \`recovered revision N from DIR (K commits replayed, T ms)\`. "store": the last and the first domain's \`name\` read back with \`xenstore-read\`. Target: ready ≤ 2 s with 10,000 domains.

${table(["start", "ready ms", "recovery ms", "revision", "commits replayed", "VmRSS MiB", "store"], rsBody)}

State directory: ${size(rs.stateAtCrash)} at the first SIGKILL; ${size(rs.stateAfter)} after the last restart.`);
  } else {
    checks.push({ workload: WORKLOAD, what: "restart after SIGKILL", measured: "–", target: "≤ 2 s", ratio: null, threshold: null, ok: null });
    parts.push(`### Restart after a crash

Not measured (see what failed).`);
  }

  const markdown = `## 10. Crash durability

tsxenstored journals every commit in its state directory (\`--state-dir\`, by default \`$XENSTORED_RUNDIR/state\`) and recovers from it when it starts. \`--durability log\` (the default): the journal entry is written (write(2)) before the reply goes out, so a crash of the daemon loses nothing acknowledged; \`sync\`: also \`fdatasync\`'d first (group commit), so a crash of the machine loses nothing either; \`off\`: memory only, as before. **tsxenstored only**: cxenstored and oxenstored keep their store in memory and have no durability to compare with. Each mode runs on its own fresh daemon (warmed up like the others, unmeasured), the state directories on ${d.fsType}.

${parts.join("\n\n")}`;
  return { markdown, checks, charts: [] };
}
