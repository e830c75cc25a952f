/**
 * The emulated host's event channels (native/emu/xen-emu.c) never lose a
 * signal, as Xen's pending bits do not: many ports signalled while the
 * receiver is not reading all arrive, and repeated signals of one port
 * coalesce. (A full datagram queue used to drop them: a guest's request
 * then waited for ever.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { emulationAddon } from "../src/emu/guest.js";
import type { NativeEvtchn, XenAddon } from "../src/hypervisor/native.js";
import { emulationUnavailable } from "./helpers/emulated.js";
import { tempDir, waitUntil } from "./helpers/proc.js";

const skip = emulationUnavailable() ?? false;

function open(addon: XenAddon, domid: number): NativeEvtchn {
  const h = addon.evtchnOpen(domid);
  if (typeof h === "number") throw new Error(`evtchnOpen(${domid}): errno ${-h}`);
  return h;
}

test("300 ports signalled while the receiver does not read: every one arrives; repeats of a port coalesce", { skip }, async () => {
  const addon = emulationAddon(join(tempDir("tsxs-evtchn-"), "host"));
  if (addon instanceof Error) throw addon;
  assert.equal(addon.emuDomain("create", 7), 0);
  const daemon = open(addon, 0);
  const guest = open(addon, 7);
  const local = new Map<number, number>();
  for (let i = 0; i < 300; i++) {
    const gp = addon.bindUnbound(guest, 0);
    assert.ok(gp > 0, `bindUnbound: ${gp}`);
    const lp = addon.bindInterdomain(daemon, 7, gp);
    assert.ok(lp > 0, `bindInterdomain: ${lp}`);
    local.set(gp, lp);
  }
  // Far more than a datagram queue holds, before anyone reads; port 1 of them three times.
  const first = [...local.keys()][0]!;
  for (const gp of local.keys()) assert.equal(addon.notify(guest, gp), 0);
  for (let k = 0; k < 2; k++) assert.equal(addon.notify(guest, first), 0);
  const seen = new Map<number, number>();
  addon.watchEvents(daemon, (ports) => {
    for (const p of ports) seen.set(p, (seen.get(p) ?? 0) + 1);
  });
  await waitUntil(() => seen.size === 300, `all 300 ports (have ${seen.size})`, 5000);
  assert.deepEqual([...seen.keys()].sort((a, b) => a - b), [...local.values()].sort((a, b) => a - b));
  assert.equal(seen.get(local.get(first)!), 1, "three signals before it was read: one event");
  // And the other way: the daemon signals the guest's ports.
  const back = new Set<number>();
  addon.watchEvents(guest, (ports) => ports.forEach((p) => back.add(p)));
  for (const lp of local.values()) assert.equal(addon.notify(daemon, lp), 0);
  await waitUntil(() => back.size === 300, `all 300 back (have ${back.size})`, 5000);
  addon.closeEvents(daemon, false);
  addon.closeEvents(guest, true);
  addon.emuDomain("destroy", 7);
});
