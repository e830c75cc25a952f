/**
 * Legacy daemonizing without a fork() in Node: the launcher starts the
 * daemon as a detached child (its own session), and exits only when the
 * child reports through a pipe that every socket accepts and the pid file
 * is written. So there is no window in which the launcher has exited but
 * clients cannot connect yet (the race sd_notify avoids by design). If the
 * daemon fails to start, the launcher exits non-zero with its error.
 */
import { spawn } from "node:child_process";
import { closeSync, writeSync } from "node:fs";

/** Set in the daemon child's environment; its value is the readiness fd. */
export const CHILD_MARK = "TSXENSTORED_DAEMON_CHILD";
const READY_FD = 3;

export function isDaemonChild(env: NodeJS.ProcessEnv): boolean {
  return env[CHILD_MARK] === String(READY_FD);
}

/** In the launcher: start the daemon child and wait for its verdict. Returns the exit status. */
export function launch(script: string, argv: readonly string[], opts: { printPid: boolean }): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
      detached: true,
      stdio: ["ignore", "ignore", "pipe", "pipe"],
      env: { ...process.env, [CHILD_MARK]: String(READY_FD) },
    });
    let stderr = "";
    let status = "";
    let settled = false;
    const finish = (code: number): void => {
      if (settled) return;
      settled = true;
      child.stderr!.destroy();
      (child.stdio[READY_FD] as NodeJS.ReadableStream & { destroy(): void }).destroy();
      child.unref();
      resolve(code);
    };
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const ready = child.stdio[READY_FD] as NodeJS.ReadableStream;
    ready.on("data", (d: Buffer) => {
      status += d.toString();
      if (status.includes("\n")) {
        if (status.startsWith("READY")) {
          if (opts.printPid) process.stdout.write(`${child.pid}\n`);
          finish(0);
        } else {
          process.stderr.write(status.replace(/^ERROR /, "tsxenstored: "));
          finish(1);
        }
      }
    });
    child.on("exit", (code, signal) => {
      if (settled) return;
      process.stderr.write(stderr || `tsxenstored: daemon exited during start-up (${signal ?? `status ${code}`})\n`);
      finish(code && code !== 0 ? code : 1);
    });
  });
}

/** In the daemon child: tell the launcher we are ready (or why not), then let it go. */
export function reportToLauncher(error: string | null): void {
  try {
    writeSync(READY_FD, error === null ? "READY\n" : `ERROR ${error}\n`);
    closeSync(READY_FD);
  } catch {
    /* the launcher is gone */
  }
}
