/**
 * tsxs: xenstore from the command line. A table of subcommands, each
 * handled by the module of its group:
 *
 *   tsxs read|write|ls|list|exists|rm|chmod|watch ...   the xenstore-* tools (xenstore.ts)
 *   tsxs dump [PATH] / tsxs restore FILE [--at PATH]     the tree as JSON (dump.ts)
 *   tsxs history ...                                     the daemon's history (history.ts)
 *
 * The daemon is found as libxenstore finds it ($XENSTORED_PATH, else
 * $XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket).
 */
import { runDump, runRestore } from "./dump.js";
import { runHistory } from "./history.js";
import { runXenstore, XENSTORE_VERBS } from "./xenstore.js";
import { runTop } from "./top.js";

type Handler = (argv: string[]) => Promise<number>;

/** Each subcommand and what runs it (with the arguments after its name). */
const SUBCOMMANDS: Record<string, { run: Handler; summary: string }> = {
  ...Object.fromEntries(XENSTORE_VERBS.map((v) => [v, { run: (argv: string[]) => runXenstore(v, argv), summary: `as xenstore-${v} (--json for JSON)` }])),
  dump: { run: runDump, summary: "[PATH] [--compact]: the tree with values and ACLs as JSON on stdout" },
  restore: { run: runRestore, summary: "FILE [--at PATH] [--batch N]: write a dump back" },
  history: { run: runHistory, summary: "log|diff|show|info|export ...: the daemon's history of changes" },
  top: { run: runTop, summary: "a live view of the daemon" },
};

function usage(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((k) => k.length));
  const lines = Object.entries(SUBCOMMANDS).map(([k, v]) => `  tsxs ${k.padEnd(width)}  ${v.summary}`);
  return `Usage: tsxs COMMAND [ARGS...]\n${lines.join("\n")}\n`;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || !Object.hasOwn(SUBCOMMANDS, name)) {
    if (name === "-h" || name === "--help") {
      process.stdout.write(usage());
      return 0;
    }
    process.stderr.write(`${name === undefined ? "" : `tsxs: unknown command ${name}\n`}${usage()}`);
    return 2;
  }
  return SUBCOMMANDS[name]!.run(rest);
}
