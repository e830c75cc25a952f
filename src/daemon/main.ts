/**
 * tsxenstored's entry point. One binary for every init system:
 * - systemd: inherited sockets (socket activation) and sd_notify readiness;
 * - legacy init / launch-xenstore: detach, and return only once ready;
 * - foreground (-N).
 */
import { closeSync, writeFileSync, writeSync } from "node:fs";
import { EmulatedHypervisor } from "../hypervisor/emulated.js";
import type { Hypervisor } from "../hypervisor/hypervisor.js";
import { openEmulatedHost } from "../hypervisor/emulation.js";
import { XenHypervisor, xenPresent } from "../hypervisor/xen.js";
import { Xenstored } from "../server/xenstored.js";
import { ActivationError, takeListenFds, type InheritedSockets } from "../system/activation.js";
import { isDaemonChild, launch, reportToLauncher } from "../system/daemonize.js";
import { PidFile, PidFileError } from "../system/pidfile.js";
import { Notifier } from "../system/sdnotify.js";
import { defaultExec, emitUnits, nodeCommand } from "../system/units.js";
import { createUnixListener } from "../transport/listeners.js";
import { socketAnswers, type SocketListener } from "../transport/unix.js";
import { DurableState } from "../server/durable.js";
import { describeAddress as inspectorAt } from "../inspect/address.js";
import type { InspectServer } from "../inspect/server.js";
import { HeapReturn } from "../system/heap-return.js";
import { idlePollStats, setIdlePoll } from "../system/idle-poll.js";
import { ColdSubtreeCompactor, compactInBackground } from "../store/compactor.js";
import { lockStateDir } from "../system/statelock.js";
import type { MetricsServer } from "../metrics/http.js";
import { describeAddress } from "../metrics/address.js";
import { Notices } from "../util/notices.js";
import { parseOptions, USAGE, UsageError, type DaemonOptions } from "./options.js";
import { Tracer } from "./trace.js";
import { warmUp } from "./warmup.js";

export interface Daemon {
  readonly xenstored: Xenstored;
  readonly listeners: SocketListener[];
  /** The inspector page's server (--inspect), or null. */
  readonly inspector: InspectServer | null;
  /** The metrics listener (--metrics), if any. */
  readonly metrics: MetricsServer | null;
  /** SIGHUP: reopen the trace file and the structured log. */
  reopenLogs(): void;
  /** `why`: what asked for it (a signal's name), for the log. */
  shutdown(why?: string): Promise<void>;
}

export interface StartOptions {
  /** Sockets passed by systemd, used instead of creating our own. */
  inherited?: InheritedSockets | null;
  /** Diagnostics sink (stderr in the foreground). */
  log?: (line: string) => void;
}

function memReport(x: Xenstored, tracer: Tracer, file: string | null): boolean {
  const target = file ?? tracer.path;
  if (!target) return false;
  const m = process.memoryUsage();
  const text =
    `memreport ${new Date().toISOString()}\n` +
    `  rss ${m.rss} heapUsed ${m.heapUsed} heapTotal ${m.heapTotal} external ${m.external}\n` +
    `  nodes ${x.store.tallies.total()} revision ${x.store.revision} connections ${x.connections.size} watches ${x.watches.size}\n`;
  try {
    writeFileSync(target, text, { flag: "a", mode: 0o600 });
    return true;
  } catch {
    return false;
  }
}

/**
 * The hypervisor to serve: Xen when this is a Xen host's dom0 (unless -D
 * or an emulated domain list says otherwise), else the emulated domain
 * table. A Xen host whose Xen interface cannot be opened is an error, not
 * a reason to serve sockets only.
 */
