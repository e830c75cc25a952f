/**
 * `npm run conformance -- --seed S --ops N [--peer cxenstored|oxenstored]
 * [--conns K] [--chunk C] [--no-shrink] [--scenarios] [--guests]`: long
 * differential runs (with --guests, in an emulated host where connections 2
 * and 3 are guests on rings; the peer runs under tsxs-emu). Prints the
 * number of ops compared and every divergence, shrunk to a minimal
 * reproduction. Exit status 1 when there were divergences.
 */
import { parseArgs } from "node:util";
import { describeSteps, differential, shrink, type Divergence } from "./compare.js";
import { generate } from "./generator.js";
import { oursLauncher, peerLauncher, peersUnavailable, type PeerKind } from "./launch.js";
import { SCENARIOS } from "./scenarios.js";
import { GUEST_CONNS, GUEST_SCENARIOS, generateGuests, guestLauncher } from "./guests.js";
import { emulationUnavailable } from "../helpers/emulated.js";

function report(d: Divergence): string {
  return [
    `  step ${d.index}: ${d.what}`,
    `    reference: ${d.reference.reply}  events ${JSON.stringify(d.reference.events)}`,
    `    ours:      ${d.ours.reply}  events ${JSON.stringify(d.ours.events)}`,
  ].join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: "string", default: "1" },
      ops: { type: "string", default: "2000" },
      peer: { type: "string", default: "cxenstored" },
      conns: { type: "string", default: "4" },
      chunk: { type: "string", default: "20000" },
      "no-shrink": { type: "boolean", default: false },
      scenarios: { type: "boolean", default: false },
      guests: { type: "boolean", default: false },
    },
  });
  const peer = values.peer as PeerKind;
  if (peer !== "cxenstored" && peer !== "oxenstored") throw new Error(`unknown peer ${peer}`);
  const guests = values.guests;
  const why = guests ? emulationUnavailable(peer) : peersUnavailable(peer);
  if (why) {
    console.log(`conformance: skipped: ${why}`);
    return 0;
  }
  const ref = guests ? guestLauncher(peer) : peerLauncher(peer);
  const ours = guests ? guestLauncher("tsxenstored") : oursLauncher();
  let compared = 0;
  let found = 0;
  const intended = new Map<string, number>();
  const merge = (m: Map<string, number>): void => {
    for (const [k, v] of m) intended.set(k, (intended.get(k) ?? 0) + v);
  };
  if (values.scenarios) {
    const scenarios = guests ? GUEST_SCENARIOS.map((s) => ({ ...s, conns: GUEST_CONNS })) : SCENARIOS;
    for (const s of scenarios) {
      const r = await differential(s.steps, ref, ours, { conns: s.conns, finalState: true });
      compared += r.compared;
      merge(r.intended);
      for (const d of r.divergences) {
        found++;
        console.log(`scenario "${s.name}":\n${report(d)}`);
      }
    }
  }
  const seed0 = Number(values.seed);
  const total = Number(values.ops);
  const chunk = Number(values.chunk);
  const conns = guests ? GUEST_CONNS : Number(values.conns);
  // Long runs go in chunks of fresh daemons (one generated stream per chunk seed).
  for (let done = 0, k = 0; done < total; k++) {
    const n = Math.min(chunk, total - done);
    const seed = seed0 + k;
    const steps = guests ? generateGuests(seed, n) : generate(seed, n, { conns });
    const r = await differential(steps, ref, ours, { conns, stopAtFirst: true, finalState: true });
    compared += r.compared;
    merge(r.intended);
    done += n;
    process.stderr.write(`seed ${seed}: ${r.compared} ops compared, ${r.divergences.length} divergence(s)\n`);
    for (const d of r.divergences) {
      found++;
      console.log(`seed ${seed} (${n} ops):\n${report(d)}`);
      if (!values["no-shrink"]) {
        const prefix = steps.slice(0, d.index + 1);
        const small = await shrink(prefix, async (cand) => {
          const rr = await differential(cand, ref, ours, { conns, stopAtFirst: true, finalState: true });
          return rr.divergences.length > 0;
        });
        const again = await differential(small, ref, ours, { conns, stopAtFirst: true, finalState: true });
        console.log(`  minimal reproduction (${small.length} steps):\n${describeSteps(small)}`);
        for (const dd of again.divergences) console.log(report(dd));
      }
    }
  }
  console.log(`conformance against ${peer}: ${compared} ops compared, ${found} divergence(s)`);
  for (const [k, v] of intended) console.log(`  intended difference (docs/compat.md): ${k}: ${v}`);
  return found ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
