/** GET_QUOTA and SET_QUOTA (Xen 4.22), quota names as cx, `soft-` for soft limits. */
import type { Strings } from "../../protocol/requests.js";
import { parseQuotaName, QUOTA_NAMES, quotaExists, type QuotaKind, type QuotaName } from "../../quota/quotas.js";
import { atoi } from "../../util/cparse.js";
import { fail, ok, str, type Request } from "../request.js";
import { parseDomid } from "./domains.js";

function nameArg(raw: string): { name: QuotaName; kind: QuotaKind } {
  return parseQuotaName(raw) ?? fail("EINVAL");
}

function domainArg(req: Request, raw: string): number {
  const domid = parseDomid(raw);
  if (!req.svc.domains.findOrCreate(domid)) fail("ENOENT");
  return domid;
}

export function getQuota(req: Request, args: Strings): Buffer {
  const { quotas } = req.svc;
  if (args.length > 2) fail("EINVAL");
  if (args.length === 0) {
    const names: string[] = [];
    for (const n of QUOTA_NAMES) {
      names.push(n);
      if (quotaExists(n, "soft")) names.push(`soft-${n}`);
    }
    return str(names.join(" "));
  }
  const domid = args.length === 2 ? domainArg(req, args[0]!) : null;
  const { name, kind } = nameArg(args[args.length - 1]!);
  return str(String(quotas.limit(name, domid, kind)));
}

export function setQuota(req: Request, args: Strings): Buffer {
  if (args.length < 2 || args.length > 3) fail("EINVAL");
  const domid = args.length === 3 ? domainArg(req, args[0]!) : null;
  const { name, kind } = nameArg(args[args.length - 2]!);
  const value = atoi(args[args.length - 1]!) >>> 0;
  if (value === 0xffffffff) fail("EINVAL");
  commitQuota(req, name, kind, domid, value);
  return ok();
}

/** Change a quota setting: one commit, if it changes anything. */
export function commitQuota(req: Request, name: QuotaName, kind: QuotaKind, domid: number | null, value: number): void {
  const { quotas, store } = req.svc;
  const current = domid === null ? (kind === "hard" ? quotas.hard[name] : quotas.soft[name]) : quotas.limit(name, domid, kind);
  if (current === value) return;
  store.commit({ effects: [{ kind: "quota", domid, name, level: kind, value }] }, req.meta);
}
