/**
 * Guests through their rings, for `npm run bench` workloads 8 and 9. One
 * process plays the toolstack, the backend drivers and every guest of an
 * emulated Xen host (src/emu); each guest drives its own ring as a Linux
 * guest's xenbus does. Prints one JSON line.
 *
 *   node dist/bench/guests.js storm DIR N PARALLEL
 *       a boot storm of N guests (domids 1..N), PARALLEL being built by the
 *       toolstack at once, then their teardown
 *   node dist/bench/guests.js hostile DIR WELL OPS
 *       WELL well-behaved guests and a dom0 client timing OPS sequential
 *       requests each, without and then with one flooding guest
 *   node dist/bench/guests.js flood DIR DOMID
 *       (started by `hostile`) a guest keeping its ring full of requests
 *       until SIGTERM; then prints how many were answered
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { XenStoreClient, type Transaction } from "../src/client/client.js";
import { EmulatedGuest, type GuestClient } from "../src/emu/guest.js";
import { Op, type Packet } from "../src/protocol/messages.js";

const debug = process.env.TSXS_BENCH_DEBUG ? (msg: string): void => void process.stderr.write(`${msg}\n`) : (): void => {};

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function stats(ms: number[]): { p50Ms: number; p99Ms: number; maxMs: number; count: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { p50Ms: quantile(s, 0.5), p99Ms: quantile(s, 0.99), maxMs: s[s.length - 1] ?? NaN, count: s.length };
}

/** The daemon's VmRSS (its pid from the suite), or null. */
function daemonRssKiB(): number | null {
  const pid = process.env.TSXS_BENCH_DAEMON_PID;
  if (!pid) return null;
  const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return m ? Number(m[1]) : null;
}

const text = (p: Packet): string => p.payload.toString("latin1").replace(/\0$/, "");

/** A request from a guest that must succeed. */
async function ok(c: GuestClient, type: Op, args: readonly string[] | Buffer, tx = 0): Promise<string> {
  const p = await c.request(type, args, tx);
  if (p.type === Op.ERROR) throw new Error(`${Op[type]} ${Buffer.isBuffer(args) ? args.toString("latin1") : args.join(" ")}: ${text(p)}`);
  return text(p);
}

const kv = (path: string, value: string): Buffer => Buffer.from(`${path}\0${value}`, "latin1");

/** Counts transactions redone after EAGAIN (a redo starts over at once, as libxl does). */
class Retries {
  eagain = 0;
  transactions = 0;

  async dom0<T>(c: XenStoreClient, body: (tx: Transaction) => Promise<T>): Promise<T> {
    for (;;) {
      this.transactions++;
      const tx = await c.startTransaction();
      const r = await body(tx);
      if (await tx.end(true)) return r;
      this.eagain++;
    }
  }

  async guest(c: GuestClient, body: (tx: number) => Promise<void>): Promise<void> {
    for (;;) {
      this.transactions++;
      const tx = Number.parseInt(await ok(c, Op.TRANSACTION_START, [""]), 10);
      await body(tx);
      const end = await c.request(Op.TRANSACTION_END, ["T"], tx);
      if (end.type !== Op.ERROR) return;
      if (text(end) !== "EAGAIN") throw new Error(`TRANSACTION_END: ${text(end)}`);
      this.eagain++;
    }
  }
}

const DEVICES = [
  { kind: "vif", id: "0", front: { handle: "0", mac: "00:16:3e:00:00:01" }, back: { script: "/etc/xen/scripts/vif-bridge", bridge: "xenbr0", mac: "00:16:3e:00:00:01", handle: "0", type: "vif" } },
  { kind: "vbd", id: "51712", front: { "virtual-device": "51712", "device-type": "disk" }, back: { params: "/dev/vg/disk", type: "phy", mode: "w", "device-type": "disk", "discard-enable": "1" } },
] as const;

