/**
 * Plumbing for the benchmark suite: the daemons under test (tsxenstored, the
 * upstream cxenstored/oxenstored through ../shared/peers, and the two echo
 * servers), /proc readings, the C load generator, and the machine's
 * description.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PEERS, ROOT, XEN_BIN, waitForSocket } from "../test/helpers/daemon.js";
import { cleanEnv } from "../test/helpers/proc.js";
import { shebangFlags } from "../src/system/units.js";
import type { ParRow } from "./types.js";

export { PEERS, ROOT, TEST_XENSTORE, XEN_BIN } from "../test/helpers/daemon.js";

export type DaemonName = "tsxenstored" | "cxenstored" | "oxenstored";
export type EchoName = "echo-c" | "echo-node";
export type TargetName = DaemonName | EchoName;
export const DAEMONS: DaemonName[] = ["tsxenstored", "cxenstored", "oxenstored"];
export const ECHOS: EchoName[] = ["echo-c", "echo-node"];

/** Clock ticks per second for /proc/<pid>/stat, from `getconf CLK_TCK`. */
export const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    if (n > 0) return n;
  } catch {
    // fall through
  }
  return 100;
})();

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // f[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/**
 * VmRSS and VmHWM of a process, in KiB, and the two parts of VmRSS:
 * RssAnon (private memory: heap, stacks) and RssFile (pages of the
 * executable and libraries, shared with other processes running them).
 */
export function memoryKiB(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "latin1");
  const get = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return { rss: get("VmRSS"), hwm: get("VmHWM"), anon: get("RssAnon"), file: get("RssFile") };
}

export interface Target {
  name: TargetName;
  socket: string;
  pid: number;
  stop(): Promise<void>;
  /** Best effort from a signal handler. */
  stopSync(): void;
}

/** Everything started, so that any exit path can stop it. */
const running = new Set<Target>();

export async function stopAll(): Promise<void> {
  for (const t of [...running]) await t.stop();
}

/** Clients still running (xsload, test-xenstore). */
const clients = new Set<ChildProcess>();

/** Stop every started process synchronously (for signal handlers). */
export function stopAllSync(): void {
  for (const c of clients) c.kill("SIGTERM");
  for (const t of [...running]) t.stopSync();
}

/** A daemon this suite spawned itself: its output, how long it took to answer, and a crash. */
export interface ChildTarget extends Target {
  /** The start of its stdout and stderr (up to 8,000 characters) and, if longer, their last 4,000. */
  output(): string;
  /** Milliseconds from spawn(2) until its socket accepted a connection. */
  startMs: number;
  /** SIGKILL, and wait for its exit. */
  crash(): Promise<void>;
}

function spawned(name: TargetName, socket: string, child: ChildProcess, output: () => string): ChildTarget {
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once("exit", () => r());
  });
  const t: ChildTarget = {
    name,
    socket,
    pid: child.pid!,
    startMs: NaN,
    output,
    async stop() {
      running.delete(t);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
        await exited;
        clearTimeout(timer);
      }
    },
    stopSync() {
      running.delete(t);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    },
    async crash() {
      running.delete(t);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
  running.add(t);
  return t;
}

