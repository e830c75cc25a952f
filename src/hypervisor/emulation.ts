/**
 * The emulated Xen host (native/emu/xen-emu.c): one directory holds it,
 * and the daemon drives it through the same Xen calls as on Xen, from the
 * emulation library instead of the Xen libraries.
 */
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { XenPaths } from "./xen.js";
import { XenHypervisor } from "./xen.js";

/** The emulation library, built by `npm ci` (build/Release/tsxs_xen_emu.so). */
export const EMULATION_LIBRARY = resolve(dirname(fileURLToPath(import.meta.url)), "../../../build/Release/tsxs_xen_emu.so");

/** Where an emulated host keeps dom0's ring, and where its daemon listens by default. */
export function emulatedPaths(dir: string): XenPaths & { socket: string } {
  return {
    capabilities: join(dir, "domains/0/state"),
    evtchn: join(dir, "ports"),
    xsdKva: join(dir, "xsd_kva"),
    xsdPort: join(dir, "xsd_port"),
    socket: join(dir, "socket"),
  };
}

/**
 * Open the emulated host in `dir` (created if missing): the emulation
 * library reads the directory from TSXS_EMU_DIR, as the upstream daemons
 * run under it do.
 */
export function openEmulatedHost(dir: string, log?: (line: string) => void): XenHypervisor | Error {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  process.env.TSXS_EMU_DIR = abs;
  return XenHypervisor.open({ emulation: EMULATION_LIBRARY, name: `emulated Xen host ${abs}`, paths: emulatedPaths(abs), log });
}