/** The toolstack's part of a domain, before INTRODUCE (a small libxl domain create with a vif and a vbd). */
async function createDomain(c: XenStoreClient, r: Retries, domid: number): Promise<void> {
  const home = `/local/domain/${domid}`;
  await r.dom0(c, async (tx) => {
    await tx.mkdir(home);
    await tx.setPerms(home, ["n0", `r${domid}`]);
    for (const k of ["cpu", "memory", "device", "control"]) {
      await tx.mkdir(`${home}/${k}`);
      await tx.setPerms(`${home}/${k}`, ["n0", `r${domid}`]);
    }
    for (const k of ["data", "drivers", "feature", "attr", "error", "control/shutdown", "control/sysrq", "control/feature-poweroff", "control/feature-reboot", "control/feature-suspend"]) {
      await tx.write(`${home}/${k}`, "");
      await tx.setPerms(`${home}/${k}`, [`n${domid}`]);
    }
    await tx.write(`${home}/domid`, String(domid));
    await tx.write(`${home}/name`, `guest${domid}`);
    await tx.write(`${home}/memory/target`, "524288");
    await tx.write(`${home}/memory/static-max`, "524288");
    await tx.write(`${home}/cpu/0/availability`, "online");
    await tx.write(`${home}/vm`, `/vm/${domid}`);
    await tx.write(`/vm/${domid}/name`, `guest${domid}`);
  });
  for (const d of DEVICES) {
    const front = `${home}/device/${d.kind}/${d.id}`;
    const back = `/local/domain/0/backend/${d.kind}/${domid}/${d.id}`;
    await r.dom0(c, async (tx) => {
      await tx.write(front, "");
      await tx.setPerms(front, [`n${domid}`, "r0"]);
      for (const [k, v] of Object.entries({ ...d.front, backend: back, "backend-id": "0", state: "1" })) await tx.write(`${front}/${k}`, v);
      await tx.write(back, "");
      await tx.setPerms(back, ["n0", `r${domid}`]);
      for (const [k, v] of Object.entries({ ...d.back, frontend: front, "frontend-id": String(domid), online: "1", state: "1" })) await tx.write(`${back}/${k}`, v);
    });
  }
}

/** dom0's backend drivers: each device goes to InitWait, then Connected once its frontend is Initialised. */
async function runBackends(c: XenStoreClient, domid: number): Promise<void> {
  await Promise.all(
    DEVICES.map(async (d) => {
      const front = `/local/domain/${domid}/device/${d.kind}/${d.id}`;
      const back = `/local/domain/0/backend/${d.kind}/${domid}/${d.id}`;
      await c.write(`${back}/state`, "2");
      const w = await c.watch(`${front}/state`, { token: `be-${domid}-${d.kind}` });
      for (;;) {
        await w.next();
        const state = await c.tryRead(`${front}/state`);
        if (state === "3") {
          for (const [k, v] of Object.entries(d.kind === "vbd" ? { sectors: "20971520", "sector-size": "512", info: "0", "feature-flush-cache": "1" } : { "feature-sg": "1", "feature-rx-copy": "1" })) await c.write(`${back}/${k}`, v);
          await c.write(`${back}/state`, "4");
        }
        if (state === "4" || state === null) break;
      }
      await w.close();
    }),
  );
}

/** What a Linux guest's kernel does at boot through its ring: shutdown and balloon watches, features, then each frontend's handshake. */
async function bootGuest(c: GuestClient, r: Retries): Promise<void> {
  // Watches fire once when set; frontends wait on their backend's state through them.
  const waiters = new Map<string, () => void>();
  c.onEvent = (_path, token) => waiters.get(token)?.();
  const next = (token: string): Promise<void> => new Promise((res) => waiters.set(token, res));
  for (const [path, token] of [
    ["control/shutdown", "shutdown"],
    ["control/sysrq", "sysrq"],
    ["memory/target", "balloon"],
  ])
    await ok(c, Op.WATCH, [path, token]);
  for (const f of ["feature-poweroff", "feature-reboot", "feature-suspend"]) await ok(c, Op.WRITE, kv(`control/${f}`, "1"));
  await ok(c, Op.READ, ["memory/target"]);
  const kinds = (await ok(c, Op.DIRECTORY, ["device"])).split("\0").filter(Boolean);
  const devices: string[] = [];
  for (const k of kinds) for (const id of (await ok(c, Op.DIRECTORY, [`device/${k}`])).split("\0").filter(Boolean)) devices.push(`device/${k}/${id}`);
  await Promise.all(
    devices.map(async (dev) => {
      const backend = await ok(c, Op.READ, [`${dev}/backend`]);
      await ok(c, Op.READ, [`${dev}/backend-id`]);
      await ok(c, Op.READ, [`${dev}/state`]);
      const token = `otherend:${dev}`;
      let event = next(token);
      await ok(c, Op.WATCH, [`${backend}/state`, token]);
      const backendState = async (): Promise<string> => {
        await event;
        event = next(token);
        const p = await c.request(Op.READ, [`${backend}/state`]);
        return p.type === Op.ERROR ? "" : text(p);
      };
      while ((await backendState()) !== "2");
      await r.guest(c, async (tx) => {
        const keys = dev.includes("/vif/") ? { "tx-ring-ref": "8", "rx-ring-ref": "9", "event-channel": "10", "request-rx-copy": "1", "feature-sg": "1" } : { "ring-ref": "8", "event-channel": "11", protocol: "x86_64-abi", "feature-persistent": "1" };
        for (const [k, v] of Object.entries(keys)) await ok(c, Op.WRITE, kv(`${dev}/${k}`, v), tx);
      });
      await ok(c, Op.WRITE, kv(`${dev}/state`, "3"));
      while ((await backendState()) !== "4");
      await ok(c, Op.READ, [`${backend}/${dev.includes("/vbd/") ? "sectors" : "feature-rx-copy"}`]);
      await ok(c, Op.WRITE, kv(`${dev}/state`, "4"));
      await ok(c, Op.UNWATCH, [`${backend}/state`, token]);
    }),
  );
  c.onEvent = null;
}

