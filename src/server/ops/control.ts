/**
 * XS_CONTROL (`xenstore-control`): the command set and output formats of
 * cx 4.17 (tools/xenstore/xenstored_control.c), so operators' scripts see
 * the same text.
 */
import { atoi, countStrings, splitStrings } from "../../protocol/payload.js";
import type { QuotaKind, QuotaName } from "../../quota/quotas.js";
import { checkStore, memoryOwnedBy } from "../../quota/accounting.js";
import { fail, ok, str, type Request } from "../request.js";

/** Daemon-level actions CONTROL can trigger (trace file handling). */
export interface ControlHooks {
  logOn(): void;
  logOff(): void;
  setLogFile(path: string): void;
  /** Write a memory report; false when there is nowhere to write it (EBADF). */
  memReport(path: string | null): boolean;
}

interface Command {
  readonly pars: string;
  /** Changes daemon state: refused on the read-only socket. */
  readonly modifies: boolean;
  readonly maxPars?: number;
  run(req: Request, args: string[]): Buffer;
}

const HARD: readonly [string, QuotaName, string][] = [
  ["nodes", "nodes", "Nodes per domain"],
  ["watches", "watches", "Watches per domain"],
  ["transactions", "transactions", "Transactions per domain"],
  ["outstanding", "outstanding", "Outstanding requests per domain"],
  ["transaction-nodes", "transaction-nodes", "Max. number of accessed nodes per transaction"],
  ["memory", "memory", "Total Xenstore memory per domain (error level)"],
  ["node-size", "node-size", "Max. size of a node"],
  ["path-max", "path-max", "Max. length of a node path"],
  ["permissions", "node-permissions", "Max. number of permissions per node"],
];
const SOFT: readonly [string, QuotaName, string][] = [["memory", "memory", "Total Xenstore memory per domain (warning level)"]];

function pad(s: string, width: number, left = true): string {
  return left ? s.padEnd(width) : s.padStart(width);
}

function showQuotas(req: Request, table: typeof HARD, kind: QuotaKind): Buffer {
  let out = "Quota settings:\n";
  for (const [label, name, descr] of table) {
    out += `${pad(label, 17)}: ${pad(String(req.core.quotas.limit(name, null, kind)), 8, false)} ${descr}\n`;
  }
  return str(out);
}

function setQuota(req: Request, args: string[], table: typeof HARD, kind: QuotaKind): Buffer {
  if (args.length !== 2) fail("EINVAL");
  const val = atoi(args[1]!);
  if (val < 1) fail("EINVAL");
  const entry = table.find(([label]) => label === args[0]);
  if (!entry) fail("EINVAL");
  req.core.quotas.set(entry[1], val, null, kind);
  return ok();
}

function domainUsage(req: Request, domid: number): Buffer {
  const { core } = req;
  const d = core.domains.get(domid);
  const owned = core.store.ownedBy(domid);
  if (!d && owned === 0) fail("ENOENT");
  let watches = 0;
  let transactions = 0;
  let outstanding = 0;
  for (const c of core.allConnections()) {
    if (c.kind !== "domain" || c.domid !== domid) continue;
    watches += core.watches.count(c);
    transactions += c.transactions.size;
    outstanding += c.outstanding();
  }
  const line = (k: string, v: number): string => `${pad(k, 16)}: ${pad(String(v), 8, false)}\n`;
  const text =
    `Domain ${domid}:\n` +
    line("nodes", owned) +
    line("watches", watches) +
    line("transactions", transactions) +
    line("outstanding", outstanding) +
    line("memory", memoryOwnedBy(core, domid));
  return str(text);
}

const COMMANDS: Record<string, Command> = {
  check: {
    pars: "",
    modifies: false,
    run(req, args) {
      if (args.length) fail("EINVAL");
      checkStore(req.core);
      return ok();
    },
  },
  log: {
    pars: "on|off",
    modifies: true,
    run(req, args) {
      if (args.length !== 1) fail("EINVAL");
      if (args[0] === "on") req.core.control.logOn();
      else if (args[0] === "off") req.core.control.logOff();
      else fail("EINVAL");
      return ok();
    },
  },
  "live-update": {
    pars: "[-c <cmdline>] [-F] [-t <timeout>] <file>\n    Default timeout is 60 seconds.",
    modifies: true,
    maxPars: 5,
    run(_req, args) {
      if (args.length === 0) fail("EINVAL");
      return str("Live update is not available in this version of tsxenstored.");
    },
  },
  logfile: {
    pars: "<file>",
    modifies: true,
    run(req, args) {
      if (args.length !== 1) fail("EINVAL");
      req.core.control.setLogFile(args[0]!);
      return ok();
    },
  },
  memreport: {
    pars: "[<file>]",
    modifies: true,
    run(req, args) {
      if (args.length > 1) fail("EINVAL");
      // cx answers EBADF, which has no wire name and goes out as EINVAL.
      if (!req.core.control.memReport(args[0] ?? null)) fail("EINVAL");
      return ok();
    },
  },
  print: {
    pars: "<string>",
    modifies: true,
    run(req, args) {
      if (args.length !== 1) fail("EINVAL");
      req.core.log(`control: ${args[0]}`);
      return ok();
    },
  },
  quota: {
    pars: "[set <name> <val>|<domid>]",
    modifies: false,
    run(req, args) {
      if (args.length === 0) return showQuotas(req, HARD, "hard");
      if (args[0] === "set") {
        if (req.conn.readonly) fail("EACCES");
        return setQuota(req, args.slice(1), HARD, "hard");
      }
      if (args.length !== 1) fail("EINVAL");
      return domainUsage(req, atoi(args[0]!) >>> 0);
    },
  },
  "quota-soft": {
    pars: "[set <name> <val>]",
    modifies: false,
    run(req, args) {
      if (args.length === 0) return showQuotas(req, SOFT, "soft");
      if (args[0] === "set") {
        if (req.conn.readonly) fail("EACCES");
        return setQuota(req, args.slice(1), SOFT, "soft");
      }
      fail("EINVAL");
    },
  },
  help: {
    pars: "",
    modifies: false,
    run(_req, args) {
      if (args.length) fail("EINVAL");
      let out = "";
      for (const [name, cmd] of Object.entries(COMMANDS)) out += `${name}\t${cmd.pars}\n`;
      return str(out);
    },
  },
};

export function control(req: Request): Buffer {
  if (req.payload.indexOf(0) < 0) fail("EINVAL");
  const strings = splitStrings(req.payload);
  const cmd = Object.hasOwn(COMMANDS, strings[0]!) ? COMMANDS[strings[0]!]! : undefined;
  if (!cmd) fail("EINVAL");
  if (cmd.modifies && req.conn.readonly) fail("EACCES");
  let num = countStrings(req.payload);
  if (cmd.maxPars) num = Math.min(num, cmd.maxPars);
  return cmd.run(req, strings.slice(1, num));
}
