/** GET_QUOTA and SET_QUOTA (Xen 4.22), quota names as cx, `soft-` for soft limits. */
import { atoi, splitStrings } from "../../protocol/payload.js";
import { QUOTA_NAMES, isQuotaName, type QuotaKind, type QuotaName } from "../../quota/quotas.js";
import { fail, ok, str, type Request } from "../request.js";
import { parseDomid } from "./domains.js";

function parseName(req: Request, raw: string): { name: QuotaName; kind: QuotaKind } {
  const kind: QuotaKind = raw.startsWith("soft-") ? "soft" : "hard";
  const name = kind === "soft" ? raw.slice(5) : raw;
  if (!isQuotaName(name) || !req.core.quotas.exists(name, kind)) fail("EINVAL");
  return { name, kind };
}

function domainArg(req: Request, raw: string): number {
  const domid = parseDomid(raw);
  if (!req.core.domains.findOrCreate(domid)) fail("ENOENT");
  return domid;
}

export function getQuota(req: Request): Buffer {
  const { quotas } = req.core;
  const args = splitStrings(req.payload);
  if (args.length > 2) fail("EINVAL");
  if (args.length === 0) {
    const names: string[] = [];
    for (const n of QUOTA_NAMES) {
      names.push(n);
      if (quotas.exists(n, "soft")) names.push(`soft-${n}`);
    }
    return str(names.join(" "));
  }
  const domid = args.length === 2 ? domainArg(req, args[0]!) : null;
  const { name, kind } = parseName(req, args[args.length - 1]!);
  return str(String(quotas.limit(name, domid, kind)));
}

export function setQuota(req: Request): Buffer {
  const args = splitStrings(req.payload);
  if (args.length < 2 || args.length > 3) fail("EINVAL");
  const domid = args.length === 3 ? domainArg(req, args[0]!) : null;
  const { name, kind } = parseName(req, args[args.length - 2]!);
  const value = atoi(args[args.length - 1]!) >>> 0;
  if (value === 0xffffffff) fail("EINVAL");
  req.core.quotas.set(name, value, domid, kind);
  return ok();
}
