/**
 * The systemd units from bin/tsxenstored --print-units: the notify service
 * and both socket units, the real path through a symlink, --prefix DIR, and
 * systemd-analyze verify.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { BIN, haveCommand } from "../helpers/daemon.js";
import { cleanEnv, cleanUpAfterAll, tempDir } from "../helpers/proc.js";
import { nodeCommand, shebangFlags } from "../../src/system/units.js";

cleanUpAfterAll();

function printUnits(args: string[], env: NodeJS.ProcessEnv, bin = BIN): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { env: cleanEnv(env), encoding: "utf8", timeout: 15000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Split `# name\n<text>\n` sections. */
function sections(out: string): Record<string, string> {
  const res: Record<string, string> = {};
  const parts = out.split(/^# (\S+)\n/m);
  assert.equal(parts[0], "", `output starts with a "# name" line: ${out}`);
  // Each unit's text is followed by an empty line.
  for (let i = 1; i < parts.length; i += 2) res[parts[i]!] = parts[i + 1]!.replace(/\n$/, "");
  return res;
}

/** The key=value lines of one [section] of a unit file. */
function unitSection(text: string, name: string): string[] {
  const m = new RegExp(`^\\[${name}\\]\\n([^[]*)`, "m").exec(text);
  assert.ok(m, `[${name}] in\n${text}`);
  return m[1]!.split("\n").filter((l) => l && !l.startsWith("#"));
}

test("--print-units prints the notify service and both socket units for this installation", () => {
  const rundir = "/run/tsxs-units-test";
  const r = printUnits(["--print-units"], { XENSTORED_RUNDIR: rundir });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  const u = sections(r.stdout);
  assert.deepEqual(Object.keys(u), ["xenstored.service", "xenstored.socket", "xenstored_ro.socket"]);
  const service = unitSection(u["xenstored.service"]!, "Service");
  assert.ok(service.includes("Type=notify"), service.join("\n"));
  const exec = service.filter((l) => l.startsWith("ExecStart="));
  assert.equal(exec.length, 1);
  // Node.js by absolute path, with the executable's flags: systemd's PATH need not find node.
  assert.equal(exec[0], `ExecStart=${process.execPath} ${realpathSync(BIN)} --no-fork $XENSTORED_ARGS`);
  assert.match(readFileSync(BIN, "utf8"), /^#!\/usr\/bin\/env node\n/, "no flags on the #! line, none in the unit");
  assert.ok(service.includes(`Environment=XENSTORED_RUNDIR=${rundir}`), service.join("\n"));
  const unit = unitSection(u["xenstored.service"]!, "Unit");
  assert.ok(unit.some((l) => /^Requires=.*\bxenstored\.socket\b/.test(l)), unit.join("\n"));

  const rw = unitSection(u["xenstored.socket"]!, "Socket");
  for (const l of [`ListenStream=${rundir}/socket`, "SocketMode=0600", "FileDescriptorName=socket", "Service=xenstored.service"]) assert.ok(rw.includes(l), `${l} in\n${rw.join("\n")}`);
  const ro = unitSection(u["xenstored_ro.socket"]!, "Socket");
  for (const l of [`ListenStream=${rundir}/socket_ro`, "SocketMode=0660", "FileDescriptorName=socket_ro", "Service=xenstored.service"]) assert.ok(ro.includes(l), `${l} in\n${ro.join("\n")}`);
  // The default rundir when XENSTORED_RUNDIR is unset.
  const def = sections(printUnits(["--print-units"], {}).stdout);
  assert.ok(unitSection(def["xenstored.socket"]!, "Socket").includes("ListenStream=/var/run/xenstored/socket"));
});

test("--print-units through a symlink (npm i -g) names the real absolute path of bin/tsxenstored", () => {
  const dir = tempDir();
  const link = join(dir, "tsxenstored");
  symlinkSync(BIN, link);
  const r = printUnits(["--print-units"], { XENSTORED_RUNDIR: "/run/xenstored" }, link);
  assert.equal(r.status, 0, r.stderr);
  const exec = unitSection(sections(r.stdout)["xenstored.service"]!, "Service").find((l) => l.startsWith("ExecStart="))!;
  const [node, path = ""] = exec.slice("ExecStart=".length).split(" ");
  assert.equal(node, process.execPath);
  assert.ok(path.startsWith("/"), exec);
  assert.equal(realpathSync(path), realpathSync(BIN));
  assert.ok((statSync(path).mode & 0o111) !== 0, `${path} is executable`);
});

test("--print-units --prefix DIR writes the three unit files; --prefix alone exits 2", async (t) => {
  const dir = tempDir();
  const out = join(dir, "units");
  const env = { XENSTORED_RUNDIR: "/run/xenstored" };
  const r = printUnits(["--print-units", "--prefix", out], env);
  assert.equal(r.status, 0, r.stderr);
  const names = ["xenstored.service", "xenstored.socket", "xenstored_ro.socket"];
  assert.deepEqual(readdirSync(out).sort(), [...names].sort());
  assert.equal(r.stdout, names.map((n) => `wrote ${join(out, n)}\n`).join(""));
  const printed = sections(printUnits(["--print-units"], env).stdout);
  for (const n of names) {
    assert.equal(readFileSync(join(out, n), "utf8"), printed[n], `${n} is what --print-units prints`);
    assert.equal((statSync(join(out, n)).mode & 0o777).toString(8), "644");
  }

  const bad = printUnits(["--prefix", out], env);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--prefix only goes with --print-units/);
  assert.equal(bad.stdout, "");
  const badN = printUnits(["-N", "--prefix", join(dir, "other")], env);
  assert.equal(badN.status, 2, badN.stderr);
  assert.equal(existsSync(join(dir, "other")), false);

  // systemd-analyze verify, when it can run here.
  const why = ((): string | null => {
    if (!haveCommand("systemd-analyze")) return "systemd-analyze not installed";
    const probe = join(dir, "probe");
    mkdirSync(probe);
    writeFileSync(join(probe, "tsxs-probe.service"), "[Service]\nType=oneshot\nExecStart=/bin/true\n");
    const p = spawnSync("systemd-analyze", ["verify", "--man=no", join(probe, "tsxs-probe.service")], { encoding: "utf8", timeout: 30000 });
    return p.status === 0 ? null : `systemd-analyze verify cannot run here: ${p.stderr.trim()}`;
  })();
  await t.test("systemd-analyze verify accepts the generated units", { skip: why ?? false }, () => {
    const v = spawnSync("systemd-analyze", ["verify", "--man=no", ...names.map((n) => join(out, n))], { encoding: "utf8", timeout: 30000 });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stderr.trim(), "", "no warnings");
  });
});

test("the unit's node command carries the flags of the executable's #! line (none, one or several; an unreadable file has none)", () => {
  const dir = tempDir("shebang");
  const file = (name: string, first: string): string => {
    writeFileSync(join(dir, name), `${first}\nimport "x";\n`);
    return join(dir, name);
  };
  assert.deepEqual(shebangFlags(file("none", "#!/usr/bin/env node")), []);
  assert.deepEqual(shebangFlags(file("two", "#!/usr/bin/env -S node --max-semi-space-size=8  --stack-size=2000")), ["--max-semi-space-size=8", "--stack-size=2000"]);
  assert.deepEqual(shebangFlags(join(dir, "missing")), []);
  assert.equal(nodeCommand(join(dir, "two")), `${process.execPath} --max-semi-space-size=8 --stack-size=2000`);
  assert.equal(nodeCommand(join(dir, "none")), process.execPath);
});
