/**
 * Run the upstream xenstore clients (xenstore-* CLI, xenstore-control,
 * test-xenstore, pyxs under /usr/bin/python3) against a daemon socket,
 * asynchronously, for the integration tests.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { XEN_BIN } from "./daemon.js";

export const XENSTORE_CONTROL = join(XEN_BIN, "xenstore-control");
export const SYSTEM_PYTHON = "/usr/bin/python3";

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
  /** True when the command was killed because it ran past its timeout. */
  timedOut: boolean;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Run `cmd args` with XENSTORED_PATH=socket, without blocking the event loop. */
export function runAsync(socket: string, cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return startAsync(socket, cmd, args, opts).done;
}

export interface Started {
  pid: number;
  /** Output seen so far. */
  stdout(): string;
  /** Resolves once stdout holds at least `n` complete lines (rejects if the process exits first). */
  lines(n: number, timeoutMs?: number): Promise<string[]>;
  done: Promise<RunResult>;
  kill(): void;
}

/** Start `cmd args` with XENSTORED_PATH=socket; `done` resolves when it exits. */
export function startAsync(socket: string, cmd: string, args: readonly string[], opts: RunOptions = {}): Started {
  const child = spawn(cmd, [...args], {
    env: { ...process.env, XENSTORED_PATH: socket, ...opts.env },
    stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let exited = false;
  let timedOut = false;
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding("latin1");
  child.stderr!.setEncoding("latin1");
  child.stdout!.on("data", (d: string) => {
    out += d;
    for (const l of [...listeners]) l();
  });
  child.stderr!.on("data", (d: string) => (err += d));
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, opts.timeoutMs ?? 30000);
  const done = new Promise<RunResult>((resolve) => {
    child.on("error", (e) => {
      err += String(e);
    });
    child.on("close", (code, signal) => {
      exited = true;
      clearTimeout(timer);
      for (const l of [...listeners]) l();
      resolve({ status: code ?? (signal ? 128 : -1), stdout: out, stderr: err, timedOut });
    });
  });
  const completeLines = (): string[] => {
    const parts = out.split("\n");
    parts.pop();
    return parts;
  };
  return {
    pid: child.pid ?? -1,
    stdout: () => out,
    done,
    kill: () => {
      if (!exited) child.kill("SIGKILL");
    },
    lines(n: number, timeoutMs = 5000): Promise<string[]> {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${n} lines from ${cmd} ${args.join(" ")}; got ${JSON.stringify(out)} ${JSON.stringify(err)}`));
        }, timeoutMs);
        const check = (): void => {
          const ls = completeLines();
          if (ls.length >= n) {
            clearTimeout(t);
            listeners.delete(check);
            resolve(ls);
          } else if (exited) {
            clearTimeout(t);
            listeners.delete(check);
            reject(new Error(`${cmd} exited before printing ${n} lines: ${JSON.stringify(out)} ${JSON.stringify(err)}`));
          }
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Run an inline python script with the system python (where pyxs is installed). */
export function runPython(socket: string, script: string, args: readonly string[] = [], timeoutMs = 30000): Promise<RunResult> {
  return runAsync(socket, SYSTEM_PYTHON, ["-c", script, ...args], { timeoutMs });
}

/** Why pyxs cannot be used here, or null. */
export function pyxsUnavailable(): string | null {
  if (!existsSync(SYSTEM_PYTHON)) return `${SYSTEM_PYTHON} not found`;
  if (!existsSync("/usr/lib/python3/dist-packages/pyxs")) return "pyxs not installed (apt-get install python3-pyxs)";
  return null;
}

/** Why the xenstore-* tools cannot be used here, or null. */
export function cliUnavailable(): string | null {
  for (const t of ["/usr/bin/xenstore-read", XENSTORE_CONTROL]) if (!existsSync(t)) return `${t} not installed (apt-get install xenstore-utils xen-utils-4.17)`;
  return null;
}

/** Render a command's result as transcript lines, for line-by-line comparison. */
export function transcript(label: string, r: RunResult): string[] {
  const lines = [`$ ${label}`, `status ${r.timedOut ? "timeout" : r.status}`];
  for (const l of r.stdout.split("\n")) lines.push(`out| ${l}`);
  for (const l of r.stderr.split("\n")) lines.push(`err| ${l}`);
  return lines;
}
