/**
 * tsxs-emu: the emulated Xen host from the command line.
 *
 *   tsxs-emu run DIR -- COMMAND [ARGS...]   run COMMAND (e.g. an upstream xenstored) over the host in DIR
 *   tsxs-emu shutdown DIR DOMID             a domain shuts down (the daemon fires @releaseDomain)
 *   tsxs-emu destroy DIR DOMID              a domain is destroyed (the daemon releases it)
 *
 * `run` makes DIR (if missing), then executes COMMAND with the emulation
 * library preloaded (it provides the Xen calls and moves the daemon's
 * hard-wired paths into DIR: its sockets at DIR/socket, dom0's ring at
 * DIR/xsd_kva), exiting with COMMAND's status.
 */
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { EMULATION_LIBRARY } from "../hypervisor/emulation.js";
import { emulationAddon } from "./guest.js";

const USAGE = `Usage:
  tsxs-emu run DIR -- COMMAND [ARGS...]   run COMMAND over the emulated Xen host in DIR
  tsxs-emu shutdown DIR DOMID             a domain shuts down
  tsxs-emu destroy DIR DOMID              a domain is destroyed
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, dir, ...rest] = argv;
  if (cmd === "run" && dir && rest[0] === "--" && rest.length > 1) {
    const abs = resolve(dir);
    mkdirSync(abs, { recursive: true });
    const preload = [EMULATION_LIBRARY, process.env.LD_PRELOAD].filter(Boolean).join(":");
    const child = spawn(rest[1]!, rest.slice(2), {
      stdio: "inherit",
      env: { ...process.env, TSXS_EMU_DIR: abs, XENSTORED_RUNDIR: abs, LD_PRELOAD: preload },
    });
    for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => child.kill(sig));
    return new Promise((r) => {
      child.on("error", (e) => {
        process.stderr.write(`tsxs-emu: ${rest[1]}: ${e.message}\n`);
        r(127);
      });
      child.on("exit", (code, signal) => r(code ?? (signal ? 128 : 1)));
    });
  }
  if ((cmd === "shutdown" || cmd === "destroy") && dir && /^\d+$/.test(rest[0] ?? "") && rest.length === 1) {
    const addon = emulationAddon(dir);
    if (addon instanceof Error) {
      process.stderr.write(`tsxs-emu: ${addon.message}\n`);
      return 1;
    }
    const rc = cmd === "shutdown" ? addon.emuDomain("state", Number(rest[0]), "shutdown") : addon.emuDomain("destroy", Number(rest[0]));
    if (rc < 0) {
      process.stderr.write(`tsxs-emu: ${cmd} domain ${rest[0]}: errno ${-rc}\n`);
      return 1;
    }
    return 0;
  }
  process.stderr.write(USAGE);
  return 2;
}