function chooseHypervisor(opts: DaemonOptions, log: (line: string) => void): Hypervisor {
  const emulated = (): Hypervisor => new EmulatedHypervisor(opts.domains, opts.domainsFile);
  if (opts.emulate) {
    const host = openEmulatedHost(opts.emulate, log);
    if (host instanceof Error) throw new Error(`the emulated Xen host in ${opts.emulate}: ${host.message}`);
    return host;
  }
  if (opts.noDomainInit || opts.domains !== null || opts.domainsFile !== null) return emulated();
  if (!xenPresent()) return emulated();
  const xen = XenHypervisor.open({ log });
  if (xen instanceof Error) throw new Error(`this is a Xen host, but its hypervisor interface cannot be opened: ${xen.message}`);
  return xen;
}

/** Build the store, open (or adopt) the sockets, write the pid file. */
export async function startDaemon(opts: DaemonOptions, start: StartOptions = {}): Promise<Daemon> {
  const tracer = new Tracer(opts.traceFile);
  tracer.reopen();
  const sink = start.log ?? ((line: string) => process.stderr.write(`tsxenstored: ${line}\n`));
  const log = (line: string): void => {
    tracer.line(line);
    if (opts.verbose) sink(line);
  };
  // Said once at start whatever -V says: a reader of the log must know whether guests are served.
  const announce = (line: string): void => {
    tracer.line(line);
    sink(line);
  };
  const notices = new Notices();
  // The JSON log, the metrics and the inspector are loaded only when asked
  // for: their libraries cost a daemon without them ~18 MiB resident.
  const jsonLog = opts.logFile ? new (await import("../metrics/log.js")).JsonLog(opts.logFile, opts.logLevel) : null;
  jsonLog?.attach(notices);
  let hypervisor: Hypervisor;
  try {
    hypervisor = chooseHypervisor(opts, log);
  } catch (e) {
    jsonLog?.close();
    throw e;
  }
  const xenstored: Xenstored = new Xenstored({
    notices,
    hypervisor,
    quotas: opts.quotas,
    privDomid: opts.privDomid,
    masterDomid: opts.masterDomid,
    keepOrphans: opts.keepOrphans,
    watchEventTimeout: opts.watchEventTimeout,
    trace: opts.traceFile ? (c, d, p) => tracer.io(c, d, p) : undefined,
    log,
    control: {
      logOn: () => tracer.reopen(),
      logOff: () => tracer.close(),
      setLogFile: (f) => tracer.setFile(f),
      memReport: (f): boolean => memReport(xenstored, tracer, f),
    },
  });
  const endpoint = xenstored.endpoint;
  // The journal could not be written after all (a disk error): nothing more
  // may be acknowledged; what was is durable, and a restart carries on from it.
  const fatal = (e: Error): never => {
    announce(`the journal in ${opts.stateDir} failed (${e.message}): stopping`);
    notices.emit("error", "journal-failed", { dir: opts.stateDir, error: e.message });
    process.exit(1);
  };
  const pidFile = opts.pidFile ? PidFile.claim(opts.pidFile) : null;
  const listeners: SocketListener[] = [];
  let metrics: MetricsServer | null = null;
  // Packs cold subtrees once the daemon serves (below).
  const compactor = new ColdSubtreeCompactor();
  if (opts.metrics) {
    const [{ MetricsServer }, { DaemonMetrics }] = await Promise.all([import("../metrics/http.js"), import("../metrics/prometheus.js")]);
    metrics = new MetricsServer(opts.metrics, new DaemonMetrics(xenstored, { packing: () => compactor.totals, idlePoll: idlePollStats }), log);
  }
  const inherited = start.inherited ?? null;
  let durable: DurableState | null = null;
  let stateLock: number | null = null;
  let inspector: InspectServer | null = null;
  let metricsAt: string | null = null;
  try {
    // A running daemon's socket says so before its state directory does.
    if (!inherited && (await socketAnswers(opts.socketPath))) throw new Error(`${opts.socketPath} is in use: another xenstored is running`);
    if (opts.durability !== "off") {
      durable = DurableState.open(xenstored, { dir: opts.stateDir, mode: opts.durability, log, onFatal: (e) => fatal(e) });
      stateLock = lockStateDir(opts.stateDir);
      const r = durable.recover();
      for (const why of r.damage) {
        announce(`state: ${why}`);
        notices.emit("warn", "recovery-damage", { dir: opts.stateDir, detail: why });
      }
      if (r.recovered) {
        announce(`recovered revision ${r.revision} from ${opts.stateDir} (${r.replayed} commits replayed, ${r.ms.toFixed(0)} ms)`);
        notices.emit("info", "recovery", { dir: opts.stateDir, revision: r.revision, replayed: r.replayed, ms: Math.round(r.ms) });
      }
    }
    if (!opts.noDomainInit) {
      const failed = xenstored.attachLocalRing(durable?.localRingRecovered ?? false);
      if (failed) throw new Error(`cannot serve dom0's ring: ${failed.message}`);
    }
    durable?.reattachGuests();
    // Listening before the sockets accept, so a client that finds the daemon finds its inspector.
    if (opts.inspect) {
      const { InspectServer } = await import("../inspect/server.js");
      inspector = await InspectServer.start(xenstored.inspectSource(), opts.inspect, { log });
      announce(`inspector on ${inspectorAt(inspector.address)}`);
    }
    if (opts.warmUp > 0) {
      const w = warmUp(opts.warmUp);
      log(`warmed up: ${w.guests} guests, ${w.requests} requests on a scratch store in ${w.ms.toFixed(0)} ms`);
    }
    // The read-write socket (0600) and the read-only one (0660).
    const listener = (path: string | null, readonly: boolean): SocketListener => {
      const l = createUnixListener(endpoint, path, { readonly, mode: readonly ? 0o660 : 0o600 }, opts.socketIo);
      listeners.push(l);
      return l;
    };
    if (inherited) {
      await listener(null, false).adopt(inherited.rw);
      if (inherited.ro !== null) await listener(null, true).adopt(inherited.ro);
    } else {
      listener(opts.socketPath, false);
      if (opts.roSocketPath) listener(opts.roSocketPath, true);
      for (const l of listeners) await l.listen();
    }
    await durable?.start();
    if (metrics) {
      const where = await metrics.listen().catch((e: Error) => {
        throw new Error(`--metrics ${describeAddress(opts.metrics!)}: ${e.message}`);
      });
      metricsAt = describeAddress(where);
      announce(`metrics on ${metricsAt}`);
    }
  } catch (e) {
    await inspector?.close();
    await metrics?.close();
    jsonLog?.close();
    await Promise.all(listeners.map((l) => l.close()));
    hypervisor.rings?.close();
    if (stateLock !== null) closeSync(stateLock);
    pidFile?.release();
    throw e;
  }
  pidFile?.write();
  log(`ready: ${inherited ? "sockets from systemd" : `socket ${opts.socketPath}`}`);
  announce(hypervisor.description);
  notices.emit("info", "daemon-start", {
    pid: process.pid,
    socket: inherited ? null : opts.socketPath,
    durability: opts.durability,
    hypervisor: hypervisor.description,
    metrics: metricsAt,
  });
  // Cold guests' trees packed a subtree to a string: the store's memory at 10,000 guests.
  // TSXS_PACK_INTERVAL_MS: the differential tests pack far more often than a
  // host needs, and small stores too, so that what they compare with cx is
  // read and changed packed.
  const packEvery = Number(process.env.TSXS_PACK_INTERVAL_MS) || undefined;
  const packing = compactInBackground(() => xenstored.store.root, {
    compactor,
    intervalMs: packEvery,
    resumeMs: packEvery,
    storeNodes: () => xenstored.store.tallies.total(),
    minNodes: packEvery === undefined ? undefined : 0,
    packed: (units, bytes, totals) => log(`packed ${units} cold subtrees into ${bytes} bytes (${totals.units} in ${totals.bytes} bytes since the start)`),
  });
  // Requests in bursts meet a running CPU, not one woken for each (src/system/idle-poll.ts).
  if (opts.idlePoll > 0 && !setIdlePoll(opts.idlePoll)) log("idle polling: the native addon is missing, off");
  // Idle once requests have stopped and the packing they caused is done: what it thawed is garbage then.
  const heapReturn = new HeapReturn({ activity: () => xenstored.stats.requests + compactor.totals.units, log }).start();
  let stopping: Promise<void> | null = null;
  return {
    xenstored,
    listeners,
    inspector,
    metrics,
    reopenLogs() {
      xenstored.services.control.logOn();
      jsonLog?.reopen();
    },
    shutdown(why) {
      stopping ??= (async () => {
        notices.emit("info", "daemon-stop", { reason: why ?? "shutdown", requests: xenstored.stats.requests, revision: xenstored.store.revision });
        heapReturn.stop();
        packing.stop();
        if (opts.idlePoll > 0) setIdlePoll(0);
        await metrics?.close();
        // Replies to everything already processed go out first (bounded wait),
        // including what waits in the daemon for a client whose socket is full;
        // nothing more is processed.
        xenstored.pipeline.stop();
        await inspector?.close();
        for (const l of listeners) l.quiesce();
        // Everything committed is in the journal (and synced) before the last replies go.
        durable?.close();
        xenstored.pipeline.releaseHeldOutput();
        await Promise.all(listeners.map((l) => l.close()));
        pidFile?.release();
        hypervisor.rings?.close();
        if (stateLock !== null) closeSync(stateLock);
        await tracer.end();
        jsonLog?.close();
      })();
      return stopping;
    },
  };
}

