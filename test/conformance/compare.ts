/**
 * Runs a step sequence against a reference daemon and tsxenstored,
 * compares each step, classifies the differences we intend (docs/compat.md)
 * and, for a transaction cx fails with a spurious EAGAIN that we commit,
 * re-runs that transaction on the reference so both stores agree again.
 */
import { Op } from "../../src/protocol/messages.js";
import { RawConn } from "./driver.js";
import { dumpTree, formatReply, Session, type Launcher, type Observation, type Step } from "./engine.js";

export interface Divergence {
  index: number;
  step: Step;
  reference: Observation;
  ours: Observation;
  what: string;
}

export interface RunResult {
  compared: number;
  divergences: Divergence[];
  /** Intended differences seen, by kind. */
  intended: Map<string, number>;
}

export interface RunOptions {
  conns: number;
  stopAtFirst?: boolean;
  /** Compare whole trees at the end. */
  finalState?: boolean;
  /** Called after each step (progress). */
  progress?: (done: number) => void;
}

function onearg(p: Buffer): boolean {
  return p.length > 0 && p.indexOf(0) === p.length - 1;
}

const ONEARG_OPS = new Set<number>([Op.READ, Op.DIRECTORY, Op.GET_PERMS, Op.MKDIR, Op.RM, Op.RELEASE, Op.RESUME, Op.GET_DOMAIN_PATH, Op.IS_DOMAIN_INTRODUCED]);

/**
 * Is this difference one docs/compat.md documents? Returns its name, or
 * null for a real divergence. Only the reference's reply is inspected;
 * events must always match.
 */
export function intendedDifference(step: Step, ref: Observation, ours: Observation): string | null {
  if (step.raw) return null;
  const payload = step.payload.toString("latin1");
  if (step.type >= Op.GET_FEATURE && step.type <= Op.SET_QUOTA && ref.reply === "ERROR ENOSYS|") return "xen-4.22 op (GET/SET_FEATURE/QUOTA)";
  if (ONEARG_OPS.has(step.type) && !onearg(step.payload) && ours.reply === "ERROR EINVAL|" && ref.reply.startsWith("ERROR ")) return "strict one-argument parsing (EINVAL)";
  if (step.type === Op.GET_PERMS && /^@(introduceDomain|releaseDomain)\0$/.test(payload) && ref.reply === "ERROR EINVAL|") return "GET_PERMS on special nodes (xen 4.22)";
  if (step.type === Op.WATCH && payload.split("\0").length === 4 && ref.reply === "ERROR EINVAL|") return "WATCH depth argument (xen 4.22)";
  return null;
}

/**
 * Do the events differ only by @releaseDomain events we sent to
 * connections cx sent none (a guest: since Xen 4.22 the node is readable
 * by every domain, 258263a4fb)?
 */
export function releaseForAll(ref: Observation, ours: Observation): boolean {
  const release = (e: string): boolean => e.startsWith("@releaseDomain|");
  const trimmed = ours.events.map((evs, k) => (ref.events[k]?.some(release) ? evs : evs.filter((e) => !release(e))));
  return JSON.stringify(trimmed) === JSON.stringify(ref.events) && JSON.stringify(ours.events) !== JSON.stringify(ref.events);
}

function same(a: Observation, b: Observation): boolean {
  return a.reply === b.reply && JSON.stringify(a.events) === JSON.stringify(b.events);
}

export function eventsOnly(o: Observation): string {
  return JSON.stringify(o.events);
}

