/** "Where a target is missed, and why": the paragraphs under the targets table, from the run's own numbers. */
import { median } from "../lib.js";
import { inProcessAgainstTarget } from "./sections/cold-start.js";
import type { BootRow, FullStoreDaemon, ParRow, Results, SeqRow, TestXenstoreRun } from "../types.js";
import { g, mib, n, pct, ratio } from "./format.js";
import { bytesPerNode, lastReading } from "./sections/full-store.js";
import type { Check } from "./targets.js";

/**
 * The measured reasons behind the targets this run missed: where the floor
 * is (the Node.js echo server, Node's own memory) and what the daemon costs
 * above it. Only the missed kinds get a paragraph.
 */
export function explainMisses(r: Results, checks: Check[]): string {
  const missed = (re: RegExp): boolean => checks.some((c) => c.ok === false && re.test(`${c.workload} ${c.what}`));
  const out: string[] = [];
  const seq = r.sequential ?? [];
  const cpu = (t: string, op = "read"): string => {
    const v = seq.filter((x: SeqRow) => x.target === t && x.op === op && x.daemonCpuUsPerOp !== null).map((x) => x.daemonCpuUsPerOp!);
    return v.length ? g(median(v)) : "–";
  };
  if (missed(/^(1|2) (?!.*unpinned)/)) {
    out.push(`* **One request at a time (workloads 1 and 2).** Each request costs a wake-up, a read and a write system call, plus the runtime around them. The echo servers measure that floor on this machine: per \`read\`, the Node.js echo server costs ${cpu("echo-node")} µs of server CPU and the C one ${cpu("echo-c")} µs, against ${cpu("tsxenstored")} µs for tsxenstored and ${cpu("cxenstored")} µs for cxenstored. The Node.js echo server reads and writes through node:net's streams; tsxenstored serves its sockets from C (\`native/unix-stream.c\`, docs/design.md "The socket transport"), so what it costs above the C echo server is its own work (parsing, the tree, the reply) and the runtime around each event-loop turn (the call into JavaScript and the microtask checkpoint after it), which a C daemon does not pay. Missed in this run: ${checks
      .filter((c) => c.ok === false && /^(1|2) /.test(c.workload) && !/unpinned/.test(c.what))
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
  if (missed(/^5 boot storm/)) {
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
    out.push(`* **Boot storm.** Creating ${b ? n(b.guests) : "the"} guests the libxl way is ${b ? n(b.bootRequests) : "about 126 per guest"} synchronous requests from 8 connections with one request in flight each. Halving ${bestPeer?.target ?? "the better peer"}'s time means finishing one every ${g(need)} µs on average; tsxenstored finishes one every ${g(wall(b))} µs${perReq !== null ? ` (${g(perReq)} µs of daemon CPU per request, boot and teardown together)` : ""}, while the same traffic with plain \`READ\`s takes it ${g(floorOf("tsxenstored"))} µs (the floor table in section 5): libxl's requests are heavier (transactions creating about 30 nodes each, replayed at commit; \`SET_PERMS\`; watches).${verdict} Profiled by hand (2026-12-08, \`perf\` with \`--perf-basic-prof\` on the main thread of a warmed daemon booting 300 guests): 17% of its time is in the \`send\` that delivers a reply and wakes the waiting client on the other core (a cost every daemon pays per reply on this virtual machine), 5% in \`read\` and 7% in libuv's poll; the rest is JavaScript, mostly the transactions (their commits, replayed on the current tree), the writes and \`SET_PERMS\`. A fresh daemon's first 300 guests cost its main thread about 10% more than the next 300 (1.44 against 1.30 s of CPU), and its compiler threads 0.3 against 0.17 s: the JIT is still at work despite the warm-up.`);
  }
  if (missed(/^1 .*unpinned/) && r.testXenstore) {
    const runs = r.testXenstore.runs;
    const of = (t: string, pinned: boolean): TestXenstoreRun[] => runs.filter((x) => x.target === t && (x.pinned ?? r.pinnedCpu !== null) === pinned);
    const wall = (t: string, pinned: boolean): string => g(median(of(t, pinned).map((x) => x.seconds)));
    const cpu = (t: string, pinned: boolean): string => g(median(of(t, pinned).map((x) => x.daemonCpuS ?? NaN)));
    const both = r.pinnedCpu !== null;
    const say = (t: string): string => (both ? `${wall(t, false)} s unpinned against ${wall(t, true)} s on one CPU (the daemon's CPU time ${cpu(t, false)} s against ${cpu(t, true)} s)` : `${wall(t, false)} s (the daemon's CPU time ${cpu(t, false)} s)`);
    out.push(`* **test-xenstore unpinned.** Unpinned, the scheduler may run the daemon and test-xenstore on different CPUs; each of test-xenstore's requests may then wake the daemon's CPU and each reply wakes test-xenstore's, and on this virtual machine (its kernel does no halt polling) such a wake-up is slow and varies with the rest of the machine's load (see "Machine"). tsxenstored polls for up to 100 µs for the next request of a burst before letting its CPU go idle (\`--idle-poll\`, docs/design.md); a Node.js server that only answers test-xenstore's requests, from a map, and does not poll (\`bench/minimal-xenstored.ts\`), was at 1.01× cxenstored unpinned (3 rounds, 2026-12-07), and tsxenstored without polling at 1.62×: the difference is the daemon's time per request, which decides whether the client's CPU is still awake when the reply comes. A whole \`test-xenstore -i ${n(r.testXenstore.iterations)}\` took tsxenstored ${say("tsxenstored")}; cxenstored ${say("cxenstored")}. Unpinned, in this run: ${checks
      .filter((c) => c.workload.startsWith("1 ") && /unpinned/.test(c.what))
      .map((c) => (/geometric/.test(c.what) ? `the geometric mean of the tests' ratios to cxenstored ${ratio(c.ratio)}` : `the slowest test, ${c.measured}, ${ratio(c.ratio)}`))
      .join("; ")}.`);
  }
  if (missed(/^6 .*resident memory/)) {
    const s = r.scale ?? [];
    const ts = s.find((x) => x.target === "tsxenstored");
    const cx = s.find((x) => x.target === "cxenstored");
    const empty = ts?.checkpoints[0];
    out.push(`* **Resident memory.** A Node.js process starts at ${empty ? mib(empty.rssKiB) : "–"} MiB resident${empty?.fileKiB !== undefined ? `, ${mib(empty.fileKiB)} MiB of it file-backed pages of the \`node\` executable (shared with any other Node.js process, and reclaimable)` : ""}, before it stores anything; cxenstored starts at ${cx?.checkpoints[0] ? mib(cx.checkpoints[0].rssKiB) : "–"} MiB. What the store itself costs is the growth: see "bytes per node" and the private (RssAnon) figures in section 6. The tree keeps childless nodes packed in their parent and interns names and ACLs; subtrees that stop changing (a guest's tree once it is built) are packed into one string each within seconds, about 20 bytes a node (\`src/store/frozen.ts\`, \`src/store/compactor.ts\`); once idle, the daemon gives back a grown heap, its young generation and the C heap's free pages (\`src/system/heap-return.ts\`). Right after a fill, before the packing and the return, the private memory is mostly the garbage-collected heap's garbage and free space (its pages are kept for reuse while requests come).`);
  }
  if (missed(/^10 /) && r.durability) {
    const d = r.durability;
    const said: string[] = [];
    const load = r.machineLoad?.[10];
    const busy = load && load.otherCores >= 0.25 ? ` (other work on the machine kept ${n(load.otherCores, 2)} of ${r.machine.cores} cores busy on average during this workload, and can move one measurement against the next)` : "";
    if (missed(/^10 .*write/)) {
      const cpu = (m: string, conns: number): string => g(d.parallel.find((x) => x.mode === m && x.conns === conns)?.daemonCpuUsPerOp);
      const pass = d.parallel.find((x) => x.mode === "off")?.seconds;
      said.push(`pipelined writes: the journal's cost shows in daemon CPU per \`WRITE\`, ${cpu("log", 8)} µs with log against ${cpu("off", 8)} µs with off (8 connections), ${cpu("log", 64)} against ${cpu("off", 64)} µs (64)${pass !== undefined ? `; one pass lasted ${g(pass)} s${busy}` : ""}`);
    }
    if (missed(/^10 .*boot/)) {
      const of = (m: string) => d.boot.find((x) => x.mode === m);
      const per = (m: string): string => {
        const x = of(m);
        return x && x.daemonCpuS !== null ? g((x.daemonCpuS * 1e6) / x.bootRequests) : "–";
      };
      said.push(`boot: the daemon spent ${per("log")} µs of CPU per boot request with log against ${per("off")} µs with off (boot and teardown CPU ÷ boot requests)${busy}`);
    }
    if (missed(/^10 .*sync/)) {
      const off = d.tx.find((x) => x.mode === "off");
      const sync = d.tx.find((x) => x.mode === "sync");
      const per = (x: typeof off): string => (x && x.daemonCpuS !== null ? g((x.daemonCpuS * 1e6) / x.commits) : "–");
      said.push(`under sync, ${sync ? n(sync.conns) : "the"} clients with one transaction in flight each (four requests per commit) can put at most ${sync ? n(sync.conns) : "that many"} commits behind one \`fdatasync\`; the naive journal's \`fdatasync\` took ${d.naive ? `${g(d.naive.p50Us)} µs at the median and ${g(d.naive.p99Us)} µs at p99` : "–"} on this file system (${d.fsType}); the daemon spent ${per(sync)} µs of CPU per commit under sync against ${per(off)} µs with off${off && d.naive && off.commitsPerS < 5 * d.naive.commitsPerS ? `, and even with off this traffic reached ${ratio(off.commitsPerS / d.naive.commitsPerS)} the naive journal's commits/s (${n(off.commitsPerS)} vs ${n(d.naive.commitsPerS)}): without any journal this traffic stays below 5× the naive journal on this machine` : ""}`);
    }
    if (missed(/^10 .*restart/) && d.restart) {
      const slow = [...d.restart.restarts].sort((a, b) => b.readyMs - a.readyMs)[0];
      if (slow?.replayed && slow.recoveredMs !== null) said.push(`the slowest restart replayed ${n(slow.replayed)} commits in ${n(slow.recoveredMs)} ms (${g((slow.recoveredMs * 1000) / slow.replayed)} µs each) of its ${n(slow.readyMs)} ms`);
    }
    out.push(`* **Crash durability (workload 10).** Measured in this run: ${said.join("; ")}.`);
  }
  if (missed(/^9 /) && r.hostile) {
    const rows = r.hostile;
    const one = (t: string): string => {
      const x = rows.find((h) => h.target === t);
      return x
        ? `${t} ${g(x.quiet.guests.p99Ms)} ms without the flood and ${g(x.flooded.guests.p99Ms)} ms beside it (${ratio(x.flooded.guests.p99Ms / x.quiet.guests.p99Ms)}), while answering the flooding guest ${n(x.floodPerS)} requests/s`
        : `${t} –`;
    };
    out.push(
      `* **A flooding guest (workload 9).** The well-behaved guests' p99 beside the flood against without it, and what the flooding guest got meanwhile: ${["tsxenstored", "cxenstored", "oxenstored"].map(one).join("; ")}. All ${rows[0] ? n(rows[0].well) : ""} guests and dom0 have requests in flight at once; one Node.js thread takes the connections in turn (a batch from each), so a guest's request waits behind a round of the others even without the flood: that, not the flooding guest, is most of tsxenstored's p99.`,
    );
  }
  if (missed(/^12 /) && r.coldStart) {
    const rows = r.coldStart.rows;
    const perReq = (x: { daemonCpuS: number | null; bootRequests: number } | undefined): string => (x && x.daemonCpuS !== null ? g((x.daemonCpuS * 1e6) / x.bootRequests) : "–");
    const said = checks
      .filter((c) => c.ok === false && c.workload.startsWith("12 "))
      .map((c) => {
        const size = Number(/^([\d,]+) guests/.exec(c.what)?.[1]?.replace(/,/g, ""));
        const of = (t: string) => rows.find((x) => x.guests === size && x.target === t);
        const ts = of("tsxenstored");
        const ox = of("oxenstored");
        const warm = (t: string) => r.bootStorm?.find((x) => x.guests === size && x.target === t);
        const wts = warm("tsxenstored");
        const wox = warm("oxenstored");
        return `${n(size)} guests: tsxenstored ${g(ts?.bootS)} s, ${perReq(ts)} µs of daemon CPU per request${wts ? ` (warmed up, section 5: ${g(wts.bootS)} s, ${perReq(wts)} µs)` : ""}; oxenstored ${g(ox?.bootS)} s, ${perReq(ox)} µs${wox ? ` (warmed up: ${g(wox.bootS)} s, ${perReq(wox)} µs)` : ""}; ${c.what.replace(/^[\d,]+ guests, fresh daemon: /, "").replace(/ \(quick.*\)$/, "")} ${ratio(c.ratio)}`;
      });
    const inProc = inProcessAgainstTarget(r);
    const verdict = (x: (typeof inProc)[number]): string =>
      x.allowedUs === null ? "" : x.usPerRequest >= x.allowedUs ? ": over it before any system call" : `: within it, leaving ${g(x.allowedUs - x.usPerRequest)} µs for the system calls, wake-ups and event loop around each request`;
    const inProcSaid = inProc.length
      ? ` tsxenstored's own handling of the same requests, in one process without any socket (the second table of section 12): ${inProc.map((x) => `${n(x.guests)} guests ${g(x.usPerRequest)} µs per request, where the target allows ${x.allowedUs === null ? "–" : g(x.allowedUs)} µs for everything a request costs${verdict(x)}`).join("; ")}. That handling (transactions with an overlay each, replayed at commit; SET_PERMS; watches; the history) is the work to make faster.`
      : "";
    out.push(
      `* **Cold start.** A fresh tsxenstored warms itself up before it accepts (\`--warm-up\`), so a cold boot costs about what a warm one does (the "warm" column). The daemons' cost per request on a fresh daemon, in this run: ${said.join(". ")}.${inProcSaid} Tried and not kept (2026-12-08): a warm-up that creates its guests exactly as libxl does (this boot's own request mix: 114 guests in its 1 s budget instead of 300 simpler ones) left the cold boot of 300 guests where it was (1.65 s either way, 3 runs each).`,
    );
  }
  if (missed(/^13 .*VmRSS/) && r.fullStore) {
    const ds = r.fullStore.daemons;
    const of = (t: string): FullStoreDaemon | undefined => ds.find((x) => x.target === t);
    const at = (x: FullStoreDaemon | undefined): string => {
      const l = x && lastReading(x);
      return l ? `${mib(l.reading.rssKiB)} MiB (${mib(l.reading.anonKiB)} private) with ${n(l.domains)} domains${l.idle ? "" : " (right after its last chunk: stopped by its budget)"}, ${n(bytesPerNode(x))} bytes per node` : "–";
    };
    const ts = of("tsxenstored");
    const te = ts?.steps.find((s) => s.domains === ts.domains);
    const floor = r.fullStore.nodeFloor;
    let floorSaid = "";
    if (floor) {
      // Where the better peer holds its guests in less than Node.js needs to run at all, no daemon in Node.js can meet the target.
      const beyond = [...new Set(ds.flatMap((x) => x.steps.map((s) => s.domains)))]
        .sort((a, b) => a - b)
        .map((domains) => {
          const peers = ds.filter((x) => x.target !== "tsxenstored").flatMap((x) => x.steps.filter((s) => s.domains === domains).map((s) => ({ target: x.target, kib: s.idle.rssKiB })));
          const best = peers.sort((a, b) => a.kib - b.kib)[0];
          return best && best.kib < floor.rssKiB ? `${best.target}'s ${mib(best.kib)} MiB with ${n(domains)} domains` : null;
        })
        .filter((x): x is string => x !== null);
      floorSaid = ` A Node.js process that serves the protocol and stores nothing (\`bench/echo-server.ts\`, 1 s after its start) is at ${mib(floor.rssKiB)} MiB resident (${mib(floor.fileKiB)} MiB file-backed, ${mib(floor.anonKiB)} MiB private)${beyond.length ? `: more than ${beyond.join(" and ")}, so no daemon in Node.js can meet ${beyond.length === 1 ? "that target" : "those targets"}` : ""}.`;
    }
    out.push(`* **Resident memory with a full store.**${floorSaid} A fresh tsxenstored is at ${ts ? mib(ts.start.rssKiB) : "–"} MiB resident before it stores anything, ${ts ? mib(ts.start.fileKiB) : "–"} MiB of it file-backed pages of the \`node\` executable (shared with any other Node.js process, and reclaimable) and ${ts ? mib(ts.start.anonKiB) : "–"} MiB private (its code, warmed up, and V8's young generation); cxenstored starts at ${mib(of("cxenstored")?.start.rssKiB ?? NaN)} MiB, oxenstored at ${mib(of("oxenstored")?.start.rssKiB ?? NaN)} MiB. Filled (the last reading, ${r.fullStore.idleSeconds} s idle unless said): tsxenstored ${at(ts)}; cxenstored ${at(of("cxenstored"))}; oxenstored ${at(of("oxenstored"))}.${te ? ` The ${r.fullStore.idleSeconds} s idle pause changed tsxenstored's VmRSS by ${mib(te.idle.rssKiB - te.after.rssKiB)} MiB (${mib(te.after.rssKiB)} MiB right after filling).` : ""}`);
  }
  if (missed(/^13 .*p50/) && r.fullStore) {
    const ts = r.fullStore.daemons.find((x) => x.target === "tsxenstored");
    const said = checks
      .filter((c) => c.ok === false && c.workload.startsWith("13 ") && /p50/.test(c.what))
      .map((c) => {
        const op = /`(\w+)`/.exec(c.what)?.[1];
        const e = ts?.seqEmpty.find((x) => x.op === op);
        const f = ts?.seqFull.find((x) => x.op === op);
        const cpu = e && f && e.daemonCpuUsPerOp !== null && f.daemonCpuUsPerOp !== null ? f.daemonCpuUsPerOp / e.daemonCpuUsPerOp : null;
        const why = cpu === null ? "" : cpu > 1.05 ? `: the full store costs the daemon more CPU per request (${ratio(cpu)})` : ` while the daemon's CPU per request changed by ${ratio(cpu)}: the difference is outside the daemon's own work (the round trip on this machine)`;
        return `\`${op}\` p50 ${g(f?.p50Us)} µs full against ${g(e?.p50Us)} µs empty (${ratio(c.ratio)}); daemon CPU ${g(f?.daemonCpuUsPerOp)} against ${g(e?.daemonCpuUsPerOp)} µs per request${why}`;
      });
    out.push(`* **Latency on the full store (workload 13).** ${said.join("; ")}.`);
  }
  if (out.length === 0) return "";
  return `## Where a target is missed, and why

${out.join("\n")}`;
}