/** Whether a server accepts a connection on the Unix socket at `path`. */
async function startChild(name: TargetName, socket: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20000): Promise<ChildTarget> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let head = "";
  let tail = "";
  let length = 0;
  const keep = (d: Buffer): void => {
    const s = d.toString("latin1");
    length += s.length;
    if (head.length < 8000) head += s.slice(0, 8000 - head.length);
    tail = (tail + s).slice(-4000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const output = (): string => (length <= head.length ? head : `${head}\n[...]\n${tail}`);
  const t = spawned(name, socket, child, output);
  try {
    await waitForSocket(socket, timeoutMs, () => child.exitCode === null && child.signalCode === null, 5);
    t.startMs = performance.now() - t0;
  } catch (e) {
    await t.stop();
    throw new Error(`${name}: ${(e as Error).message}\n${output().slice(-4000)}`);
  }
  return t;
}

/**
 * The command line (after `node`) of the tsxenstored benchmarked: this
 * checkout's, or another build's `bin/tsxenstored` named by TSXS_BENCH_BIN
 * (an A/B against an older commit: its worktree, built, run by this harness
 * with the same workloads), with the Node.js flags of its `#!` line, as a
 * host and the systemd unit run it.
 */
function tsxenstoredCommand(): string[] {
  const bin = process.env.TSXS_BENCH_BIN || join(ROOT, "bin/tsxenstored");
  return [...shebangFlags(bin), bin];
}

/**
 * tsxenstored in the foreground, socket DIR/socket (DIR is its
 * XENSTORED_RUNDIR, so its state directory is DIR/state by default), every
 * domid up to 20000 existing; `args` are added to its command line (e.g.
 * `--durability sync`). A restart on a large store may need a longer `timeoutMs`.
 */
export function startTsxenstored(dir: string, args: string[] = [], timeoutMs = 20000): Promise<ChildTarget> {
  return startChild(
    "tsxenstored",
    join(dir, "socket"),
    process.execPath,
    [...tsxenstoredCommand(), "-N", "--domains", "0-20000", ...args],
    cleanEnv({ XENSTORED_RUNDIR: dir }),
    timeoutMs,
  );
}

/**
 * A daemon serving an emulated Xen host in `dir` (socket DIR/socket): tsxenstored --emulate, or an
 * upstream daemon under `tsxs-emu run`; `pid` is the daemon's own (tsxs-emu's child).
 */
export async function startEmulatedHost(name: DaemonName, dir: string): Promise<Target> {
  const socket = join(dir, "socket");
  if (name === "tsxenstored") return startChild(name, socket, process.execPath, [...tsxenstoredCommand(), "--emulate", dir, "-N"], cleanEnv());
  const cmd = name === "cxenstored" ? [join(XEN_BIN, "xenstored"), "-N"] : [join(XEN_BIN, "oxenstored"), "--no-fork"];
  const t = await startChild(name, socket, process.execPath, [join(ROOT, "bin/tsxs-emu"), "run", dir, "--", ...cmd], cleanEnv());
  const children = readFileSync(`/proc/${t.pid}/task/${t.pid}/children`, "latin1").trim().split(/\s+/).map(Number);
  return { ...t, pid: children.find((c) => c > 0) ?? t.pid };
}

export function startEcho(name: EchoName, dir: string, echoBin: string): Promise<Target> {
  const socket = join(dir, "socket");
  if (name === "echo-c") return startChild(name, socket, echoBin, [socket], cleanEnv());
  const script = join(dirname(fileURLToPath(import.meta.url)), "echo-server.js");
  return startChild(name, socket, process.execPath, [script, socket], cleanEnv());
}

/** An upstream daemon through start-peer.sh (its own RUNDIR), stopped with stop-peer.sh. */
export async function startPeer(name: "cxenstored" | "oxenstored", dir: string, shim: string): Promise<Target> {
  const r = spawnSync(join(PEERS, "start-peer.sh"), [name, dir], {
    env: cleanEnv({ PEER_DOMAINS: "0-20000", FAKEXEN_SO: shim, PEER_TIMEOUT: "20" }),
    encoding: "utf8",
  });
  const pid = Number(/PEER_PID=(\d+)/.exec(r.stdout ?? "")?.[1]);
  const socket = /XENSTORED_PATH=(.*)/.exec(r.stdout ?? "")?.[1]?.trim();
  const stopPeer = (): void => {
    spawnSync(join(PEERS, "stop-peer.sh"), [dir], { stdio: "ignore" });
  };
  if (r.status !== 0 || !pid || !socket) {
    stopPeer();
    throw new Error(`start-peer.sh ${name} failed: ${r.stderr}`);
  }
  const t: Target = {
    name,
    socket,
    pid,
    async stop() {
      running.delete(t);
      stopPeer();
    },
    stopSync() {
      running.delete(t);
      stopPeer();
    },
  };
  running.add(t);
  return t;
}

export interface Run {
  /** The last line of JSON the command printed (stdout, or stderr for `run`). */
  json: Record<string, unknown>;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (asynchronously, so signals are still handled). */
export function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 600000): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    clients.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString("latin1")));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString("latin1")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      clients.delete(child);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clients.delete(child);
      resolvePromise({ status: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}

export function lastJson(text: string): Record<string, unknown> | null {
  const lines = text.split("\n").filter((l) => l.startsWith("{"));
  const last = lines[lines.length - 1];
  return last ? (JSON.parse(last) as Record<string, unknown>) : null;
}

/**
 * Restrict a process and all its threads to `cpus` (a taskset list such as
 * "1" or "0-1"); false if taskset is missing or refused.
 */
export function setAffinity(pid: number, cpus: string): boolean {
  const r = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" });
  return r.status === 0;
}

/** The CPUs this process may run on (to restore a daemon's affinity). */
export function allowedCpus(): string {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync("/proc/self/status", "latin1"));
  return m?.[1] ?? `0-${cpus().length - 1}`;
}

export class LoadGenerator {
  /** When set, the load generator (and the client it runs) stays on this CPU. */
  cpu: number | null = null;

  constructor(readonly bin: string) {}

  private env(t: Target, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { XSLOAD_DAEMON_PID: String(t.pid), ...(this.cpu === null ? {} : { XSLOAD_CPU: String(this.cpu) }), ...extra };
  }

  /**
   * xsload against a target; daemon CPU is sampled by xsload over the timed
   * part. Throws unless it printed its JSON line (a wrong transaction counter
   * still prints one, with "exact": false).
   */
  async run(t: Target, args: (string | number)[], timeoutMs = 600000): Promise<Run> {
    const r = await exec(this.bin, [t.socket, ...args.map(String)], this.env(t), timeoutMs);
    const json = lastJson(r.stdout);
    if (!json) throw new Error(`xsload ${args.join(" ")} against ${t.name} failed (status ${r.status}): ${r.stderr.trim().slice(-2000)}`);
    return { json, stdout: r.stdout, stderr: r.stderr };
  }

