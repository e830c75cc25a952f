/** Launchers for the daemons under comparison. */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PEERS, peersUnavailable, startPeer, startTsxenstored } from "../helpers/daemon.js";
import type { Launcher } from "./engine.js";

export type PeerKind = "cxenstored" | "oxenstored";

let shim: string | null = null;

/** Build the peers' fake-hypervisor shim once and share it (start-peer.sh would compile it per run). */
function sharedShim(): string {
  if (!shim) {
    const dir = join(tmpdir(), `tsxs-fakexen-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const r = spawnSync(join(PEERS, "build.sh"), [dir], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`building fakexen.so failed: ${r.stderr}`);
    shim = r.stdout.trim().split("\n").pop()!;
  }
  return shim;
}

/** The domids both sides consider existing: the peers' default. */
export const DOMAINS = "0-1023";

export function peerLauncher(kind: PeerKind): Launcher {
  return async () => {
    const d = await startPeer(kind, { FAKEXEN_SO: sharedShim(), PEER_DOMAINS: DOMAINS });
    return { name: kind, socket: d.socket, stop: () => d.stop() };
  };
}

export function oursLauncher(): Launcher {
  return async () => {
    // Cold subtrees packed every few milliseconds: the compared replies come from packed trees too.
    const d = await startTsxenstored(["--domains", DOMAINS], { TSXS_PACK_INTERVAL_MS: "3" });
    return { name: "tsxenstored", socket: d.socket, stop: () => d.stop() };
  };
}

export { peersUnavailable };
