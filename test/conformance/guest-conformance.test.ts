/**
 * Differential conformance as guests: tsxenstored --emulate and cxenstored
 * (under tsxs-emu run) serve the same emulated host, two of the four
 * connections being guests talking through their rings. Every directed
 * guest scenario, and seeded random streams, must show no divergence
 * beyond those docs/compat.md documents. Skipped, with the reason, where
 * rings or the peers are unavailable.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { emulationUnavailable } from "../helpers/emulated.js";
import { describeSteps, differential, type Divergence } from "./compare.js";
import { GUEST_CONNS, GUEST_SCENARIOS, generateGuests, guestLauncher } from "./guests.js";

const why = emulationUnavailable("cxenstored");
const SEEDS = Number(process.env.GUEST_CONFORMANCE_SEEDS ?? 3);
const OPS = Number(process.env.GUEST_CONFORMANCE_OPS ?? 400);

function explain(ds: Divergence[]): string {
  return ds
    .map((d) => `step ${d.index} (${d.what}): ${describeSteps([d.step])}\n  cx:   ${d.reference.reply} ${JSON.stringify(d.reference.events)}\n  ours: ${d.ours.reply} ${JSON.stringify(d.ours.events)}`)
    .join("\n");
}

test("directed guest scenarios answer exactly like cx", { skip: why ?? false }, async (t) => {
  for (const s of GUEST_SCENARIOS) {
    await t.test(s.name, async () => {
      const r = await differential(s.steps, guestLauncher("cxenstored"), guestLauncher("tsxenstored"), { conns: GUEST_CONNS, finalState: true });
      assert.equal(r.compared, s.steps.length);
      assert.deepEqual(r.divergences, [], explain(r.divergences));
    });
  }
});

test(`random guest op sequences answer exactly like cx (${SEEDS} seeds x ${OPS} ops)`, { skip: why ?? false }, async () => {
  let compared = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const steps = generateGuests(seed, OPS);
    const r = await differential(steps, guestLauncher("cxenstored"), guestLauncher("tsxenstored"), { conns: GUEST_CONNS, stopAtFirst: true, finalState: true });
    compared += r.compared;
    assert.deepEqual(r.divergences, [], `seed ${seed}: ${explain(r.divergences)} (reproduce: npm run conformance -- --guests --seed ${seed} --ops ${OPS} --chunk ${OPS})`);
  }
  assert.equal(compared, SEEDS * OPS);
});