  /** Another client under `xsload - run`, for its CPU time and the daemon's. */
  async wrap(t: Target, cmd: string, args: string[], timeoutMs = 600000): Promise<Run & { status: number }> {
    const r = await exec(this.bin, ["-", "run", cmd, ...args], this.env(t, { XENSTORED_PATH: t.socket }), timeoutMs);
    const json = lastJson(r.stderr) ?? {};
    return { json, stdout: r.stdout, stderr: r.stderr, status: r.status };
  }
}

/** xsload's `daemon_cpu_ns` in seconds, or null when it could not measure. */
export function daemonCpuSeconds(ns: unknown): number | null {
  const n = Number(ns);
  return Number.isFinite(n) && n >= 0 ? n / 1e9 : null;
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "?";
  }
}

export interface Machine {
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  node: string;
  gcc: string;
  xen: string;
  commit: string;
  loadBefore: number[];
  loadAfter?: number[];
  date: string;
  clkTck: number;
}

export function describeMachine(): Machine {
  let cpu = cpus()[0]?.model ?? "?";
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "latin1"));
    if (m?.[1]) cpu = m[1].trim();
  } catch {
    // keep os.cpus()
  }
  const dirty = tryRun("git", ["-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", "src"]) ? "+local changes in src/" : "";
  return {
    cpu,
    cores: cpus().length,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: `Linux ${release()}`,
    node: process.version,
    gcc: tryRun("gcc", ["-dumpfullversion"]),
    xen: tryRun("dpkg-query", ["-W", "-f", "${Version}", "xen-utils-4.17"]),
    commit: `${tryRun("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"])}${dirty ? " " + dirty : ""}`,
    loadBefore: loadavg().map((x) => Math.round(x * 100) / 100),
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    clkTck: CLK_TCK,
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** Median of each numeric field over the samples that share a key; `samples` is how many there were. */
export function medianRows<T extends object>(samples: T[], key: (s: T) => string): T[] {
  const groups = new Map<string, T[]>();
  for (const s of samples) {
    const k = key(s);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(s);
  }
  return [...groups.values()].map((g) => {
    const out = { ...g[0]! } as Record<string, unknown>;
    for (const [k, v] of Object.entries(out)) {
      if (typeof v !== "number") continue;
      out[k] = median(g.map((s) => (s as Record<string, unknown>)[k] as number));
    }
    out.samples = g.length;
    return out as T;
  });
}

/** The order of targets for round r: rotated, so no daemon always goes first. */
export function rotate<T>(xs: readonly T[], r: number): T[] {
  const k = r % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

function procStatTicks(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "latin1").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** This process and its reaped children (xsload, the build), in seconds. */
function selfAndChildrenCpu(): number {
  const stat = readFileSync("/proc/self/stat", "latin1");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
}

export interface MachineLoad {
  seconds: number;
  /** Average number of cores kept busy by processes that are not part of the benchmark. */
  otherCores: number;
  /** Average number of cores busy in all (the benchmark included). */
  busyCores: number;
}

/**
 * How busy the machine was with other work while a workload ran: all busy
 * CPU time (/proc/stat) less that of the daemons under test and of this
 * process and its children (the load generators).
 */
export class LoadMeter {
  private readonly t0 = Date.now();
  private readonly s0 = procStatTicks();
  private readonly own0: number;
  /** CPU time of daemons under test that were started and stopped meanwhile (and are not this process's children). */
  private endedS = 0;

  constructor(private readonly pids: () => number[]) {
    this.own0 = this.own();
  }

  private own(): number {
    let s = selfAndChildrenCpu();
    for (const p of this.pids()) {
      try {
        s += cpuSeconds(p);
      } catch {
        // exited
      }
    }
    return s;
  }

  /**
   * Count a daemon under test that was started after this meter and is about
   * to stop: its whole CPU time (`cpuSeconds(pid)` just before it stops). Not
   * for this process's own children: reaped, they count already.
   */
  ended(cpuS: number): void {
    this.endedS += cpuS;
  }

  stop(): MachineLoad {
    const s1 = procStatTicks();
    const seconds = (Date.now() - this.t0) / 1000;
    const busy = (s1.busy - this.s0.busy) / CLK_TCK;
    const others = Math.max(0, busy - (this.own() + this.endedS - this.own0));
    return { seconds, otherCores: seconds > 0 ? others / seconds : 0, busyCores: seconds > 0 ? busy / seconds : 0 };
  }
}

/** A number field of an xsload JSON line. */
export const num = (j: Record<string, unknown>, k: string): number => Number(j[k]);

/** A row of `xsload par` output. */
export function parRow(target: TargetName, op: string, conns: number, depth: number, j: Record<string, unknown>): ParRow {
  const ops = num(j, "ops");
  const dcpu = daemonCpuSeconds(j.daemon_cpu_ns);
  return {
    target,
    op,
    conns,
    depth,
    ops,
    opsPerS: num(j, "ops_per_s"),
    seconds: num(j, "seconds"),
    daemonCpuUsPerOp: dcpu === null ? null : (dcpu / ops) * 1e6,
    clientCpuUsPerOp: (num(j, "client_cpu_s") / ops) * 1e6,
    clientBusy: num(j, "client_cpu_s") / num(j, "seconds"),
  };
}
