/**
 * Seeded random request streams over several connections: node ops on a
 * small set of overlapping paths, watches, transactions with interleaved
 * commits, domain ops and invalid input. A pure function of the seed, so a
 * divergence is reproducible from (seed, length) alone.
 */
import { Op } from "../../src/protocol/messages.js";
import type { Step } from "./engine.js";
import { rng } from "../helpers/random.js";

const PATHS = [
  "/a",
  "/a/b",
  "/a/b/c",
  "/a/d",
  "/a/b/c/e",
  "/x",
  "/x/y",
  "/x/y/z",
  "/tool",
  "/local/domain/1/data",
  "/local/domain/1/data/k",
  "/local/domain/2/device/vif/0/state",
  "rel",
  "rel/q",
  "rel/q/r",
];
const WATCH_PATHS = [...PATHS, "/", "/a/never/there", "@introduceDomain", "@releaseDomain", "/local/domain"];
const BAD_PATHS = ["/a/", "//a", "/a b", "/a.b", "", "/a//b", "@foo", "/a\x01", `/${"x".repeat(2100)}`];
const TOKENS = ["t1", "t2", "tok3"];
const DOMIDS = [1, 2, 3, 4];

function s(...parts: string[]): Buffer {
  return Buffer.from(parts.map((p) => `${p}\0`).join(""), "latin1");
}

export interface GeneratorOptions {
  conns: number;
}

export function generate(seed: number, count: number, opts: GeneratorOptions): Step[] {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chance = (p: number): boolean => rand() < p;
  const steps: Step[] = [];
  /** Open transactions per connection: index of the step that started each. */
  const open: number[][] = Array.from({ length: opts.conns }, () => []);

  const value = (): Buffer => {
    const r = rand();
    if (r < 0.1) return Buffer.alloc(0);
    if (r < 0.2) return Buffer.from([0, 1, 2, 255, 0, 65]);
    if (r < 0.25) return Buffer.alloc(500 + Math.floor(rand() * 3000), 0x61 + Math.floor(rand() * 26));
    return Buffer.from(`v${Math.floor(rand() * 1000)}`, "latin1");
  };
  const perms = (): string[] => {
    const letters = "nrwb";
    const owner = pick([0, 0, 1, 2, 5, 2000]);
    const out = [`${letters[Math.floor(rand() * 4)]}${owner}`];
    const extra = Math.floor(rand() * 3);
    for (let i = 0; i < extra; i++) out.push(`${letters[Math.floor(rand() * 4)]}${pick([0, 1, 3, 7, 1500])}`);
    if (chance(0.03)) out.push(pick(["x1", "r", "r1z", "b0x", "n0x10"]));
    return out;
  };

  while (steps.length < count) {
    const conn = Math.floor(rand() * opts.conns);
    const txs = open[conn]!;
    // Ops that take a transaction id run inside one of this connection's open transactions half of the time.
    const tx = txs.length && chance(0.5) ? { ref: pick(txs) } : undefined;
    const r = rand();
    let step: Step;
    if (r < 0.2) step = { conn, type: Op.WRITE, payload: Buffer.concat([Buffer.from(`${pick(PATHS)}\0`, "latin1"), value()]), tx };
    else if (r < 0.32) step = { conn, type: Op.READ, payload: s(pick(PATHS)), tx };
    else if (r < 0.37) step = { conn, type: Op.MKDIR, payload: s(pick(PATHS)), tx };
    else if (r < 0.44) step = { conn, type: Op.RM, payload: s(pick(PATHS)), tx };
    else if (r < 0.5) step = { conn, type: Op.DIRECTORY, payload: s(pick(PATHS)), tx };
    else if (r < 0.52) step = { conn, type: Op.DIRECTORY_PART, payload: s(pick(PATHS), pick(["0", "1", "3", "9999"])), tx };
    else if (r < 0.56) step = { conn, type: Op.GET_PERMS, payload: s(pick(PATHS)), tx };
    else if (r < 0.61) step = { conn, type: Op.SET_PERMS, payload: s(pick(PATHS), ...perms()), tx };
    else if (r < 0.67) step = { conn, type: Op.WATCH, payload: s(pick(WATCH_PATHS), pick(TOKENS)) };
    else if (r < 0.7) step = { conn, type: Op.UNWATCH, payload: s(pick(WATCH_PATHS), pick(TOKENS)) };
    else if (r < 0.76) {
      if (txs.length >= 3) continue;
      step = { conn, type: Op.TRANSACTION_START, payload: s("") };
      txs.push(steps.length);
    } else if (r < 0.84) {
      if (!txs.length) continue;
      const ref = pick(txs);
      txs.splice(txs.indexOf(ref), 1);
      step = { conn, type: Op.TRANSACTION_END, payload: s(chance(0.8) ? "T" : "F"), tx: { ref } };
    } else if (r < 0.85) {
      step = { conn, type: Op.RESET_WATCHES, payload: Buffer.alloc(0) };
      txs.length = 0;
    } else if (r < 0.88) {
      const d = pick(DOMIDS);
      step = { conn, type: Op.INTRODUCE, payload: s(String(d), String(Math.floor(rand() * 100)), String(pick([0, 1, 5, 7]))) };
    } else if (r < 0.9) step = { conn, type: Op.RELEASE, payload: s(String(pick([0, ...DOMIDS]))) };
    else if (r < 0.91) step = { conn, type: Op.IS_DOMAIN_INTRODUCED, payload: s(String(pick([0, ...DOMIDS, 99]))) };
    else if (r < 0.92) step = { conn, type: Op.RESUME, payload: s(String(pick(DOMIDS))) };
    // SET_TARGET is left to the directed scenarios: cx 4.17 never destroys a
    // domain that is some domain's target (docs/compat.md), so random
    // RELEASEs after it would only rediscover that.
    else if (r < 0.94) step = { conn, type: Op.GET_DOMAIN_PATH, payload: s(pick(["0", "5", "-1", "abc", "65536"])) };
    else {
      // Invalid input of kinds where cx 4.17 answers deterministically.
      const k = Math.floor(rand() * 7);
      if (k === 0) step = { conn, type: pick([Op.READ, Op.WRITE, Op.MKDIR, Op.RM, Op.DIRECTORY, Op.GET_PERMS]), payload: s(pick(BAD_PATHS)), tx };
      else if (k === 1) step = { conn, type: Op.WRITE, payload: Buffer.from("/a/no-nul", "latin1"), tx };
      else if (k === 2) step = { conn, type: Op.SET_PERMS, payload: s(pick(PATHS)), tx };
      else if (k === 3) step = { conn, type: Op.WATCH, payload: s(pick(PATHS)) };
      else if (k === 4) step = { conn, type: pick([20, 27, 99, 1000]), payload: s("x") };
      else if (k === 5) step = { conn, type: Op.READ, payload: s(pick(PATHS)), tx: 0x5eed };
      else step = { conn, type: Op.TRANSACTION_END, payload: s(pick(["X", "", "TT"])), tx: txs.length ? { ref: pick(txs) } : 0 };
    }
    steps.push(step);
  }
  return steps;
}
