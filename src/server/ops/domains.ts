/**
 * Domain management: INTRODUCE, RELEASE, RESUME, SET_TARGET,
 * GET_DOMAIN_PATH, IS_DOMAIN_INTRODUCED, GET_FEATURE and SET_FEATURE, with
 * cx's argument parsing (`atoi`, unsigned domids) and error choices.
 */
import { DOMID_SELF } from "../../protocol/messages.js";
import type { OneArg, Strings } from "../../protocol/requests.js";
import { SERVER_FEATURES } from "../../domains/domains.js";
import { domainPath } from "../../store/path.js";
import { atoi, atou, strtol } from "../../util/cparse.js";
import { fail, ok, str, type Request } from "../request.js";

export function introduce(req: Request, args: Strings): Buffer {
  if (args.length < 3) fail("EINVAL");
  const domid = atou(args[0]!);
  const port = atou(args[2]!);
  if (port === 0) fail("EINVAL");
  req.svc.lifecycle.introduce(domid, args[1]!, port, req.meta);
  return ok();
}

/** A domain named by a one-argument request: not dom0, and introduced. */
function introducedArg(req: Request, arg: OneArg): number {
  if (arg === null) fail("EINVAL");
  const domid = atou(arg);
  if (domid === 0) fail("EINVAL");
  if (!req.svc.domains.introduced(domid)) fail("ENOENT");
  return domid;
}

export function release(req: Request, arg: OneArg): Buffer {
  req.svc.lifecycle.release(introducedArg(req, arg), req.meta);
  return ok();
}

/** RESUME: the next shutdown of the domain fires @releaseDomain again. */
export function resume(req: Request, arg: OneArg): Buffer {
  const domid = introducedArg(req, arg);
  if (req.svc.domains.get(domid)!.shutdown) req.svc.store.commit({ effects: [{ kind: "shutdown", domid, shutdown: false }] }, req.meta);
  return ok();
}

export function setTarget(req: Request, args: Strings): Buffer {
  if (args.length < 2) fail("EINVAL");
  const { domains, store } = req.svc;
  const domain = domains.introduced(atou(args[0]!));
  if (!domain) fail("ENOENT");
  const target = domains.introduced(atou(args[1]!));
  if (!target) fail("ENOENT");
  if (domain.target !== target.domid) store.commit({ effects: [{ kind: "target", domid: domain.domid, target: target.domid }] }, req.meta);
  return ok();
}

export function getDomainPath(_req: Request, arg: OneArg): Buffer {
  if (arg === null) fail("EINVAL");
  return str(domainPath(atou(arg)));
}

export function isDomainIntroduced(req: Request, arg: OneArg): Buffer {
  if (arg === null) fail("EINVAL");
  const domid = atou(arg);
  return str(domid === DOMID_SELF || req.svc.domains.introduced(domid) ? "T" : "F");
}

/** cx `parse_domid`: decimal, nothing after it, at most 65535. */
export function parseDomid(s: string): number {
  const { value, end } = strtol(s, 10);
  const v = BigInt.asUintN(64, value);
  if ((end !== s.length && !(end === 0 && s.length === 0)) || v > 65535n) fail("EINVAL");
  return Number(v);
}

export function getFeature(req: Request, args: Strings): Buffer {
  const { domains } = req.svc;
  if (args.length === 0) {
    const own = req.conn.kind === "domain" ? domains.get(req.conn.domid)?.features : undefined;
    return str(String(own ?? SERVER_FEATURES));
  }
  if (!req.principal.privileged) fail("EACCES");
  if (args.length > 1) fail("EINVAL");
  const d = domains.findOrCreate(parseDomid(args[0]!));
  if (!d) fail("ENOENT");
  return str(String(d.features));
}

export function setFeature(req: Request, args: Strings): Buffer {
  if (args.length !== 2) fail("EINVAL");
  const domid = parseDomid(args[0]!);
  const features = atoi(args[1]!) >>> 0;
  const d = req.svc.domains.findOrCreate(domid);
  if (!d) fail("ENOENT");
  if (d.introduced) fail("EBUSY");
  if (features & ~SERVER_FEATURES) fail("EINVAL");
  if (d.features !== features) req.svc.store.commit({ effects: [{ kind: "features", domid, features }] }, req.meta);
  return ok();
}