export async function main(argv: readonly string[]): Promise<number> {
  let opts;
  try {
    opts = parseOptions(argv, process.env);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tsxenstored: ${e.message}\nTry 'tsxenstored --help' for more information.\n`);
      return 2;
    }
    throw e;
  }
  if (opts === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!("socketPath" in opts)) {
    const exec = defaultExec();
    emitUnits({ exec, node: nodeCommand(exec), rundir: opts.rundir }, opts.prefix, (s) => process.stdout.write(s));
    return 0;
  }
  const child = isDaemonChild(process.env);
  if (!opts.foreground && !child) return launch(process.argv[1]!, argv, { printPid: opts.outputPid });
  // A detached daemon's stderr is the launcher's pipe, which goes away.
  if (child) process.stderr.on("error", () => {});

  const notifier = new Notifier(process.env, (l) => process.stderr.write(`tsxenstored: ${l}\n`));
  // Catch SIGTERM/SIGINT before the pid file and sockets appear: a service manager may
  // signal as soon as it sees them, and the default action would leave both behind.
  let stopRequested = false;
  let stop: () => void = () => {
    stopRequested = true;
  };
  let signal = "SIGTERM";
  process.once("SIGTERM", () => stop());
  process.once("SIGINT", () => {
    signal = "SIGINT";
    stop();
  });
  let daemon: Daemon;
  try {
    const inherited = takeListenFds(process.env);
    daemon = await startDaemon(opts, {
      inherited,
      // A detached daemon has nowhere to print once its launcher has gone.
      log: child ? () => {} : undefined,
    });
  } catch (e) {
    const known = e instanceof ActivationError || e instanceof PidFileError;
    const msg = known ? (e as Error).message : `cannot start: ${(e as Error).message}`;
    if (child) reportToLauncher(msg);
    else process.stderr.write(`tsxenstored: ${msg}\n`);
    return 1;
  }
  notifier.ready(`Serving xenstore on ${daemon.listeners.length} socket(s)`);
  if (child) {
    process.chdir("/");
    reportToLauncher(null);
  } else if (opts.outputPid) writeSync(1, `${process.pid}\n`);
  return new Promise<number>((resolve) => {
    stop = (): void => {
      notifier.stopping();
      void daemon.shutdown(signal).then(() => resolve(0));
    };
    if (stopRequested) stop();
    process.on("SIGHUP", () => daemon.reopenLogs());
  });
}
