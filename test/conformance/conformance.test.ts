/**
 * Differential conformance against the real C xenstored (../shared/peers):
 * every directed scenario and 20 seeds x 2,000 random ops must show no
 * divergence beyond those docs/compat.md documents. Skipped, with the
 * reason, where the peers are not installed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeSteps, differential, type Divergence } from "./compare.js";
import { generate } from "./generator.js";
import { oursLauncher, peerLauncher, peersUnavailable } from "./launch.js";
import { SCENARIOS } from "./scenarios.js";

const why = peersUnavailable("cxenstored");
const SEEDS = Number(process.env.CONFORMANCE_SEEDS ?? 20);
const OPS = Number(process.env.CONFORMANCE_OPS ?? 2000);

function explain(ds: Divergence[]): string {
  return ds
    .map((d) => `step ${d.index} (${d.what}): ${describeSteps([d.step])}\n  cx:   ${d.reference.reply} ${JSON.stringify(d.reference.events)}\n  ours: ${d.ours.reply} ${JSON.stringify(d.ours.events)}`)
    .join("\n");
}

test("directed scenarios answer exactly like cx", { skip: why ?? false }, async (t) => {
  for (const s of SCENARIOS) {
    await t.test(s.name, async () => {
      const r = await differential(s.steps, peerLauncher("cxenstored"), oursLauncher(), { conns: s.conns, finalState: true });
      assert.equal(r.compared, s.steps.length);
      assert.deepEqual(r.divergences, [], explain(r.divergences));
    });
  }
});

test(`random op sequences answer exactly like cx (${SEEDS} seeds x ${OPS} ops)`, { skip: why ?? false }, async () => {
  let compared = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const steps = generate(seed, OPS, { conns: 4 });
    const r = await differential(steps, peerLauncher("cxenstored"), oursLauncher(), { conns: 4, stopAtFirst: true, finalState: true });
    compared += r.compared;
    assert.deepEqual(r.divergences, [], `seed ${seed}: ${explain(r.divergences)} (reproduce: npm run conformance -- --seed ${seed} --ops ${OPS} --chunk ${OPS})`);
  }
  assert.equal(compared, SEEDS * OPS);
});
