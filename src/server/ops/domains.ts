/**
 * Domain management: INTRODUCE, RELEASE, RESUME, SET_TARGET,
 * GET_DOMAIN_PATH, IS_DOMAIN_INTRODUCED, GET_FEATURE and SET_FEATURE, with
 * cx's argument parsing (`atoi`, unsigned domids) and error choices.
 */
import { DOMID_SELF } from "../../protocol/messages.js";
import { atoi, atou, oneArg, splitStrings, strtol } from "../../protocol/payload.js";
import { SERVER_FEATURES } from "../../domains/domains.js";
import { domainPath } from "../../store/path.js";
import { releaseDomain } from "../../domains/release.js";
import { fail, ok, str, type Request } from "../request.js";

export function introduce(req: Request): Buffer {
  const { core } = req;
  const args = splitStrings(req.payload);
  if (args.length < 3) fail("EINVAL");
  const domid = atou(args[0]!);
  const port = atou(args[2]!);
  if (port === 0) fail("EINVAL");
  const known = core.domains.introduced(domid);
  // Without a ring to map, a domain the hypervisor does not know cannot be introduced.
  if (!known && !core.domains.hypervisor.domainExists(domid)) fail("EINVAL");
  const fresh = core.domains.introduce(domid, args[1]!, port);
  core.resetDomainConnections(domid);
  if (fresh && domid !== core.domains.masterDomid) core.fireSpecial("@introduceDomain", domid);
  return ok();
}

/** A domain named by a one-argument request: not dom0, and introduced. */
function introducedArg(req: Request): number {
  const arg = oneArg(req.payload);
  if (arg === null) fail("EINVAL");
  const domid = atou(arg);
  if (domid === 0) fail("EINVAL");
  if (!req.core.domains.introduced(domid)) fail("ENOENT");
  return domid;
}

export function release(req: Request): Buffer {
  releaseDomain(req.core, introducedArg(req));
  return ok();
}

export function resume(req: Request): Buffer {
  req.core.domains.get(introducedArg(req))!.shutdown = false;
  return ok();
}

export function setTarget(req: Request): Buffer {
  const args = splitStrings(req.payload);
  if (args.length < 2) fail("EINVAL");
  const domain = req.core.domains.introduced(atou(args[0]!));
  if (!domain) fail("ENOENT");
  const target = req.core.domains.introduced(atou(args[1]!));
  if (!target) fail("ENOENT");
  domain.target = target.domid;
  return ok();
}

export function getDomainPath(req: Request): Buffer {
  const arg = oneArg(req.payload);
  if (arg === null) fail("EINVAL");
  return str(domainPath(atou(arg)));
}

export function isDomainIntroduced(req: Request): Buffer {
  const arg = oneArg(req.payload);
  if (arg === null) fail("EINVAL");
  const domid = atou(arg);
  return str(domid === DOMID_SELF || req.core.domains.introduced(domid) ? "T" : "F");
}

/** cx `parse_domid`: decimal, nothing after it, at most 65535. */
export function parseDomid(s: string): number {
  const { value, end } = strtol(s, 10);
  const v = BigInt.asUintN(64, value);
  if ((end !== s.length && !(end === 0 && s.length === 0)) || v > 65535n) fail("EINVAL");
  return Number(v);
}

export function getFeature(req: Request): Buffer {
  const args = splitStrings(req.payload);
  if (args.length === 0) {
    const own = req.conn.kind === "domain" ? req.core.domains.get(req.conn.domid)?.features : undefined;
    return str(String(own ?? SERVER_FEATURES));
  }
  if (!req.principal.privileged) fail("EACCES");
  if (args.length > 1) fail("EINVAL");
  const d = req.core.domains.findOrCreate(parseDomid(args[0]!));
  if (!d) fail("ENOENT");
  return str(String(d.features));
}

export function setFeature(req: Request): Buffer {
  const args = splitStrings(req.payload);
  if (args.length !== 2) fail("EINVAL");
  const domid = parseDomid(args[0]!);
  const features = atoi(args[1]!) >>> 0;
  const d = req.core.domains.findOrCreate(domid);
  if (!d) fail("ENOENT");
  if (d.introduced) fail("EBUSY");
  if (features & ~SERVER_FEATURES) fail("EINVAL");
  d.features = features;
  return ok();
}
