/**
 * Conformance as guests: the same emulated Xen host (a directory, two guest
 * domains made by tsxs-guest) served by cxenstored under `tsxs-emu run`
 * and by tsxenstored --emulate, with connections 0 and 1 dom0's and 2 and 3
 * the guests' (domains 1 and 2, through their rings). Directed scenarios
 * and a seeded generator for what only guests exercise: unprivileged
 * permissions (owner, default letter, ACL order, SET_TARGET), quotas incl.
 * memory, XSA-115 watch-event filtering, RESET_WATCHES, @releaseDomain and
 * orphan removal when a guest is destroyed, and domid reuse. ACL entries
 * name domains 7 and 9, which do not exist; never DOMID_ANY (32757), which
 * Xen 4.22 made match every domain (an intended difference from 4.17,
 * docs/compat.md, tested in test/permissions.test.ts).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Op } from "../../src/protocol/messages.js";
import { rng } from "../helpers/random.js";
import { startEmulatedHost, startGuest, TSXS_EMU, type Guest, type HostDaemon } from "../helpers/emulated.js";
import { RawConn } from "./driver.js";
import type { Launcher, Step } from "./engine.js";

/** Connections: dom0's two, then one per guest. */
export const DOM0_CONNS = 2;
export const GUEST_DOMIDS = [1, 2] as const;
export const GUEST_CONNS = DOM0_CONNS + GUEST_DOMIDS.length;

const domidOf = (conn: number): number => GUEST_DOMIDS[conn - DOM0_CONNS]!;

async function introduced(socket: string, domid: number): Promise<boolean> {
  const c = await RawConn.open(socket);
  try {
    c.send(Op.IS_DOMAIN_INTRODUCED, 1, 0, Buffer.from(`${domid}\0`, "latin1"));
    const r = await c.until(1);
    return r.reply?.payload.toString("latin1") === "T\0";
  } finally {
    c.close();
  }
}

/** An emulated host served by `daemon`, with the two guests started. */
export function guestLauncher(daemon: HostDaemon): Launcher {
  return async () => {
    const host = await startEmulatedHost(daemon);
    const guests = new Map<number, Guest>();
    try {
      for (const d of GUEST_DOMIDS) guests.set(d, await startGuest(host, d));
    } catch (e) {
      for (const g of guests.values()) await g.stop();
      await host.stop();
      throw e;
    }
    return {
      name: daemon,
      socket: host.socket,
      // A guest destroyed and not restarted (only shrunk streams use one): its steps go to dom0's
      // socket, on both daemons alike.
      socketFor: (i) => (i < DOM0_CONNS ? host.socket : (guests.get(domidOf(i))?.socket ?? host.socket)),
      async act(i, action) {
        const domid = domidOf(i);
        // Either action first destroys a running guest (so shrunk streams, which
        // may restart a live guest, stay meaningful), done once the daemon has
        // released it (its VIRQ_DOM_EXC handled).
        const g = guests.get(domid);
        if (g) {
          // The toolstack's part first, from here: the guest would remove its
          // home as it stops, but on a loaded machine it may be killed before
          // it could, and the daemons would then remove only what the domain owned.
          const c = await RawConn.open(host.socket);
          c.send(Op.RM, 1, 0, Buffer.from(`/local/domain/${domid}\0`, "latin1"));
          await c.until(1);
          c.close();
          await g.stop();
          guests.delete(domid);
          // A guest too slow to stop was killed before it could destroy its domain: destroy it here.
          if (existsSync(join(host.dir, "domains", String(domid)))) spawnSync(TSXS_EMU, ["destroy", host.dir, String(domid)]);
          for (let t = 0; t < 500 && (await introduced(host.socket, domid)); t++) await new Promise((r) => setTimeout(r, 10));
        }
        if (action.kind === "restart") guests.set(domid, await startGuest(host, domid));
      },
      async stop() {
        for (const g of guests.values()) await g.stop();
        await host.stop();
      },
    };
  };
}

function s(...parts: string[]): Buffer {
  return Buffer.from(parts.map((p) => `${p}\0`).join(""), "latin1");
}

