/**
 * bin/tsxenstored started by a script modelled on xen's launch-xenstore
 * (daemon branch): the pid file is there when the daemon returns, the
 * script adjusts its OOM score, and xenstore-read -s / answers right after.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { BIN } from "../helpers/daemon.js";
import { cliUnavailable } from "../helpers/clients.js";
import { alive, cleanEnv, cleanUpAfterAll, readIfExists, stopDetached, tempDir, trackDetached } from "../helpers/proc.js";

cleanUpAfterAll();

const LAUNCH_XENSTORE = String.raw`#!/bin/bash
# Modelled on xen:tools/hotplug/Linux/launch-xenstore.in (daemon branch).
XENSTORED=${"$"}{XENSTORED:?}
RUNDIR=${"$"}{RUNDIR:?}
XEN_LOG_DIR=${"$"}{XEN_LOG_DIR:-$RUNDIR}

test_xenstore () {
	test -f $RUNDIR/xenstored.pid
	return $?
}

timeout_xenstore () {
	local time=0
	local timeout=30

	while [ $time -lt $timeout ] && ! test_xenstore ; do
		echo -n .
		time=$(($time+1))
		sleep 1
	done
	echo

	# Exit if we timed out
	if ! [ $time -lt $timeout ] ; then
		echo "Could not start $@"
		return 1
	fi

	return 0
}

test_xenstore && exit 0

[ "$XENSTORETYPE" = "" ] && XENSTORETYPE=daemon

/bin/mkdir -p $RUNDIR

[ "$XENSTORETYPE" = "daemon" ] && {
	[ -z "$XENSTORED_TRACE" ] || XENSTORED_ARGS="$XENSTORED_ARGS -T $XEN_LOG_DIR/xenstored-trace.log"
	[ -x "$XENSTORED" ] || {
		echo "No xenstored found"
		exit 1
	}
	XS_OOM_SCORE=-$((${"$"}{XENSTORED_OOM_MEM_THRESHOLD:-50} * 10))

	rm -f $RUNDIR/xenstored.pid

	echo -n Starting $XENSTORED...
	$XENSTORED --pid-file $RUNDIR/xenstored.pid $XENSTORED_ARGS

	systemd-notify --booted 2>/dev/null || timeout_xenstore $XENSTORED || exit 1
	XS_PID=${"`"}cat $RUNDIR/xenstored.pid${"`"}
	echo $XS_OOM_SCORE >/proc/$XS_PID/oom_score_adj

	exit 0
}

echo "illegal value $XENSTORETYPE for XENSTORETYPE"
exit 1
`;

test("a launch-xenstore-style script starts the daemon; xenstore-read -s / answers right after", { skip: cliUnavailable() ?? false }, async () => {
  const dir = tempDir();
  const script = join(dir, "launch-xenstore");
  writeFileSync(script, LAUNCH_XENSTORE, { mode: 0o755 });
  const rundir = join(dir, "run");
  const env = cleanEnv({ XENSTORED: BIN, RUNDIR: rundir, XENSTORED_RUNDIR: rundir, XENSTORED_TRACE: "1", XENSTORED_ARGS: "--domains 0-63" });
  const started = Date.now();
  const r = spawnSync("bash", [script], { env, encoding: "utf8", timeout: 40000 });
  const elapsed = Date.now() - started;
  const pidText = readIfExists(join(rundir, "xenstored.pid"));
  const pid = Number(pidText);
  if (pid > 0) trackDetached(pid);
  try {
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    // The pid file was there when the daemon returned: no "." from the wait loop, no second of sleep.
    assert.equal(r.stdout, `Starting ${BIN}...\n`);
    assert.ok(elapsed < 10000, `the script took ${elapsed} ms`);
    assert.match(pidText ?? "", /^\d+\n$/);
    assert.ok(alive(pid));
    // Lowering an OOM score needs CAP_SYS_RESOURCE, which a container may lack.
    const canLower = spawnSync("sh", ["-c", "echo -1 > /proc/$$/oom_score_adj"], { stdio: "ignore" }).status === 0;
    if (canLower) assert.equal(readFileSync(`/proc/${pid}/oom_score_adj`, "latin1").trim(), "-500", "the script adjusted the daemon's OOM score through the pid file");
    // Otherwise the write is refused, but /proc/<pid>/oom_score_adj opened: the pid file named a live process.
    else assert.match(r.stderr, /^[^\n]*write error: Permission denied\n$/, r.stderr);
    const read = spawnSync("xenstore-read", ["-s", "/"], { env: cleanEnv({ XENSTORED_RUNDIR: rundir }), encoding: "utf8", timeout: 10000 });
    assert.equal(read.status, 0, read.stderr);
    assert.equal(read.stdout, "\n");
    assert.ok(existsSync(join(rundir, "xenstored-trace.log")), "XENSTORED_TRACE added -T");
    // Run again: already running, exits 0 at once without starting another.
    const again = spawnSync("bash", [script], { env, encoding: "utf8", timeout: 40000 });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, "");
    assert.equal(readIfExists(join(rundir, "xenstored.pid")), pidText);
  } finally {
    if (pid > 0 && alive(pid)) await stopDetached(pid);
  }
  assert.equal(existsSync(join(rundir, "xenstored.pid")), false, "pid file removed at exit");
  assert.equal(existsSync(join(rundir, "socket")), false, "socket removed at exit");
});