/** Re-run a transaction's steps on the reference through a side connection until it commits. */
async function replayOnReference(ref: Session, ours: Session, steps: Step[], conn: number): Promise<string[][]> {
  // As the same client (a guest's transaction is replayed as that guest).
  const c = await RawConn.open(ref.daemon.socketFor?.(conn) ?? ref.daemon.socket);
  let id = 1;
  const ask = async (type: number, tx: number, payload: Buffer): Promise<string> => {
    const rid = id++;
    c.send(type, rid, tx, payload);
    const r = await c.until(rid);
    return r.reply ? formatReply(r.reply) : "CLOSED";
  };
  let attempts = 0;
  for (; attempts < 10; ) {
    attempts++;
    const start = await ask(Op.TRANSACTION_START, 0, Buffer.from("\0"));
    const tx = Number(/^TRANSACTION_START (\d+)/.exec(start)?.[1] ?? 0);
    for (const s of steps) await ask(s.type, tx, s.payload);
    if ((await ask(Op.TRANSACTION_END, tx, Buffer.from("T\0"))) === "TRANSACTION_END OK|") break;
  }
  c.close();
  // A guest's users share its connection, and with it the transaction ids:
  // use up as many on ours, so that both hand out the same ids from now on.
  const guestSocket = ours.daemon.socketFor?.(conn);
  if (guestSocket && guestSocket !== ours.daemon.socket) {
    const o = await RawConn.open(guestSocket);
    for (let k = 0; k < attempts; k++) {
      o.send(Op.TRANSACTION_START, 1, 0, Buffer.from("\0"));
      const tx = Number(/^(\d+)/.exec((await o.until(1)).reply?.payload.toString("latin1") ?? "")?.[1] ?? 0);
      o.send(Op.TRANSACTION_END, 2, tx, Buffer.from("F\0"));
      await o.until(2);
    }
    o.close();
  }
  const events: string[][] = ref.conns.map(() => []);
  await ref.collect(events);
  return events;
}

export async function differential(steps: readonly Step[], reference: Launcher, ours: Launcher, opts: RunOptions): Promise<RunResult> {
  const [dRef, dOurs] = await Promise.all([reference(), ours()]);
  const result: RunResult = { compared: 0, divergences: [], intended: new Map() };
  const note = (k: string): void => {
    result.intended.set(k, (result.intended.get(k) ?? 0) + 1);
  };
  let sRef: Session | null = null;
  let sOurs: Session | null = null;
  try {
    [sRef, sOurs] = await Promise.all([Session.open(dRef, opts.conns), Session.open(dOurs, opts.conns)]);
    /**
     * Steps that succeeded inside each transaction, by the index of the step
     * that started it. A failed step changed nothing in the transaction; re-run
     * later it might succeed (a domain named in an ACL exists again), so it is
     * not re-run.
     */
    const inTx = new Map<number, Step[]>();
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      const [a, b] = await Promise.all([sRef.run(step, i), sOurs.run(step, i)]);
      if (step.tx && typeof step.tx === "object" && step.type !== Op.TRANSACTION_END && !b.reply.startsWith("ERROR ")) {
        const list = inTx.get(step.tx.ref) ?? [];
        list.push(step);
        inTx.set(step.tx.ref, list);
      }
      result.compared++;
      opts.progress?.(i + 1);
      if (same(a, b)) continue;
      let what: string | null = null;
      // cx 4.17 fails a transaction that changed nodes of a domain that died meanwhile with ENOMEM
      // (its per-domain counts); tsxenstored commits it if nothing it observed changed, else EAGAIN.
      const acrossDeath =
        step.type === Op.TRANSACTION_END && a.reply === "ERROR ENOMEM|" && typeof step.tx === "object" && steps.slice(step.tx.ref, i).some((x) => x.action);
      if (acrossDeath && b.reply === "ERROR EAGAIN|" && eventsOnly(a) === eventsOnly(b)) {
        note("cx ENOMEM for a transaction across a guest's death, EAGAIN here");
        continue;
      }
      if (step.type === Op.TRANSACTION_END && (a.reply === "ERROR EAGAIN|" || acrossDeath) && b.reply === "TRANSACTION_END OK|" && step.tx && typeof step.tx === "object") {
        // cx's conflict check is coarser: commit the same transaction there now.
        const replayed = await replayOnReference(sRef, sOurs, inTx.get(step.tx.ref) ?? [], step.conn);
        // Re-run later, cx touches nodes in another order (e.g. it now has to
        // create a parent first), so only the set of events is comparable.
        const sorted = (ev: string[][]): string => JSON.stringify(ev.map((e) => [...e].sort()));
        const merged = a.events.map((e, k) => [...e, ...replayed[k]!]);
        if (sorted(merged) === sorted(b.events)) {
          note(acrossDeath ? "cx ENOMEM for a transaction across a guest's death, committed here" : "spurious EAGAIN in cx, committed by tsxenstored");
          continue;
        }
        what = "events of a transaction cx failed with a spurious EAGAIN";
      } else if (a.reply === b.reply && releaseForAll(a, b)) {
        note("@releaseDomain readable by every domain (xen 4.22)");
        continue;
      } else if (eventsOnly(a) === eventsOnly(b)) {
        const kind = intendedDifference(step, a, b);
        if (kind) {
          note(kind);
          continue;
        }
        what = "reply";
      } else {
        what = a.reply === b.reply ? "events" : "reply and events";
      }
      result.divergences.push({ index: i, step, reference: a, ours: b, what });
      if (opts.stopAtFirst) break;
    }
    if (opts.finalState && (result.divergences.length === 0 || !opts.stopAtFirst)) {
      const [ta, tb] = await Promise.all([dumpTree(dRef.socket), dumpTree(dOurs.socket)]);
      const ja = JSON.stringify(ta);
      if (ja !== JSON.stringify(tb)) {
        const k = ta.findIndex((l, j) => l !== tb[j]);
        result.divergences.push({
          index: steps.length,
          step: { conn: 0, type: -1, payload: Buffer.alloc(0), note: "final state" },
          reference: { reply: ta[k] ?? "<end>", events: [] },
          ours: { reply: tb[k] ?? "<end>", events: [] },
          what: "final tree",
        });
      }
    }
  } finally {
    sRef?.close();
    sOurs?.close();
    await Promise.all([dRef.stop(), dOurs.stop()]);
  }
  return result;
}