const W = (conn: number, path: string, value: string): Step => ({ conn, type: Op.WRITE, payload: Buffer.from(`${path}\0${value}`, "latin1") });
const R = (conn: number, path: string): Step => ({ conn, type: Op.READ, payload: s(path) });
const P = (conn: number, path: string, ...perms: string[]): Step => ({ conn, type: Op.SET_PERMS, payload: s(path, ...perms) });
const GP = (conn: number, path: string): Step => ({ conn, type: Op.GET_PERMS, payload: s(path) });
const MK = (conn: number, path: string): Step => ({ conn, type: Op.MKDIR, payload: s(path) });
const RM = (conn: number, path: string): Step => ({ conn, type: Op.RM, payload: s(path) });
const WATCH = (conn: number, path: string, token: string): Step => ({ conn, type: Op.WATCH, payload: s(path, token) });
/** A global quota, as cx 4.17 sets one (`xenstore-control quota set`; SET_QUOTA is Xen 4.22's). */
const Q = (name: string, value: number): Step => ({ conn: 0, type: Op.CONTROL, payload: s("quota", "set", name, String(value)) });
const DESTROY = (conn: number): Step => ({ conn, type: 0, payload: Buffer.alloc(0), action: { kind: "destroy" } });
const RESTART = (conn: number): Step => ({ conn, type: 0, payload: Buffer.alloc(0), action: { kind: "restart" } });

const G1 = DOM0_CONNS;
const G2 = DOM0_CONNS + 1;

export interface GuestScenario {
  readonly name: string;
  readonly steps: Step[];
}

