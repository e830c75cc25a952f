/**
 * The emulated Xen host: tsxenstored --emulate, the upstream cxenstored
 * under tsxs-emu run, and guests made by tsxs-guest, each with a real
 * shared ring page and event channel. Real clients (xenstore-*, pyxs,
 * test-xenstore) run as guest domains through their guest's ring and get
 * the same answers from tsxenstored and from cxenstored; a destroyed guest
 * fires @releaseDomain and its nodes go.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";
import { TEST_XENSTORE, runWith } from "./helpers/daemon.js";
import { cliUnavailable, pyxsUnavailable, runPython, startAsync } from "./helpers/clients.js";
import { emulationUnavailable, startEmulatedHost, startGuest, type HostDaemon } from "./helpers/emulated.js";
import { waitUntil } from "./helpers/proc.js";

const skipOurs = emulationUnavailable("tsxenstored") ?? cliUnavailable() ?? false;
const skipCx = emulationUnavailable("cxenstored") ?? cliUnavailable() ?? false;

/** What a guest's clients see: the same script against each daemon. */
async function asGuest(daemon: HostDaemon): Promise<string[]> {
  const host = await startEmulatedHost(daemon);
  const out: string[] = [];
  try {
    const g = await startGuest(host, 5);
    const run = (cmd: string, ...args: string[]): void => {
      const r = runWith(g.socket, cmd, args);
      out.push(`${cmd} ${args.join(" ")} -> ${r.status} ${JSON.stringify(r.stdout)} ${JSON.stringify(r.stderr.replace(/^.*: /, ""))}`);
    };
    run("xenstore-read", "name");
    run("xenstore-read", "domid");
    run("xenstore-write", "data/x", "hello");
    run("xenstore-read", "/local/domain/5/data/x");
    run("xenstore-ls", "-p", "/local/domain/5/data");
    run("xenstore-write", "name", "not mine");
    run("xenstore-read", "/tool/xenstored");
    run("xenstore-list", "/local/domain");
    run("xenstore-exists", "/local/domain/0");
    run("xenstore-rm", "data/x");
    run("xenstore-exists", "data/x");
    run("xenstore-chmod", "data", "n5", "r0");
    const dom0 = runWith(host.socket, "xenstore-ls", ["-p", "/local/domain/5"]);
    out.push(`dom0 sees: ${dom0.stdout}`);
    // A watch through the ring: the initial event, then dom0's change.
    const w = startAsync(g.socket, "xenstore-watch", ["-n", "2", "data"]);
    await waitUntil(() => w.stdout().includes("data"), "the initial event", 10000);
    runWith(host.socket, "xenstore-write", ["/local/domain/5/data/y", "1"]);
    const watched = await w.done;
    out.push(`watch: ${watched.stdout.trim().split("\n").join(" | ")}`);
    // The guest goes: @releaseDomain, and the nodes it owns go with it.
    const rel = startAsync(host.socket, "xenstore-watch", ["-n", "2", "@releaseDomain"]);
    await waitUntil(() => rel.stdout().includes("@releaseDomain"), "the initial @releaseDomain event", 10000);
    await g.stop();
    const released = await rel.done;
    out.push(`release: ${released.stdout.trim().split("\n").join(" | ")}`);
    out.push(`after: ${JSON.stringify(runWith(host.socket, "xenstore-ls", ["/local/domain"]).stdout)}`);
  } finally {
    await host.stop();
  }
  return out;
}

test("xenstore-* clients run as an emulated guest through its ring: tsxenstored answers as cxenstored does", { skip: skipOurs || skipCx }, async () => {
  const ours = await asGuest("tsxenstored");
  const cx = await asGuest("cxenstored");
  assert.deepEqual(ours, cx);
  if (process.env.SHOW) writeFileSync(process.env.SHOW, ours.join("\n"));
  // And what that is, so that a change on both sides alike shows too.
  assert.match(ours[0]!, /^xenstore-read name -> 0 "guest5\\n"/);
  assert.match(ours[6]!, /^xenstore-read \/tool\/xenstored -> 1 /);
  assert.match(ours.find((l) => l.startsWith("release:"))!, /@releaseDomain \| @releaseDomain/);
});

test("tsxenstored --emulate alone: a guest's xenstore-* work, and so does its release", { skip: skipOurs }, async () => {
  const out = await asGuest("tsxenstored");
  assert.match(out.join("\n"), /xenstore-write data\/x hello -> 0/);
  assert.match(out.join("\n"), /xenstore-write name not mine -> 1/);
});

for (const daemon of ["tsxenstored", "cxenstored"] as const) {
  const skip = (daemon === "tsxenstored" ? skipOurs : skipCx) || false;
  test(`test-xenstore and pyxs as an emulated guest of ${daemon} (the guest owning its home)`, { skip }, async () => {
    const host = await startEmulatedHost(daemon);
    try {
      const g = await startGuest(host, 7, { ownHome: true });
      const r = runWith(g.socket, TEST_XENSTORE, ["-i", "2"]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /failed/);
      if (!pyxsUnavailable()) {
        const py = await runPython(
          g.socket,
          `
from pyxs import Client
with Client() as c:
    c.write(b"data/py", b"1")
    print(c.read(b"data/py").decode(), c.get_domain_path(7).decode())
    try:
        c.read(b"/tool/xenstored")
    except Exception as e:
        print("error", e.args[0])
`,
        );
        assert.equal(py.stdout, "1 /local/domain/7\nerror 13\n");
      }
      await g.stop();
    } finally {
      await host.stop();
    }
  });
}
