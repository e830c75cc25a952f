/**
 * Idle polling of the event loop (native/idle-poll.c, src/system/idle-poll.ts),
 * in a server process of its own that a client in this process drives
 * over a Unix socket, one request at a time.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { idlePollStats, setIdlePoll } from "../src/system/idle-poll.js";
import { cleanUpAfterAll, tempDir } from "./helpers/proc.js";

cleanUpAfterAll();

const MODULE = new URL("../src/system/idle-poll.js", import.meta.url).href;

/** A server answering each byte with one byte ("s" with its statistics), polling `windowUs`; it prints its statistics when its client goes. */
const SERVER = `
import { createServer } from "node:net";
import { idlePollStats, setIdlePoll } from ${JSON.stringify(MODULE)};
if (!setIdlePoll(Number(process.argv[3]))) { console.log("no-addon"); process.exit(0); }
const server = createServer((s) => {
  s.on("data", (d) => s.write(d[0] === 0x73 ? JSON.stringify(idlePollStats()) : d));
  s.on("close", () => { console.log(JSON.stringify(idlePollStats())); server.close(); });
}).listen(process.argv[2], () => console.log("ready"));
`;

interface Stats {
  spins: number;
  hits: number;
  spunSeconds: number;
}

const addonBuilt = setIdlePoll(0);
const tasksetWorks = spawnSync("taskset", ["-c", "0", "true"]).status === 0;

/**
 * Run the server (under `prefix`, e.g. taskset), make `rounds` round trips
 * `gapMs` apart, return its statistics; `midway` runs (given the server's
 * pid and its statistics so far) after half the round trips.
 */
async function serve(windowUs: number, rounds: number, gapMs: number, prefix: string[] = [], midway?: (pid: number, s: Stats) => void): Promise<Stats> {
  const dir = tempDir("idle-poll");
  const script = join(dir, "server.mjs");
  writeFileSync(script, SERVER);
  const sock = join(dir, "socket");
  const cmd = [...prefix, process.execPath, script, sock, String(windowUs)];
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  while (!out.includes("ready")) await once(child.stdout!, "data");
  const c: Socket = connect(sock);
  await once(c, "connect");
  for (let i = 0; i < rounds; i++) {
    if (midway && i === rounds / 2) {
      c.write("s");
      const [d] = (await once(c, "data")) as [Buffer];
      midway(child.pid!, JSON.parse(d.toString()) as Stats);
    }
    c.write("x");
    await once(c, "data");
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  c.end();
  const [code] = (await once(child, "exit")) as [number];
  assert.equal(code, 0, "the server exits once its last client has gone (the poller does not hold the loop)");
  return JSON.parse(out.trim().split("\n").pop()!) as Stats;
}

test("a window out of range is refused; the statistics are numbers", { skip: !addonBuilt && "native addon not built" }, () => {
  for (const bad of [-1, 10_001, Number.NaN]) assert.throws(() => setIdlePoll(bad), RangeError, String(bad));
  const s = idlePollStats()!;
  assert.deepEqual(Object.keys(s), ["spins", "hits", "spunSeconds"]);
  for (const v of Object.values(s)) assert.equal(typeof v, "number");
});

test("during a burst of round trips the loop polls, and the polls meet the requests", { skip: (!addonBuilt && "native addon not built") || (availableParallelism() < 2 && "one CPU") }, async () => {
  const s = await serve(5000, 200, 0);
  // The first request comes after a wait of unknown length; from then on each wait is short
  // (a client held up beyond the window, on a busy machine, costs one fruitless poll each time).
  assert.ok(s.spins >= 150, `spins ${s.spins}`);
  assert.ok(s.hits >= s.spins * 0.9, `hits ${s.hits} of ${s.spins}`);
  assert.ok(s.spunSeconds > 0 && s.spunSeconds < 200 * 0.005, `spun ${s.spunSeconds} s`);
});

test("requests further apart than the window: at most one fruitless poll, no spinning between them", { skip: (!addonBuilt && "native addon not built") || (availableParallelism() < 2 && "one CPU") }, async () => {
  const s = await serve(1000, 20, 30);
  assert.ok(s.spins - s.hits <= 2, `${s.spins - s.hits} fruitless polls`);
  assert.ok(s.spunSeconds < 0.01, `spun ${s.spunSeconds} s`);
});

test("no polling with a window of 0, nor while the process may run on one CPU only", { skip: !addonBuilt && "native addon not built" }, async () => {
  assert.deepEqual(await serve(0, 50, 0), { spins: 0, hits: 0, spunSeconds: 0 });
  if (tasksetWorks) assert.deepEqual(await serve(5000, 50, 0, ["taskset", "-c", "0"]), { spins: 0, hits: 0, spunSeconds: 0 });
});

test("pinned to one CPU while running, it stops polling at once", { skip: (!addonBuilt && "native addon not built") || (availableParallelism() < 2 && "one CPU") || (!tasksetWorks && "no taskset") }, async () => {
  let before: Stats | null = null;
  const s = await serve(5000, 200, 0, [], (pid, so) => {
    before = so;
    assert.equal(spawnSync("taskset", ["-a", "-p", "-c", "0", String(pid)]).status, 0);
  });
  assert.ok(before!.spins >= 50, `spins before ${before!.spins}`);
  assert.ok(s.spins - before!.spins <= 1, `spins after pinning: ${s.spins - before!.spins}`);
});