export const GUEST_SCENARIOS: GuestScenario[] = [
  {
    name: "guests: the owner has every right, others the default letter, an entry for a domain overrides it, in ACL order",
    steps: [
      W(0, "/shared/n", "v"),
      P(0, "/shared/n", "r1", "w2"),
      R(G1, "/shared/n"),
      W(G1, "/shared/n", "by 1"),
      R(G2, "/shared/n"),
      W(G2, "/shared/n", "by 2"),
      P(0, "/shared/n", "n1", "r2", "w2"),
      R(G2, "/shared/n"),
      W(G2, "/shared/n", "by 2 again"),
      GP(G1, "/shared/n"),
      P(G1, "/shared/n", "n1", "b2"),
      P(G1, "/shared/n", "n2"),
      GP(G2, "/shared/n"),
      W(G1, "data/own", "x"),
      GP(G1, "data/own"),
      P(G1, "data/own", "r1", "b2", "n7"),
      R(G2, "/local/domain/1/data/own"),
      P(G1, "data/own", "n1", "r7"),
      R(G2, "/local/domain/1/data/own"),
    ],
  },
  {
    name: "guests: a guest creates under its home and owns what it creates; it may not hand a node to another owner",
    steps: [
      MK(G1, "data/a/b/c"),
      GP(G1, "data/a/b"),
      GP(0, "/local/domain/1/data/a/b/c"),
      P(G1, "data/a", "n2"),
      P(G1, "data/a", "n1", "r2"),
      MK(G2, "/local/domain/1/data/a/x"),
      W(G1, "/local/domain/2/data/from1", "no"),
      RM(G2, "/local/domain/1/data/a"),
      RM(G1, "data/a"),
    ],
  },
  {
    name: "guests: SET_TARGET gives a device model its target's rights",
    steps: [
      W(0, "/local/domain/2/data/secret", "s"),
      P(0, "/local/domain/2/data/secret", "n2"),
      R(G1, "/local/domain/2/data/secret"),
      { conn: 0, type: Op.SET_TARGET, payload: s("1", "2") },
      R(G1, "/local/domain/2/data/secret"),
      W(G1, "/local/domain/2/data/secret", "by the device model"),
      R(0, "/local/domain/2/data/secret"),
    ],
  },
  {
    name: "guests: watch events only for what the watcher may read (XSA-115)",
    steps: [
      W(0, "/local/domain/2/data/hidden", "1"),
      P(0, "/local/domain/2/data/hidden", "n2"),
      WATCH(G1, "/local/domain/2/data", "peek"),
      WATCH(G1, "/", "all"),
      W(0, "/local/domain/2/data/hidden", "2"),
      W(G2, "data/hidden", "3"),
      P(0, "/local/domain/2/data/hidden", "n2", "r1"),
      W(G2, "data/hidden", "4"),
      RM(0, "/local/domain/2/data/hidden"),
      WATCH(G2, "@releaseDomain", "rel"),
      WATCH(G2, "@introduceDomain", "intro"),
    ],
  },
  {
    name: "guests: RESET_WATCHES drops a guest's watches and transactions, not the others'",
    steps: [
      WATCH(G1, "data", "w1"),
      WATCH(G2, "data", "w2"),
      { conn: G1, type: Op.TRANSACTION_START, payload: s("") },
      { conn: G1, type: Op.RESET_WATCHES, payload: Buffer.alloc(0) },
      W(0, "/local/domain/1/data/z", "1"),
      W(0, "/local/domain/2/data/z", "1"),
      { conn: G1, type: Op.TRANSACTION_END, payload: s("T"), tx: { ref: 2 } },
    ],
  },
  {
    // cx checks the node quota with the transaction's own creations before it looks for
    // conflicts: over quota and in conflict is ENOSPC, not EAGAIN.
    name: "guests: a transaction both over the node quota and in conflict fails with ENOSPC",
    steps: [
      Q("nodes", 10),
      RESTART(G1),
      MK(G1, "data/q1"),
      { conn: G1, type: Op.TRANSACTION_START, payload: s("") },
      { conn: G1, type: Op.WRITE, payload: Buffer.from("data/p\0v78", "latin1"), tx: { ref: 3 } },
      W(0, "/local/domain/1/data/p", "v10"),
      { conn: G1, type: Op.TRANSACTION_END, payload: s("T"), tx: { ref: 3 } },
      R(G1, "data/p"),
    ],
  },
  {
    // A global quota change reaches domains created afterwards (Xen 4.22, docs/compat.md; in
    // 4.17 every domain at once), so the guests are made again after each.
    name: "guests: quotas: nodes, watches, transactions, node size, permissions per node, memory",
    steps: [
      Q("nodes", 10),
      RESTART(G1),
      MK(G1, "data/q1"),
      MK(G1, "data/q2"),
      MK(G1, "data/q3"),
      MK(G1, "data/q4"),
      Q("watches", 2),
      RESTART(G1),
      // At the limit, not beyond it: cx 4.17 allows one more (docs/compat.md).
      WATCH(G1, "data", "a"),
      WATCH(G1, "data", "b"),
      Q("transactions", 1),
      Q("node-size", 100),
      Q("permissions", 2),
      RESTART(G2),
      { conn: G2, type: Op.TRANSACTION_START, payload: s("") },
      W(G2, "data/big", "x".repeat(120)),
      W(G2, "data/small", "x".repeat(20)),
      P(G2, "data/small", "n2", "r1", "r0"),
      P(G2, "data/small", "n2", "r1"),
      Q("memory", 3000),
      RESTART(G2),
      W(G2, "data/m1", "y".repeat(600)),
      W(G2, "data/m2", "y".repeat(600)),
      W(G2, "data/m3", "y".repeat(600)),
      R(G2, "data/m1"),
      W(0, "/local/domain/2/data/by-dom0", "z".repeat(800)),
      R(G2, "data/m1"),
    ],
  },
  {
    name: "guests: a destroyed guest fires @releaseDomain, its nodes go, its ACL entries stop matching; the domid reused starts afresh",
    steps: [
      WATCH(0, "@releaseDomain", "rel"),
      WATCH(0, "/local/domain/1", "home"),
      W(G1, "data/mine", "1"),
      W(0, "/shared/for1", "v"),
      P(0, "/shared/for1", "n0", "r1"),
      WATCH(G1, "/shared", "s"),
      DESTROY(G1),
      R(0, "/local/domain/1/data/mine"),
      GP(0, "/shared/for1"),
      RESTART(G1),
      R(G1, "/shared/for1"),
      W(0, "/shared/for1", "changed"),
      R(G1, "name"),
    ],
  },
];

