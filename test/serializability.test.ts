/**
 * Randomized proof that transactions are serializable in commit order:
 * many connections interleave transactional and plain requests one request
 * at a time (seeded scheduler); whenever a transaction commits, its whole
 * script is re-run against a sequential model at the commit point and every
 * answer it got inside the transaction must be what the model answers.
 * Conflicts restart the script (EAGAIN retry, as clients do).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { harness, type Probe } from "./helpers/inproc.js";
import { rng } from "./helpers/random.js";

type Step =
  | { op: "read"; key: string }
  | { op: "write"; key: string }
  | { op: "rm"; key: string }
  | { op: "mkdir"; key: string }
  | { op: "dir"; key: string }
  | { op: "inc" }
  | { op: "transfer"; from: number; to: number; amount: number };

/** A reference tree: values and insertion-ordered children, nothing shared with src/. */
class TreeNode {
  value = "";
  readonly children = new Map<string, TreeNode>();
}

/** The sequential model: a tree under /s, a counter, accounts. */
class Model {
  readonly s = new TreeNode();
  counter = 0;
  readonly accounts: number[];
  constructor(n: number, initial: number) {
    this.accounts = Array.from({ length: n }, () => initial);
  }

  find(rel: string): TreeNode | undefined {
    let n: TreeNode | undefined = this.s;
    for (const part of rel ? rel.split("/") : []) n = n?.children.get(part);
    return n;
  }

  /** Create missing nodes along `rel` (xenstore WRITE/MKDIR). */
  ensure(rel: string): TreeNode {
    let n = this.s;
    for (const part of rel.split("/")) {
      let next = n.children.get(part);
      if (!next) {
        next = new TreeNode();
        n.children.set(part, next);
      }
      n = next;
    }
    return n;
  }
}

/** Run a step's requests through `io`, recording every answer in `answers`. */
interface Io {
  read(path: string): string;
  write(path: string, v: string): string;
  rm(path: string): string;
  mkdir(path: string): string;
  dir(path: string): string;
}

function digest(answers: string[]): string {
  let h = 2166136261;
  for (const a of answers) for (let i = 0; i < a.length; i++) h = Math.imul(h ^ a.charCodeAt(i), 16777619);
  return (h >>> 0).toString(36);
}

function runStep(io: Io, step: Step, answers: string[]): void {
  switch (step.op) {
    case "read":
      answers.push(io.read(`/s/${step.key}`));
      break;
    case "write":
      // The value depends on everything read so far: a stale read shows up as a different write.
      answers.push(io.write(`/s/${step.key}`, digest(answers)));
      break;
    case "rm":
      answers.push(io.rm(`/s/${step.key}`));
      break;
    case "mkdir":
      answers.push(io.mkdir(`/s/${step.key}`));
      break;
    case "dir":
      answers.push(io.dir(step.key ? `/s/${step.key}` : "/s"));
      break;
    case "inc": {
      const r = io.read("/c");
      answers.push(r);
      answers.push(io.write("/c", String(Number(r.replace(/^READ /, "")) + 1)));
      break;
    }
    case "transfer": {
      const a = io.read(`/acct/${step.from}`);
      const b = io.read(`/acct/${step.to}`);
      answers.push(a, b);
      const va = Number(a.replace(/^READ /, ""));
      const vb = Number(b.replace(/^READ /, ""));
      answers.push(io.write(`/acct/${step.from}`, String(va - step.amount)));
      answers.push(io.write(`/acct/${step.to}`, String(vb + step.amount)));
      break;
    }
  }
}

/** The model answering like the daemon does (same reply text). */
function modelIo(m: Model): Io {
  const rel = (p: string): string => (p === "/s" ? "" : p.slice(3));
  const parentRel = (r: string): string => (r.includes("/") ? r.slice(0, r.lastIndexOf("/")) : "");
  return {
    read(p) {
      if (p === "/c") return `READ ${m.counter}`;
      if (p.startsWith("/acct/")) return `READ ${m.accounts[Number(p.slice(6))]}`;
      const n = m.find(rel(p));
      return n ? `READ ${n.value}` : "ERROR ENOENT\0";
    },
    write(p, v) {
      if (p === "/c") m.counter = Number(v);
      else if (p.startsWith("/acct/")) m.accounts[Number(p.slice(6))] = Number(v);
      else m.ensure(rel(p)).value = v;
      return "WRITE OK\0";
    },
    rm(p) {
      const r = rel(p);
      const parent = m.find(parentRel(r));
      if (!parent) return "ERROR ENOENT\0";
      parent.children.delete(r.slice(r.lastIndexOf("/") + 1));
      return "RM OK\0";
    },
    mkdir(p) {
      m.ensure(rel(p));
      return "MKDIR OK\0";
    },
    dir(p) {
      const n = m.find(rel(p));
      if (!n) return "ERROR ENOENT\0";
      return `DIRECTORY ${[...n.children.keys()].map((k) => `${k}\0`).join("")}`;
    },
  };
}

