/**
 * What an op handler gets: the connection, the raw request, and the tree
 * view the request runs against (the transaction's overlay or the committed
 * tree). Also the checks every node op shares, written once.
 */
import { opName, XsError, type Packet, type XsErrno } from "../protocol/messages.js";
import type { Node } from "../store/node.js";
import { absolutize, isValidNodePath, parentOf } from "../store/path.js";
import { permFor, type Principal } from "../store/perms.js";
import type { QuotaName } from "../quota/quotas.js";
import type { CommitMeta } from "../store/store.js";
import type { Transaction } from "../transactions/transaction.js";
import { EXISTS, type TreeView } from "../transactions/view.js";
import type { EventAccess } from "../watches/events.js";
import type { Connection } from "./connection.js";
import type { Services } from "./services.js";

export interface Request {
  readonly svc: Services;
  readonly conn: Connection;
  readonly packet: Packet;
  readonly view: TreeView;
  readonly tx: Transaction | null;
  readonly principal: Principal;
  /** Who this request's commits are recorded as. */
  readonly meta: CommitMeta;
}

export function fail(errno: XsErrno): never {
  throw new XsError(errno);
}

/** The errno of a handler error, or null for anything else. */
export function errnoOf(e: unknown): XsErrno | null {
  return e instanceof XsError ? e.errno : null;
}

const SPECIAL_CHARS = /^@[A-Za-z0-9\-/_@]*$/;

/** A special `@` path argument, or EINVAL for bad characters. */
export function specialPath(raw: string): string {
  if (!SPECIAL_CHARS.test(raw)) fail("EINVAL");
  return raw;
}

/**
 * Turn a request path into an absolute node path, or EINVAL (cx
 * `canonicalize` + `is_valid_nodename`; path-max applies to everyone, as
 * in cx 4.17).
 */
export function nodePath(req: Request, raw: string | null): string {
  if (raw === null || raw.startsWith("@")) fail("EINVAL");
  const path = absolutize(raw, req.conn.home);
  if (!isValidNodePath(path, pathMax(req))) fail("EINVAL");
  return path;
}

/** Has an unprivileged caller reached quota `name` with `value`? Quotas never bind privileged callers. */
export function quotaReached(req: Request, name: QuotaName, value: number): boolean {
  const hit = !req.principal.privileged && req.svc.quotas.reached(name, req.conn.domid, value);
  if (hit) quotaHit(req, name, req.conn.domid);
  return hit;
}

/** Is `value` beyond quota `name` for an unprivileged caller? */
export function quotaExceeded(req: Request, name: QuotaName, value: number): boolean {
  const hit = !req.principal.privileged && req.svc.quotas.exceeded(name, req.conn.domid, value);
  if (hit) quotaHit(req, name, req.conn.domid);
  return hit;
}

/** Tell the log and the metrics that a request was refused for `domid`'s quota `name`. */
export function quotaHit(req: Request, name: QuotaName, domid: number): void {
  const { notices, quotas } = req.svc;
  if (notices.heard) notices.emit("warn", "quota-hit", { domid, quota: name, kind: "hard", limit: quotas.limit(name, domid), action: "refused", op: opName(req.packet.type) });
}

/**
 * Would `delta` more bytes charged to `owner` take that domain to its hard
 * memory quota? Only for unprivileged callers and owners (cx 4.17 fails
 * the node write with EIO, a watch with ENOMEM).
 */
export function overMemoryQuota(req: Request, owner: number, delta: number): boolean {
  const { principal, svc } = req;
  if (principal.privileged || svc.domains.isPrivileged(owner)) return false;
  const hard = svc.quotas.limit("memory", owner);
  const hit = hard !== 0 && svc.memory.of(owner) + delta >= hard;
  if (hit) quotaHit(req, "memory", owner);
  return hit;
}

export function pathMax(req: Request): number {
  const q = req.principal.privileged ? req.svc.quotas.hard["path-max"] : req.svc.quotas.limit("path-max", req.conn.domid);
  return q === 0 ? Number.MAX_SAFE_INTEGER : q;
}

/**
 * Fetch a node the caller needs `perm` on (cx `get_node`). A missing or
 * forbidden node answers ENOENT only if the caller could see the nearest
 * existing ancestor, else EACCES, so absence does not leak.
 *
 * The outcome of nearly every op depends on whether the node exists, so
 * that is observed; only WRITE, which succeeds either way, opts out.
 */
export function getNode(req: Request, path: string, perm: number, observeExistence = true): Node {
  const found = findNode(req, path, perm, observeExistence);
  if (typeof found === "string") fail(found);
  return found;
}

/**
 * `getNode` without throwing: the node, or the errno `getNode` would fail
 * with (the ops for which absence is no error ask this way, as throwing
 * costs more than the rest of such a request).
 */
export function findNode(req: Request, path: string, perm: number, observeExistence = true): Node | XsErrno {
  const { view, principal } = req;
  const node = view.get(path);
  let errno: XsErrno;
  if (node) {
    if (observeExistence) view.observe(path, EXISTS);
    if (principal.privileged) return node;
    view.observeAccess(path, perm);
    if ((permFor(principal, node.perms) & perm) === perm) return node;
    errno = "EACCES";
  } else {
    view.observe(path, EXISTS);
    errno = "ENOENT";
  }
  return errnoFromParents(req, path, errno, perm);
}

/**
 * cx `errno_from_parents`: mask errors the caller may not learn about. The
 * walk up to the nearest existing ancestor happens for every caller, as in
 * cx, because inside a transaction it fixes what those nodes look like from
 * then on; only an unprivileged caller's answer depends on it.
 */
function errnoFromParents(req: Request, path: string, errno: XsErrno, perm: number): XsErrno {
  const { view, principal } = req;
  const observe = !principal.privileged;
  let p = path;
  let ancestor: Node | undefined;
  do {
    p = parentOf(p);
    ancestor = view.get(p);
    if (observe) view.observe(p, EXISTS);
  } while (!ancestor && p !== "/");
  if (principal.privileged) return errno;
  if (!ancestor) return "EACCES";
  view.observeAccess(p, perm);
  return permFor(principal, ancestor.perms) & perm ? errno : "EACCES";
}

/** Event access for a node as the (direct) view now holds it. */
export function accessNow(view: TreeView, path: string, oldPerms?: EventAccess["oldPerms"]): EventAccess {
  const node = view.get(path);
  return { oldPerms, nodePerms: node?.perms, parentPerms: node ? view.get(parentOf(path))?.perms : undefined };
}

export function ok(): Buffer {
  return OK;
}

const OK = Buffer.from("OK\0", "latin1");

/** A NUL-terminated reply string. */
export function str(s: string): Buffer {
  return Buffer.from(`${s}\0`, "latin1");
}
