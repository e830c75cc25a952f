/**
 * Sections 8 and 9 of docs/benchmarks.md: guests through their rings in an
 * emulated Xen host (bench/guests.ts): a boot storm, and well-behaved
 * guests' latency beside a flooding guest.
 */
import type { TargetName } from "../../lib.js";
import type { Results } from "../../types.js";
import { grouped, type Bar, type Chart } from "../charts.js";
import { best, div, g, mib, n, ratio, table, tag } from "../format.js";
import type { Section } from "../section.js";
import type { Check } from "../targets.js";

export function guestStormSection(r: Results): Section | null {
  if (!r.guestStorm?.length) return null;
  const rows = r.guestStorm;
  const cfg = r.config;
  const times: Partial<Record<TargetName, number>> = {};
  for (const x of rows) times[x.target] = x.bootS;
  const b = best(times, false);
  const q = div(times.tsxenstored, b.value);
  const size = rows[0]!.guests;
  const checks: Check[] = [
    {
      workload: "8 guest boot storm",
      what: `${n(size)} guests through their rings: boot time${size < 1000 ? " (quick run: the target is for 1,000)" : ""}`,
      measured: `${g(times.tsxenstored)} s vs ${g(b.value)} s (${b.who})`,
      target: "≤ 1×",
      ratio: q,
      threshold: 1,
      ok: q === null ? null : q <= 1,
    },
  ];
  const body = rows.map((x) => [
    tag(x.target),
    g(x.bootS),
    g(x.boot.p50Ms),
    g(x.boot.p99Ms),
    n(x.bootEagain),
    g(x.teardownS),
    n(x.notReleased),
    g(x.daemonCpuS),
    mib(x.rssBootedKiB),
    x.target === "tsxenstored" ? `${ratio(q)} (${b.who})` : "",
  ]);
  const values: Bar[] = rows.flatMap((x) => [
    { group: "boot s", target: x.target, value: x.bootS },
    { group: "teardown s", target: x.target, value: x.teardownS },
  ]);
  const markdown = `## 8. Guest boot storm through rings

\`node dist/bench/guests.js storm DIR ${n(size)} ${cfg.guestParallel}\` against a fresh daemon, not warmed up (as on a host booting its guests), serving a fresh emulated Xen host (\`tsxenstored --emulate\`, cx and ox under \`tsxs-emu run\`): ${n(size)} guests, the toolstack (${cfg.guestParallel} dom0 connections) building ${cfg.guestParallel} at a time as libxl does — a transaction for the home (\`cpu\`, \`memory\`, \`control\`, \`data\`, … with their permissions), one per device for a vif and a vbd (frontend and backend directories) — then making the domain (its ring page and event channel) and \`INTRODUCE\`. Once introduced, each guest boots while the toolstack builds the next: **through its own ring**, as a Linux guest's xenbus does, it watches \`control/shutdown\`, \`control/sysrq\` and \`memory/target\`, writes \`control/feature-poweroff|reboot|suspend\`, lists \`device\`, and for each frontend reads its backend, watches the backend's \`state\`, waits for InitWait, writes its ring details in a transaction, switches to Initialised, waits for Connected and switches to Connected; dom0's backend drivers (one more dom0 connection) move each backend to InitWait and, on the frontend's Initialised, to Connected. Boot time: from the first domain's creation until every frontend is connected; per guest: from its creation until its frontends are connected. Teardown: the toolstack removes each guest's trees in a transaction and destroys the domain; done when the daemon has released every domain (seen it die through \`VIRQ_DOM_EXC\`). One run per daemon (each takes the whole machine: daemon, driver). Ratio: tsxenstored ÷ the better of cx/ox (boot time).

${table(["daemon", "boot s", "per guest p50 ms", "per guest p99 ms", "EAGAIN", "teardown s", "not released", "daemon CPU s", "RSS booted MiB", "ratio"], body)}

![guest boot storm](bench/guest-storm.svg)`;
  const charts: Chart[] = [{ file: "guest-storm.svg", title: "guest storm", spec: grouped(`Guest boot storm (${n(size)} guests through rings): seconds (lower is better)`, values, "seconds", "") }];
  return { markdown, checks, charts };
}

export function hostileSection(r: Results): Section | null {
  if (!r.hostile?.length) return null;
  const rows = r.hostile;
  const cfg = r.config;
  const p99: Partial<Record<TargetName, number>> = {};
  for (const x of rows) p99[x.target] = x.flooded.guests.p99Ms;
  const b = best(p99, false);
  const q = div(p99.tsxenstored, b.value);
  const checks: Check[] = [
    {
      workload: "9 hostile guest",
      what: `${cfg.hostileWell} well-behaved guests' p99 latency beside a flooding guest`,
      measured: `${g(p99.tsxenstored)} ms vs ${g(b.value)} ms (${b.who})`,
      target: "≤ 1×",
      ratio: q,
      threshold: 1,
      ok: q === null ? null : q <= 1,
    },
  ];
  const body = rows.map((x) => [
    tag(x.target),
    `${g(x.quiet.guests.p50Ms)} / ${g(x.quiet.guests.p99Ms)}`,
    `${g(x.flooded.guests.p50Ms)} / ${g(x.flooded.guests.p99Ms)}`,
    ratio(div(x.flooded.guests.p99Ms, x.quiet.guests.p99Ms)),
    `${g(x.quiet.dom0.p50Ms)} / ${g(x.quiet.dom0.p99Ms)}`,
    `${g(x.flooded.dom0.p50Ms)} / ${g(x.flooded.dom0.p99Ms)}`,
    n(x.floodPerS),
    g(x.daemonCpuS),
    mib(x.rssKiB),
    x.target === "tsxenstored" ? `${ratio(q)} (${b.who})` : "",
  ]);
  const values: Bar[] = rows.flatMap((x) => [
    { group: "guests, quiet", target: x.target, value: x.quiet.guests.p99Ms },
    { group: "guests, flooded", target: x.target, value: x.flooded.guests.p99Ms },
    { group: "dom0, quiet", target: x.target, value: x.quiet.dom0.p99Ms },
    { group: "dom0, flooded", target: x.target, value: x.flooded.dom0.p99Ms },
  ]);
  const markdown = `## 9. A flooding guest among well-behaved ones

\`node dist/bench/guests.js hostile DIR ${cfg.hostileWell} ${cfg.hostileOps}\` against a fresh daemon serving a fresh emulated host: ${cfg.hostileWell} well-behaved guests (each through its own ring) and a dom0 client each make ${cfg.hostileOps} sequential requests (alternately a \`READ\` of a small node and a \`WRITE\` under their own home), timed one by one: once alone ("quiet", after a warm-up phase), then while one more guest, in a process of its own, keeps 256 requests (\`READ\`s and \`WRITE\`s of its own nodes) queued on its ring for the whole phase ("flooded"). Latencies in ms, p50 / p99 over all the well-behaved guests' requests; "flood requests/s": what the flooding guest got answered. One run per daemon. Ratio: tsxenstored's flooded guests' p99 ÷ the better of cx/ox.

${table(["daemon", "guests quiet ms", "guests flooded ms", "flooded ÷ quiet p99", "dom0 quiet ms", "dom0 flooded ms", "flood requests/s", "daemon CPU s", "RSS MiB", "ratio"], body)}

![hostile guests](bench/hostile.svg)`;
  const charts: Chart[] = [{ file: "hostile.svg", title: "hostile", spec: grouped("A flooding guest: p99 latency of the others, ms (lower is better)", values, "p99 ms", "", true) }];
  return { markdown, checks, charts };
}
