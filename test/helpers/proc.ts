/**
 * Processes for the system tests (test/system/, test/daemon-cli.test.ts):
 * child processes and temporary directories that a file's cleanup hook
 * (cleanUpAfterAll) removes, an environment without the caller's xenstore
 * and systemd variables, timeouts and waiting, one raw request to a socket
 * with no retries, errno expectations, and bin/tsxenstored started in the
 * foreground or through its legacy launcher.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { XsError } from "../../src/client/index.js";
import { Op, type Packet } from "../../src/protocol/messages.js";
import { PacketParser } from "../../src/protocol/parser.js";
import { encodePacket } from "../../src/protocol/serializer.js";
import { BIN } from "./daemon.js";

// ---------------------------------------------------------------------------
// Processes and temporary directories, all cleaned up.

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  running(): boolean;
  /** Resolve once stderr matches `re` (rejects if the process exits first). */
  waitStderr(re: RegExp, ms?: number): Promise<void>;
  /** Send `signal` (default SIGTERM) unless it has exited, SIGKILL after 5 s, and wait. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

const procs = new Set<Proc>();
/** Detached daemons started through the launcher (not our children). */
const detached = new Set<number>();
const tempDirs = new Set<string>();

export function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return false;
  }
  // The state follows the command name in parentheses; a zombie has exited.
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

let cleanupRegistered = false;

/**
 * Call once at the top of a test file: after its tests, run `first` (e.g.
 * closing notify listeners or the file's own daemons), stop every process
 * started with startProc, SIGKILL the detached daemons handed to
 * trackDetached, and remove every tempDir; if the process goes away early,
 * SIGKILL what still runs.
 */
export function cleanUpAfterAll(...first: (() => Promise<void>)[]): void {
  assert.equal(cleanupRegistered, false, "cleanUpAfterAll is called once per test file");
  cleanupRegistered = true;
  after(async () => {
    for (const f of first) await f();
    for (const p of [...procs]) await p.stop().catch(() => undefined);
    for (const pid of detached) {
      if (alive(pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    }
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });

  process.on("exit", () => {
    for (const p of procs) if (p.running()) p.child.kill("SIGKILL");
    for (const pid of detached) {
      try {
        if (alive(pid)) process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  });
}

/** Remember a detached daemon (a launcher's child), so the cleanup ends it. */
export function trackDetached(pid: number): void {
  detached.add(pid);
}

/** A fresh directory under the system's tmpdir, removed by the cleanup. */
export function tempDir(prefix = "tsxs-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/** Our environment without anything that would steer the daemon. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(XENSTORED_|LISTEN_|NOTIFY_SOCKET$|WATCHDOG_|TSXENSTORED_)/.test(k)) delete env[k];
  }
  return { ...env, ...extra };
}

export function startProc(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, extraPipes = 0, cwd?: string): Proc {
  const stdio: ("ignore" | "pipe")[] = ["ignore", "pipe", "pipe"];
  for (let i = 0; i < extraPipes; i++) stdio.push("pipe");
  const child = spawn(cmd, [...args], { env, stdio, cwd });
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  let done = false;
  child.stdout!.on("data", (d: Buffer) => (out += d.toString("latin1")));
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString("latin1");
    for (const w of [...waiters]) w();
  });
  const exited = new Promise<Exit>((resolve) =>
    child.once("exit", (code, signal) => {
      done = true;
      for (const w of [...waiters]) w();
      resolve({ code, signal });
    }),
  );
  const p: Proc = {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited,
    running: () => !done,
    waitStderr(re, ms = 10000) {
      return new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const check = (): void => {
          if (re.test(err)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          } else if (done) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`${cmd} exited before its stderr matched ${re}: ${err}`));
          }
        };
        timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${re} on the stderr of ${cmd}: ${err}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (!done) {
        child.kill(signal);
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      procs.delete(p);
      return exited;
    },
  };
  procs.add(p);
  return p;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

export async function waitUntil(cond: () => boolean, what: string, ms = 5000, step = 10): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, step));
  }
}

export function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return null;
  }
}

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------
// Talking to the daemon with one raw request (no retries: a refused or
// missing socket is an error).