/** Random streams for guests: node ops across homes and shared paths, ACLs, watches, transactions, quotas, destroy and restart. */
export function generateGuests(seed: number, count: number): Step[] {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const steps: Step[] = [];
  const alive = new Map<number, boolean>(GUEST_DOMIDS.map((_, i) => [DOM0_CONNS + i, true]));
  const open: number[][] = Array.from({ length: GUEST_CONNS }, () => []);
  const paths = (conn: number): string[] => [
    "data/k",
    "data/a",
    "data/a/b",
    "/shared/x",
    "/shared/x/y",
    "/local/domain/1/data/p",
    "/local/domain/2/data/p",
    "/local/domain/1/control/shutdown",
    conn >= DOM0_CONNS ? "name" : "/local/domain/0/name",
  ];
  const perms = (): string[] => {
    const letter = (): string => pick(["n", "r", "w", "b"]);
    const out = [`${letter()}${pick([0, 1, 2, 2])}`];
    for (let i = Math.floor(rand() * 3); i > 0; i--) out.push(`${letter()}${pick([0, 1, 2, 7, 9])}`);
    return out;
  };
  const value = (): string => (rand() < 0.1 ? "v".repeat(200 + Math.floor(rand() * 1500)) : `v${Math.floor(rand() * 100)}`);
  while (steps.length < count) {
    const conn = Math.floor(rand() * GUEST_CONNS);
    const r = rand();
    if (conn >= DOM0_CONNS && !alive.get(conn)) {
      if (r < 0.3) {
        steps.push(RESTART(conn));
        alive.set(conn, true);
        open[conn] = [];
      }
      continue;
    }
    const txs = open[conn]!;
    const tx = txs.length && rand() < 0.5 ? { ref: pick(txs) } : undefined;
    const path = pick(paths(conn));
    let step: Step;
    if (r < 0.22) step = { ...W(conn, path, value()), tx };
    else if (r < 0.34) step = { ...R(conn, path), tx };
    else if (r < 0.4) step = { ...MK(conn, path), tx };
    else if (r < 0.46) step = { ...RM(conn, path), tx };
    else if (r < 0.52) step = { conn, type: Op.DIRECTORY, payload: s(pick(["/shared", "data", "/local/domain/1", "/local/domain/2/data"])), tx };
    else if (r < 0.58) step = { ...GP(conn, path), tx };
    else if (r < 0.66) step = { ...P(conn, path, ...perms()), tx };
    else if (r < 0.72) step = WATCH(conn, pick(["/", "data", "/shared", "/local/domain/2/data", "@releaseDomain"]), pick(["t1", "t2"]));
    else if (r < 0.74) step = { conn, type: Op.UNWATCH, payload: s(pick(["/", "data", "/shared"]), pick(["t1", "t2"])) };
    else if (r < 0.8) {
      if (txs.length >= 2) continue;
      step = { conn, type: Op.TRANSACTION_START, payload: s("") };
      txs.push(steps.length);
    } else if (r < 0.87) {
      if (!txs.length) continue;
      const ref = pick(txs);
      txs.splice(txs.indexOf(ref), 1);
      step = { conn, type: Op.TRANSACTION_END, payload: s(rand() < 0.8 ? "T" : "F"), tx: { ref } };
    } else if (r < 0.88) {
      step = { conn, type: Op.RESET_WATCHES, payload: Buffer.alloc(0) };
      txs.length = 0;
    } else if (r < 0.92) {
      // Then the guests are made again: a global change reaches new domains only (as Xen 4.22).
      // Not `watches`, `transactions` (cx 4.17 allows one more) or `memory` (cx also
      // refuses dom0's writes charged to a guest over it): documented differences.
      const name = pick(["nodes", "node-size", "permissions"] as const);
      const values = { nodes: [8, 10, 14, 40], "node-size": [16, 100, 400, 2048], permissions: [1, 2, 3, 5] }[name];
      steps.push(Q(name, pick(values)));
      for (const [c, live] of alive) {
        if (!live) continue;
        steps.push(RESTART(c));
        open[c] = [];
      }
      continue;
    } else if (r < 0.93 && conn >= DOM0_CONNS) {
      step = DESTROY(conn);
      alive.set(conn, false);
      open[conn] = [];
    } else continue;
    steps.push(step);
  }
  return steps.slice(0, count);
}
