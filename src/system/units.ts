/**
 * systemd units for tsxenstored, generated with this installation's paths:
 * a Type=notify service and the two socket units (read-write 0600,
 * read-only 0660) for socket activation.
 */
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface UnitOptions {
  /** Absolute path of the tsxenstored executable. */
  exec: string;
  /** The Node.js runtime and its flags: systemd's PATH need not find `node`. */
  node: string;
  rundir: string;
}

export function defaultExec(): string {
  return realpathSync(process.argv[1] ?? "tsxenstored");
}

/** The Node.js flags the executable's `#!/usr/bin/env -S node ...` line gives it (none if unreadable). */
export function shebangFlags(exec: string): string[] {
  try {
    const first = readFileSync(exec, "utf8").split("\n", 1)[0] ?? "";
    return (/^#!\S*env -S node\b(.*)$/.exec(first)?.[1] ?? "").split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** This Node.js, with the flags the executable's `#!/usr/bin/env -S node ...` line gives it. */
export function nodeCommand(exec: string): string {
  return [process.execPath, ...shebangFlags(exec)].join(" ");
}

export function units(o: UnitOptions): Record<string, string> {
  return {
    "xenstored.service": `[Unit]
Description=The Xen xenstore (tsxenstored)
Documentation=https://xenbits.xen.org/docs/unstable/misc/xenstore.txt
Requires=xenstored.socket
Wants=xenstored_ro.socket
After=xenstored.socket xenstored_ro.socket proc-xen.mount
Before=libvirtd.service libvirt-guests.service
RefuseManualStop=true

[Service]
Type=notify
NotifyAccess=main
Environment=XENSTORED_RUNDIR=${o.rundir}
EnvironmentFile=-/etc/default/xencommons
EnvironmentFile=-/etc/sysconfig/xencommons
ExecStart=${o.node} ${o.exec} --no-fork $XENSTORED_ARGS
ExecReload=/bin/kill -HUP $MAINPID
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
Also=xenstored.socket xenstored_ro.socket
`,
    "xenstored.socket": socketUnit("read-write", `${o.rundir}/socket`, "0600", "socket"),
    "xenstored_ro.socket": socketUnit("read-only", `${o.rundir}/socket_ro`, "0660", "socket_ro"),
  };
}

function socketUnit(kind: string, path: string, mode: string, fdName: string): string {
  return `[Unit]
Description=The Xen xenstore ${kind} socket (tsxenstored)

[Socket]
ListenStream=${path}
SocketMode=${mode}
FileDescriptorName=${fdName}
Service=xenstored.service

[Install]
WantedBy=sockets.target
`;
}

/** Print the units, or write them into `dir` (e.g. /etc/systemd/system). */
export function emitUnits(o: UnitOptions, dir: string | null, out: (s: string) => void): void {
  const all = units(o);
  if (!dir) {
    for (const [name, text] of Object.entries(all)) out(`# ${name}\n${text}\n`);
    return;
  }
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(all)) {
    writeFileSync(join(dir, name), text, { mode: 0o644 });
    out(`wrote ${join(dir, name)}\n`);
  }
}
