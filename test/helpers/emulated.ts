/**
 * Emulated Xen hosts for tests: a directory with tsxenstored
 * (`--emulate`), or the upstream cxenstored / oxenstored under `tsxs-emu
 * run`, serving it; and guests in it (`tsxs-guest`), each serving a socket
 * through which a client talks to the daemon as that guest, through its
 * ring.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT, XEN_BIN, startTsxenstored, waitForSocket } from "./daemon.js";
import { tempDir } from "./proc.js";
import { ringsUnavailable } from "./ring-host.js";

export type HostDaemon = "tsxenstored" | "cxenstored" | "oxenstored";

export interface EmulatedHost {
  readonly daemon: HostDaemon;
  readonly dir: string;
  /** The daemon's dom0 socket. */
  readonly socket: string;
  stop(): Promise<void>;
}

export interface Guest {
  readonly domid: number;
  /** Where clients talk to the daemon as this guest. */
  readonly socket: string;
  /** Destroy the domain (tsxs-guest exits on SIGTERM). */
  stop(): Promise<void>;
}

export const TSXS_EMU = join(ROOT, "bin/tsxs-emu");
export const TSXS_GUEST = join(ROOT, "bin/tsxs-guest");

/** Why emulated hosts cannot run here, or null. */
export function emulationUnavailable(daemon: HostDaemon = "tsxenstored"): string | null {
  const why = ringsUnavailable();
  if (why) return why;
  if (daemon !== "tsxenstored") {
    const bin = join(XEN_BIN, daemon === "cxenstored" ? "xenstored" : "oxenstored");
    if (!existsSync(bin)) return `${bin} is not installed`;
  }
  return null;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const gone = once(child, "exit").then(() => undefined);
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  return gone.finally(() => clearTimeout(timer));
}

export async function startEmulatedHost(daemon: HostDaemon, args: readonly string[] = []): Promise<EmulatedHost> {
  const dir = join(tempDir("tsxs-emu-"), "host");
  const socket = join(dir, "socket");
  if (daemon === "tsxenstored") {
    const d = await startTsxenstored(["--emulate", dir, ...args]);
    return { daemon, dir, socket: d.socket, stop: () => d.stop() };
  }
  const cmd = daemon === "cxenstored" ? [join(XEN_BIN, "xenstored"), "-N", ...args] : [join(XEN_BIN, "oxenstored"), "--no-fork", ...args];
  const child = spawn(TSXS_EMU, ["run", dir, "--", ...cmd], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  try {
    await waitForSocket(socket, 10000, () => child.exitCode === null);
  } catch (e) {
    await stopChild(child);
    throw new Error(`${daemon} over the emulated host did not start: ${(e as Error).message}\n${stderr}`);
  }
  return { daemon, dir, socket, stop: () => stopChild(child) };
}

export async function startGuest(host: EmulatedHost, domid: number, opts: { ownHome?: boolean; noHome?: boolean } = {}): Promise<Guest> {
  const socket = join(host.dir, `guest${domid}.sock`);
  const args = ["--emulate", host.dir, "--domid", String(domid), "--socket", socket, "--dom0-socket", host.socket];
  if (opts.ownHome) args.push("--own-home");
  if (opts.noHome) args.push("--no-home");
  const child = spawn(TSXS_GUEST, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tsxs-guest ${domid} did not get ready: ${err}`)), 10000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`tsxs-guest ${domid} exited ${code}: ${err}`));
    });
  });
  return { domid, socket, stop: () => stopChild(child) };
}
