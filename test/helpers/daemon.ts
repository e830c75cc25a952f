/**
 * Start the real daemon (bin/tsxenstored) on a temporary socket, and the
 * upstream peers (../shared/peers) when they are available, for
 * integration tests with real clients.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { socketAnswers } from "../../src/transport/unix.js";

/** The repository (this file runs as dist/test/helpers/daemon.js). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const BIN = join(ROOT, "bin/tsxenstored");
export const XEN_BIN = "/usr/lib/xen-4.17/bin";
export const TEST_XENSTORE = join(XEN_BIN, "test-xenstore");
/** The upstream peers: ../shared/peers beside the checkout, or $TSXENSTORED_PEERS. */
export const PEERS = process.env.TSXENSTORED_PEERS ?? resolve(ROOT, "../shared/peers");

export interface RunningDaemon {
  dir: string;
  socket: string;
  pid: number;
  child: ChildProcess | null;
  /** stderr collected so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Resolve once a server answers on the socket at `path`, looking every
 * `stepMs` (the benchmarks' start times are measured to about that);
 * reject after `timeoutMs`, or as soon as `alive()` says the server has exited.
 */
export async function waitForSocket(path: string, timeoutMs = 10000, alive: () => boolean = () => true, stepMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`the server for ${path} exited during start`);
    if (existsSync(path) && (await socketAnswers(path))) return;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`nothing answered on ${path} within ${timeoutMs} ms`);
}

/** Start tsxenstored in the foreground with its own rundir. */
export async function startTsxenstored(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningDaemon> {
  const dir = mkdtempSync(join(tmpdir(), "tsxs-"));
  const socket = join(dir, "socket");
  // No warm-up unless a test asks for one: hundreds of daemons start in `npm test`.
  const warm = args.some((a) => a.startsWith("--warm-up")) ? [] : ["--warm-up", "0"];
  const child = spawn(process.execPath, [BIN, "-N", ...warm, ...args], {
    env: { ...process.env, XENSTORED_RUNDIR: dir, XENSTORED_PATH: socket, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    await Promise.race([
      // Ready means both sockets accept: socket_ro is opened after socket.
      Promise.all([waitForSocket(socket), waitForSocket(`${socket}_ro`)]),
      exited.then(() => {
        throw new Error(`tsxenstored exited during start: ${out}`);
      }),
    ]);
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  return {
    dir,
    socket,
    pid: child.pid!,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Why the upstream peers cannot run here, or null when they can. */
export function peersUnavailable(kind: "cxenstored" | "oxenstored" = "cxenstored"): string | null {
  if (!existsSync(join(PEERS, "start-peer.sh"))) return `no ${PEERS}/start-peer.sh`;
  const bin = join(XEN_BIN, kind === "cxenstored" ? "xenstored" : "oxenstored");
  if (!existsSync(bin)) return `${bin} not installed (apt-get install xen-utils-4.17)`;
  return null;
}

/** Start an upstream daemon through ../shared/peers/start-peer.sh. */
export async function startPeer(kind: "cxenstored" | "oxenstored" = "cxenstored", env: NodeJS.ProcessEnv = {}): Promise<RunningDaemon> {
  const dir = mkdtempSync(join(tmpdir(), `xs-${kind === "cxenstored" ? "cx" : "ox"}-`));
  const r = spawnSync(join(PEERS, "start-peer.sh"), [kind, dir], { env: { ...process.env, ...env }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`start-peer.sh failed: ${r.stderr}`);
  const pid = Number(/PEER_PID=(\d+)/.exec(r.stdout)?.[1]);
  const socket = /XENSTORED_PATH=(.*)/.exec(r.stdout)![1]!.trim();
  return {
    dir,
    socket,
    pid,
    child: null,
    output: () => "",
    async stop() {
      spawnSync(join(PEERS, "stop-peer.sh"), [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run a command with XENSTORED_PATH pointing at `socket`. */
export function runWith(socket: string, cmd: string, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { env: { ...process.env, XENSTORED_PATH: socket }, encoding: "latin1", input, timeout: 30000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export function haveCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/**
 * The one line a daemon without Xen prints at start, saying it serves
 * socket clients only; stripped from a daemon's stderr by tests that
 * check it says nothing else.
 */
export const NO_XEN_LINE = /^tsxenstored: no hypervisor: domains emulated \([^)]*\), no rings\n/m;

export function withoutStartLine(stderr: string): string {
  return stderr.replace(NO_XEN_LINE, "");
}
