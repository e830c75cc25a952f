/**
 * XS_CONTROL (`xenstore-control`): the command set and output formats of
 * cx 4.17 (tools/xenstore/xenstored_control.c), so operators' scripts see
 * the same text; and our own `history` (./history.ts).
 */
import type { Strings } from "../../protocol/requests.js";
import { CONTROL_ORDER, QUOTAS, type QuotaKind, type QuotaName } from "../../quota/quotas.js";
import { atoi } from "../../util/cparse.js";
import { fail, ok, str, type Request } from "../request.js";
import { HISTORY_USAGE, historyCommand } from "./history.js";
import { commitQuota } from "./quota.js";
import { STATS_USAGE, statsCommand } from "./stats.js";

interface Command {
  readonly pars: string;
  /** Left out of `help` (ours, not cx's). */
  readonly unlisted?: boolean;
  /** Changes daemon state: refused on the read-only socket. */
  readonly modifies: boolean;
  readonly maxPars?: number;
  run(req: Request, args: string[]): Buffer;
}

/** The quotas `quota` and `quota-soft` show and set, in cx's order, with cx's labels. */
function table(kind: QuotaKind): QuotaName[] {
  return CONTROL_ORDER.filter((n) => kind === "hard" || QUOTAS[n].soft !== undefined);
}

/** cx marks the memory quota's two levels in its description. */
function description(name: QuotaName, kind: QuotaKind): string {
  const d = QUOTAS[name].description;
  return name === "memory" ? `${d} (${kind === "hard" ? "error" : "warning"} level)` : d;
}

function pad(s: string, width: number, left = true): string {
  return left ? s.padEnd(width) : s.padStart(width);
}

function showQuotas(req: Request, kind: QuotaKind): Buffer {
  let out = "Quota settings:\n";
  for (const name of table(kind)) {
    out += `${pad(QUOTAS[name].label, 17)}: ${pad(String(req.svc.quotas.limit(name, null, kind)), 8, false)} ${description(name, kind)}\n`;
  }
  return str(out);
}

function setQuota(req: Request, args: string[], kind: QuotaKind): Buffer {
  if (args.length !== 2) fail("EINVAL");
  const val = atoi(args[1]!);
  if (val < 1) fail("EINVAL");
  const name = table(kind).find((n) => QUOTAS[n].label === args[0]);
  if (!name) fail("EINVAL");
  commitQuota(req, name, kind, null, val);
  return ok();
}

function domainUsage(req: Request, domid: number): Buffer {
  const { svc } = req;
  const d = svc.domains.get(domid);
  const owned = svc.store.ownedBy(domid);
  if (!d && owned === 0) fail("ENOENT");
  let watches = 0;
  let transactions = 0;
  let outstanding = 0;
  const conns = svc.connections.ofDomain(domid);
  for (const c of conns) {
    watches += svc.watches.count(c);
    transactions += c.transactions.size;
    outstanding += c.output.packets;
  }
  const line = (k: string, v: number): string => `${pad(k, 16)}: ${pad(String(v), 8, false)}\n`;
  const text =
    `Domain ${domid}:\n` +
    line("nodes", owned) +
    line("watches", watches) +
    line("transactions", transactions) +
    line("outstanding", outstanding) +
    line("memory", svc.memory.of(domid));
  return str(text);
}

const COMMANDS: Record<string, Command> = {
  check: {
    pars: "",
    modifies: false,
    run(req, args) {
      if (args.length) fail("EINVAL");
      const { store, log } = req.svc;
      if (!store.tallies.check(store.root)) log("check: node ownership and memory tallies were inconsistent; repaired");
      return ok();
    },
  },
  log: {
    pars: "on|off",
    modifies: true,
    run(req, args) {
      if (args.length !== 1) fail("EINVAL");
      if (args[0] === "on") req.svc.control.logOn();
      else if (args[0] === "off") req.svc.control.logOff();
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
      req.svc.control.setLogFile(args[0]!);
      return ok();
    },
  },
  memreport: {
    pars: "[<file>]",
    modifies: true,
    run(req, args) {
      if (args.length > 1) fail("EINVAL");
      // cx answers EBADF, which has no wire name and goes out as EINVAL.
      if (!req.svc.control.memReport(args[0] ?? null)) fail("EINVAL");
      return ok();
    },
  },
  print: {
    pars: "<string>",
    modifies: true,
    run(req, args) {
      if (args.length !== 1) fail("EINVAL");
      req.svc.log(`control: ${args[0]}`);
      return ok();
    },
  },
  quota: {
    pars: "[set <name> <val>|<domid>]",
    modifies: false,
    run(req, args) {
      if (args.length === 0) return showQuotas(req, "hard");
      if (args[0] === "set") {
        if (req.conn.readonly) fail("EACCES");
        return setQuota(req, args.slice(1), "hard");
      }
      if (args.length !== 1) fail("EINVAL");
      return domainUsage(req, atoi(args[0]!) >>> 0);
    },
  },
  "quota-soft": {
    pars: "[set <name> <val>]",
    modifies: false,
    run(req, args) {
      if (args.length === 0) return showQuotas(req, "soft");
      if (args[0] === "set") {
        if (req.conn.readonly) fail("EACCES");
        return setQuota(req, args.slice(1), "soft");
      }
      fail("EINVAL");
    },
  },
  history: {
    pars: HISTORY_USAGE,
    // Not in `help`: xenstore-control prints the help text to explain an unknown command, and it stays cx's.
    unlisted: true,
    // export writes a file: it refuses the read-only socket itself.
    modifies: false,
    run: historyCommand,
  },
  stats: {
    pars: STATS_USAGE,
    // Not in `help`, as history: the help text stays cx's.
    unlisted: true,
    modifies: false,
    run: statsCommand,
  },
  help: {
    pars: "",
    modifies: false,
    run(_req, args) {
      if (args.length) fail("EINVAL");
      let out = "";
      for (const [name, cmd] of Object.entries(COMMANDS)) if (!cmd.unlisted) out += `${name}\t${cmd.pars}\n`;
      return str(out);
    },
  },
};

export function control(req: Request, strings: Strings): Buffer {
  // No NUL at all: no command.
  if (strings.length === 0) fail("EINVAL");
  const cmd = Object.hasOwn(COMMANDS, strings[0]!) ? COMMANDS[strings[0]!]! : undefined;
  if (!cmd) fail("EINVAL");
  if (cmd.modifies && req.conn.readonly) fail("EACCES");
  let num = strings.length;
  if (cmd.maxPars) num = Math.min(num, cmd.maxPars);
  return cmd.run(req, strings.slice(1, num));
}