async function teardownDomain(c: XenStoreClient, r: Retries, domid: number): Promise<void> {
  await r.dom0(c, async (tx) => {
    for (const d of DEVICES) await tx.rm(`/local/domain/0/backend/${d.kind}/${domid}`);
    await tx.rm(`/local/domain/${domid}`);
    await tx.rm(`/vm/${domid}`);
  });
}

/** Run `work(i)` for i in 0..n-1, `parallel` at a time. */
async function pool(n: number, parallel: number, work: (i: number, slot: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, n) }, async (_, slot) => {
      while (next < n) await work(next++, slot);
    }),
  );
}

async function storm(dir: string, n: number, parallel: number): Promise<Record<string, unknown>> {
  const socket = join(dir, "socket");
  const toolstack: XenStoreClient[] = [];
  for (let i = 0; i < parallel; i++) toolstack.push(await XenStoreClient.connect(socket));
  const backend = await XenStoreClient.connect(socket);
  const r = new Retries();
  const guests: EmulatedGuest[] = [];
  const bootMs: number[] = [];
  const booting: Promise<void>[] = [];
  const t0 = now();
  await pool(n, parallel, async (i, slot) => {
    const domid = i + 1;
    const started = now();
    debug(`domain ${domid}: creating`);
    const c = toolstack[slot]!;
    let backends: Promise<void> = Promise.resolve();
    const g = await EmulatedGuest.start({
      dir,
      domid,
      dom0: c,
      home: false,
      // The domain exists (its ACL entries are valid), not yet introduced: as libxl.
      beforeIntroduce: async () => {
        await createDomain(c, r, domid);
        backends = runBackends(backend, domid);
      },
    });
    guests.push(g);
    debug(`domain ${domid}: introduced`);
    // Unpaused: the guest boots while the toolstack builds the next one.
    booting.push(
      Promise.all([bootGuest(g.client(), r).then(() => debug(`domain ${domid}: frontends connected`)), backends.then(() => debug(`domain ${domid}: backends connected`))]).then(() => {
        bootMs.push(now() - started);
      }),
    );
  });
  if (process.env.TSXS_BENCH_DEBUG) {
    const t = setTimeout(() => {
      for (const g of guests) {
        const f = (k: number): number => g.page.get(k);
        debug(`domain ${g.domid}: req ${f(0)}/${f(1)} rsp ${f(2)}/${f(3)} waiting ${g.ring.waiting}`);
      }
    }, 8000);
    t.unref();
  }
  await Promise.all(booting);
  const bootS = (now() - t0) / 1000;
  const rssBootedKiB = daemonRssKiB();
  const bootTransactions = r.transactions;
  const bootEagain = r.eagain;
  r.transactions = 0;
  r.eagain = 0;
  const t1 = now();
  await pool(guests.length, parallel, async (i, slot) => {
    const g = guests[i]!;
    await teardownDomain(toolstack[slot]!, r, g.domid);
    await g.stop();
  });
  // Done when the daemon has seen every domain die (VIRQ_DOM_EXC) and released it.
  const left = new Set(guests.map((g) => g.domid));
  const deadline = now() + 120000;
  while (left.size && now() < deadline) {
    for (const d of [...left]) if (!(await toolstack[0]!.isDomainIntroduced(d))) left.delete(d);
    if (left.size) await new Promise((res) => setTimeout(res, 20));
  }
  const teardownS = (now() - t1) / 1000;
  for (const c of [...toolstack, backend]) c.close();
  return { guests: n, parallel, bootS, bootTransactions, bootEagain, boot: stats(bootMs), teardownS, teardownEagain: r.eagain, notReleased: left.size, rssBootedKiB };
}

