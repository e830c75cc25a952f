/**
 * CONTROL stats (`xenstore-control stats [--after DOMID]`): the daemon's
 * figures (src/server/stats.ts) as one JSON object per reply, for `tsxs
 * top` and scripts. A reply is one packet: it holds the totals and as many
 * domain rows (by domid) as fit; when more remain, its `more` member says
 * how to continue (`{"after": 36}`: the same command with `--after 36`).
 * A row's `quota` is there only when the domain's quotas differ from the
 * global ones (`quotas`); a privileged domain's are all 0 (none).
 */
import { PAYLOAD_MAX } from "../../protocol/messages.js";
import { parseCount } from "../../util/cparse.js";
import { fail, str, type Request } from "../request.js";
import { daemonStats, domainStats, statsDomids, type DomainStats } from "../stats.js";

export const STATS_USAGE = "[--after <domid>]";

/** The reply text, without its NUL; room kept for `"more"`. */
const LIMIT = PAYLOAD_MAX - 1 - 32;

export function statsCommand(req: Request, args: string[]): Buffer {
  let after = -1;
  if (args.length === 2 && args[0] === "--after") {
    const n = parseCount(args[1]!);
    if (n === null) fail("EINVAL");
    after = n;
  } else if (args.length !== 0) fail("EINVAL");
  const { svc } = req;
  const ids = statsDomids(svc).filter((d) => d > after);
  const all = daemonStats(svc, []);
  const quotas = {
    nodes: svc.quotas.limit("nodes"),
    watches: svc.quotas.limit("watches"),
    memory: svc.quotas.limit("memory"),
    outstanding: svc.quotas.limit("outstanding"),
    transactions: svc.quotas.limit("transactions"),
  };
  const head = JSON.stringify({ ...all, domains: undefined, quotas });
  const rows: string[] = [];
  let used = head.length + ',"domains":[]'.length;
  let more: number | null = null;
  for (const domid of ids) {
    const row = JSON.stringify(compact(svc.domains.isPrivileged(domid), quotas, domainStats(svc, domid)));
    if (used + row.length + 1 > LIMIT) {
      // Always at least one row, so that the next reply moves on.
      if (rows.length === 0) fail("E2BIG");
      more = lastDomid(rows);
      break;
    }
    rows.push(row);
    used += row.length + 1;
  }
  const tail = more !== null ? `,"more":{"after":${more}}` : "";
  return str(`${head.slice(0, -1)},"domains":[${rows.join(",")}]${tail}}`);
}

function lastDomid(rows: string[]): number {
  return (JSON.parse(rows[rows.length - 1]!) as { domid: number }).domid;
}

/** A row without its quotas when they are the global ones. */
function compact(privileged: boolean, quotas: DomainStats["quota"], row: DomainStats): Omit<DomainStats, "quota"> & { quota?: DomainStats["quota"] } {
  const same = !privileged && (Object.keys(quotas) as (keyof DomainStats["quota"])[]).every((k) => quotas[k] === row.quota[k]);
  if (!same) return row;
  const { quota: _omitted, ...rest } = row;
  return rest;
}