export function rawRequest(path: string, type: Op, payload: string, reqId = 1, ms = 5000): Promise<Packet> {
  return new Promise((resolve, reject) => {
    const parser = new PacketParser();
    const s = connect(path);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply from ${path} within ${ms} ms`));
    }, ms);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    s.on("connect", () => s.write(encodePacket(type, reqId, 0, Buffer.from(payload, "latin1"))));
    s.on("data", (chunk: Buffer) => {
      let packets: Packet[];
      try {
        packets = parser.push(chunk);
      } catch (e) {
        fail(e as Error);
        return;
      }
      const p = packets.find((x) => x.reqId === reqId);
      if (p) {
        clearTimeout(timer);
        s.destroy();
        resolve(p);
      }
    });
    s.on("error", fail);
    s.on("close", () => fail(new Error(`connection to ${path} closed without a reply`)));
  });
}

/** READ /tool/xenstored (C xenstored's initial tree has it, with an empty value). */
export async function assertAnswers(path: string, what: string): Promise<void> {
  const p = await rawRequest(path, Op.READ, "/tool/xenstored\0", 77);
  assert.deepEqual({ type: p.type, reqId: p.reqId, payload: p.payload.toString("latin1") }, { type: Op.READ, reqId: 77, payload: "" }, what);
}

export async function expectErrno(p: Promise<unknown>, errno: string, what: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof XsError, `${what}: expected an XsError, got ${String(e)}`);
    assert.equal(e.errno, errno, `${what}: errno`);
    return true;
  });
}

export function cli(socket: string, cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { env: cleanEnv({ XENSTORED_PATH: socket }), encoding: "latin1", timeout: 15000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export function isSocketFile(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Starting the daemon

/** The daemon in the foreground (-N), once its socket answers. */
export async function startForeground(args: string[], o: { dir: string; env?: NodeJS.ProcessEnv; socket?: string; extraPipes?: number }): Promise<Proc> {
  const socket = o.socket ?? join(o.dir, "socket");
  const p = startProc(process.execPath, [BIN, "-N", ...args], cleanEnv({ XENSTORED_RUNDIR: o.dir, ...o.env }), o.extraPipes ?? 0);
  const deadline = Date.now() + 10000;
  for (;;) {
    if (!p.running()) throw new Error(`tsxenstored exited during start: ${p.stderr()}`);
    // Ready means both sockets accept: socket_ro is opened after socket.
    if (existsSync(socket) && existsSync(`${socket}_ro`)) {
      try {
        await assertAnswers(socket, "start-up probe");
        await assertAnswers(`${socket}_ro`, "start-up probe (socket_ro)");
        return p;
      } catch {
        /* not yet */
      }
    }
    if (Date.now() > deadline) {
      await p.stop("SIGKILL");
      throw new Error(`tsxenstored did not answer on ${socket}: ${p.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 15));
  }
}

export interface LauncherResult extends Exit {
  stdout: string;
  stderr: string;
}

/** The legacy launcher (no -N): resolves when it exits. */
export async function runLauncher(args: string[], env: NodeJS.ProcessEnv, ms = 15000, cwd?: string): Promise<LauncherResult> {
  const p = startProc(process.execPath, [BIN, ...args], cleanEnv(env), 0, cwd);
  let r: Exit;
  try {
    r = await withTimeout(p.exited, ms, `the launcher tsxenstored ${args.join(" ")}`);
  } finally {
    await p.stop("SIGKILL");
  }
  // stdout/stderr are complete once the pipes close.
  await waitUntil(() => p.child.stdout!.closed && p.child.stderr!.closed, "the launcher's pipes to close", 2000, 2);
  return { ...r, stdout: p.stdout(), stderr: p.stderr() };
}

/** Wait for a detached daemon to exit. */
export async function waitGone(pid: number, ms = 8000): Promise<void> {
  await waitUntil(() => !alive(pid), `pid ${pid} to exit`, ms, 5);
}

export function stopDetached(pid: number, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  process.kill(pid, signal);
  return waitGone(pid).then(() => void detached.delete(pid));
}