function daemonIo(c: Probe, tx: number): Io {
  return {
    read: (p) => c.read(p, tx),
    write: (p, v) => c.write(p, v, tx),
    rm: (p) => c.rm(p, tx),
    mkdir: (p) => c.mkdir(p, tx),
    dir: (p) => c.dir(p, tx),
  };
}

interface Client {
  probe: Probe;
  /** Current job: a transaction script being executed one request at a time. */
  script: Step[];
  pos: number;
  tx: number;
  answers: string[];
  transactional: boolean;
  retries: number;
}

interface Outcome {
  commits: number;
  conflicts: number;
  plain: number;
  increments: number;
}

/**
 * `guests`: the clients are guest domains 1-8, which every ACL lets read
 * and write, so their answers are the model's; their transactions rely on
 * permission checks (not whole ACLs), and dom0 keeps rewriting ACLs in ways
 * that leave every guest's access as it was.
 */
function simulate(seed: number, steps: number, mix: "general" | "bank", who: "dom0" | "guests" = "dom0"): Outcome {
  const rand = rng(seed);
  const h = harness();
  const setup = h.socket();
  const ACCOUNTS = 6;
  const INITIAL = 1000;
  const model = new Model(ACCOUNTS, INITIAL);
  setup.write("/c", "0");
  setup.mkdir("/s");
  for (let i = 0; i < ACCOUNTS; i++) setup.write(`/acct/${i}`, String(INITIAL));
  const GUESTS = [1, 2, 3, 4, 5, 6, 7, 8];
  const acl = (owner: number, extra: string[] = []): string[] => [`n${owner}`, ...GUESTS.map((g) => `b${g}`), ...extra];
  if (who === "guests") {
    for (const p of ["/c", "/s", "/acct", ...Array.from({ length: ACCOUNTS }, (_, i) => `/acct/${i}`)]) setup.setPerms(p, acl(0));
  }
  // Nested keys, so creations, removals and listings interact across levels.
  const KEYS = ["a", "b", "c", "a/x", "a/y", "b/x", "a/x/deep", "a/x/deep/er", "c/z/w"];
  const DIRS = ["", "a", "b", "a/x", "c", "c/z"];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

  const newScript = (): Step[] => {
    const n = 1 + Math.floor(rand() * 5);
    const out: Step[] = [];
    for (let i = 0; i < n; i++) {
      if (mix === "bank") {
        if (rand() < 0.5) out.push({ op: "inc" });
        else {
          const from = Math.floor(rand() * ACCOUNTS);
          out.push({ op: "transfer", from, to: (from + 1 + Math.floor(rand() * (ACCOUNTS - 1))) % ACCOUNTS, amount: 1 + Math.floor(rand() * 50) });
        }
        continue;
      }
      const r = rand();
      if (r < 0.35) out.push({ op: "read", key: pick(KEYS) });
      else if (r < 0.6) out.push({ op: "write", key: pick(KEYS) });
      else if (r < 0.7) out.push({ op: "rm", key: pick(KEYS) });
      else if (r < 0.78) out.push({ op: "mkdir", key: pick(KEYS) });
      else if (r < 0.9) out.push({ op: "dir", key: pick(DIRS) });
      else out.push({ op: "inc" });
    }
    return out;
  };

  const clients: Client[] = GUESTS.map((g) => ({
    probe: who === "guests" ? h.domain(g) : h.socket(),
    script: [],
    pos: 0,
    tx: 0,
    answers: [],
    transactional: false,
    retries: 0,
  }));
  const outcome: Outcome = { commits: 0, conflicts: 0, plain: 0, increments: 0 };
  const countIncs = (s: Step[]): number => s.filter((x) => x.op === "inc").length;

  const ALL_KEYS = ["", ...KEYS];
  for (let tick = 0; tick < steps; tick++) {
    if (who === "guests" && rand() < 0.05) {
      // An ACL change that no guest's access notices: another owner, an extra entry.
      const key = pick(ALL_KEYS);
      setup.setPerms(key ? `/s/${key}` : "/s", acl(pick([0, ...GUESTS]), rand() < 0.5 ? ["r99"] : []));
      continue;
    }
    const c = pick(clients);
    if (c.script.length === 0) {
      c.script = newScript();
      c.pos = 0;
      c.answers = [];
      c.transactional = mix === "bank" || rand() < 0.8;
      if (c.transactional) c.tx = c.probe.start();
      else c.tx = 0;
      continue;
    }
    if (c.pos < c.script.length) {
      const step = c.script[c.pos++]!;
      if (!c.transactional) {
        // A plain request sequence: each request is its own atomic step,
        // checked against the model right away.
        const expected: string[] = [];
        const got: string[] = [];
        // Compound steps (inc/transfer) are not atomic outside transactions,
        // so plain clients only use single-request steps.
        if (step.op === "inc" || step.op === "transfer") continue;
        runStep(modelIo(model), step, expected);
        runStep(daemonIo(c.probe, 0), step, got);
        // Plain writes compute their value from this client's own answers only.
        assert.deepEqual(got.map(normalize), expected.map(normalize), `seed ${seed} tick ${tick}: plain ${step.op}`);
        outcome.plain++;
        continue;
      }
      runStep(daemonIo(c.probe, c.tx), c.script[c.pos - 1]!, c.answers);
      continue;
    }
    // Script done.
    if (!c.transactional) {
      c.script = [];
      continue;
    }
    const end = c.probe.end(c.tx);
    if (end === "ERROR EAGAIN\0") {
      outcome.conflicts++;
      c.retries++;
      // Retry the same script from the start.
      c.pos = 0;
      c.answers = [];
      c.tx = c.probe.start();
      continue;
    }
    assert.equal(end, "TRANSACTION_END OK\0", `seed ${seed} tick ${tick}`);
    // Serial re-execution at the commit point must give the same answers.
    const expected: string[] = [];
    for (const step of c.script) runStep(modelIo(model), step, expected);
    assert.deepEqual(c.answers, expected, `seed ${seed} tick ${tick}: committed transaction is not serializable at its commit point: ${JSON.stringify(c.script)}`);
    outcome.commits++;
    outcome.increments += countIncs(c.script);
    c.script = [];
  }
  // Final state equals the model.
  const final = h.socket();
  assert.equal(final.read("/c"), `READ ${model.counter}`);
  const walk = (rel: string, n: TreeNode): void => {
    const p = rel ? `/s/${rel}` : "/s";
    assert.equal(final.read(p), `READ ${n.value}`);
    assert.equal(final.dir(p), modelIo(model).dir(p));
    for (const [k, c] of n.children) walk(rel ? `${rel}/${k}` : k, c);
  };
  walk("", model.s);
  for (let i = 0; i < ACCOUNTS; i++) assert.equal(final.read(`/acct/${i}`), `READ ${model.accounts[i]}`);
  assert.equal(model.counter, outcome.increments, "every committed increment counted exactly once");
  assert.equal(
    model.accounts.reduce((a, b) => a + b, 0),
    ACCOUNTS * INITIAL,
    "transfers conserve the total",
  );
  return outcome;
}

