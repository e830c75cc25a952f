/**
 * tsxenstored's entry point: parse options, build the store, open the
 * sockets, write the pid file, and shut down cleanly on SIGTERM/SIGINT.
 */
import { writeFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { EmulatedHypervisor } from "../domains/hypervisor.js";
import { Core } from "../server/core.js";
import { UnixListener } from "../transport/unix.js";
import { parseOptions, USAGE, UsageError, type DaemonOptions } from "./options.js";
import { Tracer } from "./trace.js";

export interface Daemon {
  readonly core: Core;
  readonly listeners: UnixListener[];
  shutdown(): Promise<void>;
}

function memReport(core: Core, tracer: Tracer, file: string | null): boolean {
  const target = file ?? tracer.path;
  if (!target) return false;
  const m = process.memoryUsage();
  const text =
    `memreport ${new Date().toISOString()}\n` +
    `  rss ${m.rss} heapUsed ${m.heapUsed} heapTotal ${m.heapTotal} external ${m.external}\n` +
    `  nodes ${core.store.countNodes()} revision ${core.store.revision} connections ${core.connectionCount} watches ${core.watches.size}\n`;
  try {
    writeFileSync(target, text, { flag: "a", mode: 0o600 });
    return true;
  } catch {
    return false;
  }
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const tracer = new Tracer(opts.traceFile);
  tracer.reopen();
  const log = (line: string): void => {
    tracer.line(line);
    if (opts.verbose) process.stderr.write(`tsxenstored: ${line}\n`);
  };
  const core: Core = new Core({
    hypervisor: new EmulatedHypervisor(opts.domains, opts.domainsFile),
    quotas: opts.quotas,
    privDomid: opts.privDomid,
    keepOrphans: opts.keepOrphans,
    trace: opts.traceFile ? (c, d, p) => tracer.io(c, d, p) : undefined,
    log,
    control: {
      logOn: () => tracer.reopen(),
      logOff: () => tracer.close(),
      setLogFile: (f) => tracer.setFile(f),
      memReport: (f): boolean => memReport(core, tracer, f),
    },
  });
  const listeners = [new UnixListener(core, opts.socketPath, { readonly: false, mode: 0o600 })];
  if (opts.roSocketPath) listeners.push(new UnixListener(core, opts.roSocketPath, { readonly: true, mode: 0o660 }));
  for (const l of listeners) await l.listen();
  if (opts.pidFile) {
    const tmp = `${opts.pidFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${process.pid}\n`);
    renameSync(tmp, opts.pidFile);
  }
  log(`ready: socket ${opts.socketPath}`);
  let stopping: Promise<void> | null = null;
  return {
    core,
    listeners,
    shutdown() {
      stopping ??= (async () => {
        await Promise.race([Promise.all(listeners.map((l) => l.drain())), new Promise((r) => setTimeout(r, 1000))]);
        await Promise.all(listeners.map((l) => l.close()));
        if (opts.pidFile) rmSync(opts.pidFile, { force: true });
        await tracer.end();
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
  let daemon: Daemon;
  try {
    daemon = await startDaemon(opts);
  } catch (e) {
    process.stderr.write(`tsxenstored: cannot start: ${(e as Error).message}\n`);
    return 1;
  }
  if (opts.outputPid) writeSync(1, `${process.pid}\n`);
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      void daemon.shutdown().then(() => resolve(0));
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    process.on("SIGHUP", () => daemon.core.control.logOn());
  });
}