/** Delta-debugging: the smallest subsequence that still diverges (for a readable reproduction). */
export async function shrink(steps: Step[], diverges: (s: Step[]) => Promise<boolean>, budget = 200): Promise<Step[]> {
  let cur = steps;
  let n = 2;
  let runs = 0;
  while (cur.length >= 2 && runs < budget) {
    const chunk = Math.ceil(cur.length / n);
    let reduced = false;
    for (let start = 0; start < cur.length && runs < budget; start += chunk) {
      // Drop one chunk; transaction refs into it become unresolvable and fail alike on both.
      const candidate = cur.filter((_, i) => i < start || i >= start + chunk).map((s) => remapRefs(s, start, chunk));
      runs++;
      if (await diverges(candidate)) {
        cur = candidate;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= cur.length) break;
      n = Math.min(cur.length, n * 2);
    }
  }
  return cur;
}

function remapRefs(s: Step, start: number, len: number): Step {
  if (!s.tx || typeof s.tx !== "object") return s;
  const ref = s.tx.ref;
  if (ref >= start && ref < start + len) return { ...s, tx: 0x7eadbeef };
  return { ...s, tx: { ref: ref >= start + len ? ref - len : ref } };
}

/** Human-readable listing of steps, one per line. */
export function describeSteps(steps: readonly Step[]): string {
  return steps
    .map((s, i) => {
      const tx = s.tx === undefined ? "" : typeof s.tx === "number" ? ` tx=${s.tx}` : ` tx=@${s.tx.ref}`;
      const body = s.action ? `${s.action.kind} (the guest's domain)` : s.raw ? `raw ${formatPayloadShort(s.raw)}` : `${Op[s.type] ?? s.type} ${formatPayloadShort(s.payload)}`;
      return `${String(i).padStart(4)}: c${s.conn}${tx} ${body}`;
    })
    .join("\n");
}

function formatPayloadShort(p: Buffer): string {
  const s = p.toString("latin1").replace(/\0/g, "|");
  return s.length > 120 ? `${s.slice(0, 120)}…(${p.length} bytes)` : s;
}