/** Plain writes derive their value from the client's own answers; keep the comparison exact. */
function normalize(s: string): string {
  return s;
}

const SEEDS = Number(process.env.SERIALIZABILITY_SEEDS ?? 20);

test(`transactions are serializable in commit order (randomized, ${SEEDS} seeds x 3000 requests)`, () => {
  let commits = 0;
  let conflicts = 0;
  for (let seed = Number(process.env.SERIALIZABILITY_FIRST_SEED ?? 1); seed <= SEEDS; seed++) {
    const o = simulate(seed * 7919, 3000, "general");
    commits += o.commits;
    conflicts += o.conflicts;
  }
  assert.ok(commits > 500, `enough commits to mean something (${commits})`);
  assert.ok(conflicts > 10, `and real conflicts (${conflicts})`);
});

test(`guests' transactions are serializable too, with dom0 rewriting ACLs around them (${SEEDS} seeds x 3000 requests)`, () => {
  let commits = 0;
  let conflicts = 0;
  for (let seed = Number(process.env.SERIALIZABILITY_FIRST_SEED ?? 1); seed <= SEEDS; seed++) {
    const general = simulate(seed * 6113, 3000, "general", "guests");
    const bank = simulate(seed * 7727, 2000, "bank", "guests");
    commits += general.commits + bank.commits;
    conflicts += general.conflicts + bank.conflicts;
  }
  assert.ok(commits > 500, `enough commits to mean something (${commits})`);
  assert.ok(conflicts > 10, `and real conflicts (${conflicts})`);
});

test("bank workload: concurrent increments and transfers with EAGAIN retries stay exact", () => {
  for (let seed = 1; seed <= 10; seed++) {
    const o = simulate(seed * 104729, 4000, "bank");
    assert.ok(o.commits > 50);
  }
});
