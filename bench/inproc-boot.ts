/**
 * Workload 12's boot storm without sockets: the same requests as
 * `xsload boot` (bench/xsload.c guest_create: libxl's transactions,
 * SET_PERMS, the devices' watches, INTRODUCE), handed straight to a
 * `Xenstored` in this process, one at a time, each reply taken back
 * synchronously. What remains is tsxenstored's own handling of a request
 * (parsing, the tree, transactions, watches, journal-free: durability off,
 * as nothing is on disk here) plus this client's encoding and parsing;
 * no system calls, no event loop, no other process. A fresh process, warmed
 * up as the daemon warms up before it accepts (`--warm-up 300`).
 *
 *   node dist/bench/inproc-boot.js GUESTS   -> one line of JSON
 */
import { ScratchClient, warmUp } from "../src/daemon/warmup.js";
import { EmulatedHypervisor } from "../src/hypervisor/emulated.js";
import { Op } from "../src/protocol/messages.js";
import { Xenstored } from "../src/server/xenstored.js";

/** One guest as xsload's guest_create makes it (the boot mode: in transactions). */
function guest(ts: ScratchClient, d: number): void {
  const start = (): number => Number(ts.req(Op.TRANSACTION_START, [""]).toString("latin1").replace(/\0$/, ""));
  const mknod = (tx: number, p: string, ...perms: string[]): void => {
    ts.req(Op.MKDIR, [p], tx);
    ts.req(Op.SET_PERMS, [p, ...perms], tx);
  };
  const write = (tx: number, p: string, v: string): void => ts.write(p, v, tx);
  const uuid = `6b1f2a3c-0000-4000-8000-${String(d).padStart(12, "0")}`;
  const home = `/local/domain/${d}`;
  const vm = `/vm/${uuid}`;
  const lx = `/libxl/${d}`;
  const hex = (x: number): string => (x & 255).toString(16).padStart(2, "0");
  const mac = `00:16:3e:${hex(d >> 16)}:${hex(d >> 8)}:${hex(d)}`;

  let tx = start();
  for (const p of [home, vm, lx]) ts.req(Op.RM, [p], tx);
  mknod(tx, home, "n0", `r${d}`);
  mknod(tx, vm, "n0", `r${d}`);
  mknod(tx, lx, "n0");
  mknod(tx, `${lx}/device`, "n0");
  for (const r of ["cpu", "memory", "control", "device"]) mknod(tx, `${home}/${r}`, "n0", `r${d}`);
  for (const r of ["control/shutdown", "control/feature-poweroff", "control/feature-reboot", "control/feature-suspend", "control/sysrq", "data", "drivers", "feature", "attr", "error"])
    mknod(tx, `${home}/${r}`, `n${d}`);
  write(tx, `${home}/vm`, vm);
  write(tx, `${home}/name`, `guest-${d}`);
  write(tx, `${vm}/uuid`, uuid);
  write(tx, `${vm}/name`, `guest-${d}`);
  write(tx, `${vm}/start_time`, "1700000000.00");
  write(tx, `${vm}/image/ostype`, "linux");
  write(tx, `${lx}/type`, "pv");
  write(tx, `${lx}/dm-version`, "qemu_xen");
  ts.req(Op.TRANSACTION_END, ["T"], tx);

  tx = start();
  const keys: [string, string][] = [
    ["domid", String(d)],
    ["memory/static-max", "1048576"],
    ["memory/target", "1048576"],
    ["memory/videoram", "-1"],
    ["cpu/0/availability", "online"],
    ["cpu/1/availability", "online"],
    ["store/port", "1"],
    ["store/ring-ref", String(0x100000 + d)],
    ["console/port", "2"],
    ["console/ring-ref", String(0x200000 + d)],
    ["console/limit", "1048576"],
    ["console/type", "xenconsoled"],
    ["control/platform-feature-multiprocessor-suspend", "1"],
    ["control/platform-feature-xs_reset_watches", "1"],
  ];
  for (const [k, v] of keys) write(tx, `${home}/${k}`, v);
  ts.req(Op.TRANSACTION_END, ["T"], tx);

  const device = (kind: string, devid: number, backendKeys: string[], frontendKeys: string[]): void => {
    const fe = `${home}/device/${kind}/${devid}`;
    const be = `/local/domain/0/backend/${kind}/${d}/${devid}`;
    const lxd = `${lx}/device/${kind}/${devid}`;
    const t = start();
    ts.req(Op.RM, [fe], t);
    ts.req(Op.RM, [be], t);
    mknod(t, be, "n0", `r${d}`);
    mknod(t, fe, `n${d}`, "r0");
    write(t, `${lxd}/frontend`, fe);
    write(t, `${lxd}/backend`, be);
    write(t, `${be}/frontend`, fe);
    write(t, `${be}/frontend-id`, String(d));
    write(t, `${be}/online`, "1");
    write(t, `${be}/state`, "1");
    for (let i = 0; i < backendKeys.length; i += 2) write(t, `${be}/${backendKeys[i]}`, backendKeys[i + 1]!);
    write(t, `${fe}/backend`, be);
    write(t, `${fe}/backend-id`, "0");
    write(t, `${fe}/state`, "1");
    for (let i = 0; i < frontendKeys.length; i += 2) write(t, `${fe}/${frontendKeys[i]}`, frontendKeys[i + 1]!);
    ts.req(Op.TRANSACTION_END, ["T"], t);
    ts.req(Op.WATCH, [`${be}/state`, `be-${kind}-${devid}`]);
    write(0, `${be}/state`, "2");
    write(0, `${be}/hotplug-status`, "connected");
    ts.req(Op.UNWATCH, [`${be}/state`, `be-${kind}-${devid}`]);
  };
  device("vif", 0, ["script", "/etc/xen/scripts/vif-bridge", "mac", mac, "bridge", "xenbr0", "handle", "0", "type", "vif"], ["handle", "0", "mac", mac]);
  device(
    "vbd",
    51712,
    ["params", `/dev/vg0/guest-${d}`, "script", "/etc/xen/scripts/block", "mode", "w", "removable", "0", "bootable", "1", "type", "phy", "dev", "xvda", "device-type", "disk", "discard-enable", "1"],
    ["virtual-device", "51712", "device-type", "disk"],
  );
  ts.req(Op.INTRODUCE, [String(d), String(0x100000 + d), "1"]);
}

/** Boot `guests` guests (domids 1..guests) on a fresh Xenstored after the daemon's warm-up; requests and seconds. */
export function inprocBoot(guests: number, warmGuests = 300): { guests: number; requests: number; seconds: number; usPerRequest: number } {
  warmUp(warmGuests);
  const x = new Xenstored({ hypervisor: new EmulatedHypervisor(`0-${guests + 1}`) });
  const ts = new ScratchClient(x, "socket", 0);
  const t0 = performance.now();
  for (let d = 1; d <= guests; d++) guest(ts, d);
  const seconds = (performance.now() - t0) / 1000;
  return { guests, requests: ts.requests, seconds, usPerRequest: (seconds * 1e6) / ts.requests };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const guests = Number(process.argv[2] ?? 300);
  if (!Number.isInteger(guests) || guests < 1) {
    process.stderr.write("usage: inproc-boot.js GUESTS\n");
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(inprocBoot(guests))}\n`);
}