/** OPS sequential requests (alternately a READ of the guest's name and a WRITE under its data), each timed. */
async function timedGuest(c: GuestClient, ops: number, out: number[]): Promise<void> {
  for (let i = 0; i < ops; i++) {
    const t = now();
    if (i % 2) await ok(c, Op.WRITE, kv(`data/k${i % 8}`, String(i)));
    else await ok(c, Op.READ, ["name"]);
    out.push(now() - t);
  }
}

async function timedDom0(c: XenStoreClient, ops: number, out: number[]): Promise<void> {
  for (let i = 0; i < ops; i++) {
    const t = now();
    if (i % 2) await c.write(`/local/domain/0/data/k${i % 8}`, String(i));
    else await c.read("/local/domain/0/name");
    out.push(now() - t);
  }
}

/** How long the well-behaved guests may take beside the flooding one before they count as starved. */
const FLOODED_PHASE_LIMIT_S = 120;

async function hostile(dir: string, well: number, ops: number): Promise<Record<string, unknown>> {
  const socket = join(dir, "socket");
  const dom0 = await XenStoreClient.connect(socket);
  await dom0.write("/local/domain/0/name", "Domain-0");
  const guests: EmulatedGuest[] = [];
  for (let i = 0; i < well; i++) guests.push(await EmulatedGuest.start({ dir, domid: 100 + i, dom0 }));
  const clients = guests.map((g) => g.client());
  const phase = async (): Promise<Record<string, unknown>> => {
    const g: number[] = [];
    const d: number[] = [];
    const t = now();
    await Promise.all([...clients.map((c) => timedGuest(c, ops, g)), timedDom0(dom0, ops, d)]);
    const seconds = (now() - t) / 1000;
    return { seconds, guests: stats(g), dom0: stats(d) };
  };
  await phase(); // warm-up (JIT, first writes)
  const quiet = await phase();
  const flooder = spawn(process.execPath, [fileURLToPath(import.meta.url), "flood", dir, "99"], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  flooder.stdout!.on("data", (b: Buffer) => (out += b.toString("latin1")));
  while (!out.includes("flooding")) {
    if (flooder.exitCode !== null) throw new Error(`the flooding guest exited: ${out}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  await new Promise((res) => setTimeout(res, 500)); // let the flood reach its steady state
  // A daemon that serves the flooding ring before everyone else may never
  // answer the others: that is a result (starvation), not a reason to hang.
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`starved: the ${well} well-behaved guests and dom0 did not finish ${ops} requests each within ${FLOODED_PHASE_LIMIT_S} s beside the flooding guest`)), FLOODED_PHASE_LIMIT_S * 1000);
  });
  let flooded: Record<string, unknown>;
  try {
    flooded = await Promise.race([phase(), limit]);
  } catch (e) {
    flooder.kill("SIGKILL");
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(3);
  } finally {
    clearTimeout(timer);
  }
  flooder.kill("SIGTERM");
  await once(flooder, "exit");
  const flood = JSON.parse(out.split("\n").find((l) => l.startsWith("{")) ?? "{}") as Record<string, unknown>;
  for (const g of guests) await g.stop();
  dom0.close();
  return { well, ops, quiet, flooded, flood };
}

/** Keep as many requests in the guest's ring as fit, forever: reads and writes of its own nodes. */
async function flood(dir: string, domid: number): Promise<void> {
  const g = await EmulatedGuest.start({ dir, domid });
  const c = g.client();
  let answered = 0;
  let stop = false;
  const t0 = now();
  process.on("SIGTERM", () => {
    stop = true;
  });
  process.stdout.write("flooding\n");
  await Promise.all(
    Array.from({ length: 256 }, async (_, k) => {
      for (let i = 0; !stop; i++) {
        if (i % 2) await c.request(Op.WRITE, kv(`data/f${k}`, String(i)));
        else await c.request(Op.READ, [`data/f${k}`]);
        answered++;
      }
    }),
  );
  const seconds = (now() - t0) / 1000;
  process.stdout.write(`${JSON.stringify({ answered, seconds, perS: answered / seconds })}\n`);
  await g.stop();
}

async function main(argv: string[]): Promise<void> {
  const [cmd, dir, a, b] = argv;
  if (cmd === "storm" && dir) process.stdout.write(`${JSON.stringify(await storm(dir, Number(a), Number(b ?? 8)))}\n`);
  else if (cmd === "hostile" && dir) process.stdout.write(`${JSON.stringify(await hostile(dir, Number(a), Number(b)))}\n`);
  else if (cmd === "flood" && dir) await flood(dir, Number(a));
  else throw new Error("usage: guests.js storm DIR N PARALLEL | hostile DIR WELL OPS | flood DIR DOMID");
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`guests: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
