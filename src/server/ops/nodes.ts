/**
 * The node operations: READ, DIRECTORY, DIRECTORY_PART, GET_PERMS, WRITE,
 * MKDIR, RM and SET_PERMS, with C xenstored's argument parsing, error
 * precedence, quota checks and watch events.
 */
import { DOMID_ANY, PAYLOAD_MAX } from "../../protocol/messages.js";
import type { OneArg, Strings, WriteArgs } from "../../protocol/requests.js";
import { atou } from "../../util/cparse.js";
import { nodeSize } from "../../store/node.js";
import { baseName, isSpecial, parentOf } from "../../store/path.js";
import { PERM_OWNER, PERM_READ, PERM_WRITE, Perms, parsePermStrings, permFor } from "../../store/perms.js";
import { CHILDREN, EXISTS, PERMS, VALUE } from "../../transactions/view.js";
import { Match } from "../../watches/registry.js";
import { accessNow, fail, findNode, getNode, nodePath, ok, overMemoryQuota, quotaExceeded, quotaReached, specialPath, type Request } from "../request.js";

export function read(req: Request, arg: OneArg): Buffer {
  const path = nodePath(req, arg);
  const node = getNode(req, path, PERM_READ);
  req.view.observe(path, VALUE);
  return Buffer.from(node.value, "latin1");
}

export function directory(req: Request, arg: OneArg): Buffer {
  const path = nodePath(req, arg);
  const node = getNode(req, path, PERM_READ);
  req.view.observe(path, CHILDREN);
  return node.listing();
}

/**
 * DIRECTORY_PART `<path>|<offset>|`: `<generation>|` then as many whole
 * child names from byte `offset` as fit, with an extra empty string after
 * the last chunk (cx `send_directory_part`).
 */
export function directoryPart(req: Request, args: Strings): Buffer {
  if (args.length !== 2) fail("EINVAL");
  const [rawPath, rawOffset] = args as [string, string];
  const path = nodePath(req, rawPath);
  const node = getNode(req, path, PERM_READ);
  req.view.observe(path, CHILDREN);
  const listing = node.listing();
  const gen = Buffer.from(`${node.listingVersion}\0`, "latin1");
  const off = atou(rawOffset);
  if (off >= listing.length) return Buffer.concat([gen, Buffer.from([0])]);
  const maxlen = PAYLOAD_MAX - gen.length - 1;
  let len = 0;
  let pos = off;
  for (;;) {
    let end = listing.indexOf(0, pos);
    if (end < 0) end = listing.length;
    const nameLen = end - pos;
    if (len + nameLen >= maxlen) break;
    len += nameLen + 1;
    pos = end + 1;
    if (off + len >= listing.length) break;
  }
  const parts = [gen, listing.subarray(off, off + len)];
  if (off + len >= listing.length) parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function getPerms(req: Request, raw: OneArg): Buffer {
  if (raw !== null && isSpecial(raw)) return permsReply(specialPerms(req, specialPath(raw), PERM_READ));
  const path = nodePath(req, raw);
  const node = getNode(req, path, PERM_READ);
  req.view.observe(path, PERMS);
  return permsReply(node.perms);
}

function permsReply(perms: Perms): Buffer {
  return Buffer.from(perms.toStrings().map((s) => `${s}\0`).join(""), "latin1");
}

/**
 * ACL of a special `@` path the caller needs `perm` on (Xen 4.22: they are
 * nodes). Any other `@` path is EINVAL, as cx answers it in every op.
 */
function specialPerms(req: Request, path: string, perm: number): Perms {
  const perms = req.svc.store.specials.get(path);
  if (!perms) fail("EINVAL");
  if ((permFor(req.principal, perms) & perm) !== perm) fail("EACCES");
  return perms;
}

/** Unprivileged callers may not store nodes of `node-size` bytes or more. */
/**
 * A node write refused after cx has already taken the node into the
 * transaction (`write_node`: access, then the size and memory checks):
 * the transaction is failed too, so committing it answers ENOMEM (cx
 * `fail_transaction`).
 */
function refuseWrite(req: Request, errno: "ENOSPC" | "EIO"): never {
  if (req.tx) req.tx.failed = true;
  fail(errno);
}

function checkNodeSize(req: Request, size: number): void {
  if (quotaReached(req, "node-size", size)) refuseWrite(req, "ENOSPC");
}

/**
 * Create `path` (and missing ancestors) after the quota checks cx makes in
 * `create_node`, then raise its event.
 */
function create(req: Request, path: string, value: string, mkdir: boolean): void {
  const { view, principal } = req;
  if (!principal.privileged) {
    const missing: string[] = [];
    let anchor = path;
    do {
      missing.unshift(anchor);
      anchor = parentOf(anchor);
    } while (!view.get(anchor));
    const a = view.get(anchor)!;
    const perms = a.perms.withOwner(principal.domid);
    const owned = view.ownedForQuota(principal.domid);
    // cx writes the new nodes bottom-up, checking the owner's node count
    // before each (counted at once outside transactions, only at commit
    // inside), each node's size and the memory it takes, then rewrites the
    // existing ancestor.
    let bytes = 0;
    for (let i = missing.length - 1, k = 0; i >= 0; i--, k++) {
      if (quotaReached(req, "nodes", owned + (view.transactional ? 0 : k))) fail("ENOSPC");
      const leaf = i === missing.length - 1;
      const childList = leaf ? 0 : baseName(missing[i + 1]!).length + 1;
      const size = nodeSize(perms.count, leaf ? value.length : 0, childList);
      checkNodeSize(req, size);
      bytes += size + missing[i]!.length;
      if (overMemoryQuota(req, principal.domid, bytes)) refuseWrite(req, "EIO");
    }
    // The existing ancestor is rewritten with one more child name.
    view.observeSize(anchor);
    const grown = baseName(missing[0]!).length + 1;
    checkNodeSize(req, a.size + grown);
    if (overMemoryQuota(req, a.perms.owner, a.perms.owner === principal.domid ? bytes + grown : grown)) refuseWrite(req, "EIO");
  }
  if (mkdir) view.mkdir(path);
  else view.write(path, value);
  changed(req, path, Match.Subtree);
}

/** Raise (or, in a transaction, mark for the commit) the event for a changed node. */
function changed(req: Request, path: string, match: Match, oldPerms?: Perms): void {
  if (req.tx) req.tx.markEvent(path, match === Match.Exact);
  else req.svc.events.fire(path, match, accessNow(req.view, path, oldPerms));
}

export function write(req: Request, args: WriteArgs): Buffer {
  if (!args) fail("EINVAL");
  const path = nodePath(req, args.path);
  const value = args.value;
  // A blind write succeeds whether or not the node exists: do not depend on it.
  const existing = findNode(req, path, PERM_WRITE, false);
  if (existing === "ENOENT") {
    create(req, path, value, false);
    return ok();
  }
  if (typeof existing === "string") fail(existing);
  if (!req.principal.privileged) {
    req.view.observeSize(path);
    const size = existing.withValue(value).size;
    checkNodeSize(req, size);
    if (overMemoryQuota(req, existing.perms.owner, size - existing.size)) refuseWrite(req, "EIO");
  }
  req.view.write(path, value);
  changed(req, path, Match.Subtree);
  return ok();
}

export function mkdir(req: Request, arg: OneArg): Buffer {
  const path = nodePath(req, arg);
  const found = findNode(req, path, PERM_WRITE);
  // Already there: nothing to do, and no event.
  if (typeof found !== "string") return ok();
  if (found !== "ENOENT") fail(found);
  create(req, path, "", true);
  return ok();
}

export function rm(req: Request, arg: OneArg): Buffer {
  const path = nodePath(req, arg);
  const found = findNode(req, path, PERM_WRITE);
  if (typeof found === "string") {
    if (found !== "ENOENT") fail(found);
    // Already gone: fine, as long as the parent exists.
    const parent = parentOf(path);
    const there = req.view.get(parent);
    req.view.observe(parent, EXISTS);
    if (!there) fail("ENOENT");
    return ok();
  }
  if (path === "/") fail("EINVAL");
  const parent = req.view.get(parentOf(path));
  req.view.observe(parentOf(path), EXISTS);
  // Only a transaction's view can be this inconsistent (cx answers EINVAL too);
  // the commit will fail on the observed existence anyway.
  if (!parent) fail("EINVAL");
  const removed = req.view.remove(path);
  // Deepest first: each removed descendant to watches exactly on it, then
  // the removed node itself to watches on it and above (cx `delnode_sub`).
  for (const r of removed) {
    const root = r.path === path;
    if (req.tx) req.tx.markEvent(r.path, !root);
    else req.svc.events.fireRemoved(r.path, root, r.node.perms, r.parentPerms);
  }
  return ok();
}

export function setPerms(req: Request, strings: Strings): Buffer {
  const { svc, principal, view } = req;
  const n = strings.length;
  if (n < 2) fail("EINVAL");
  if (quotaExceeded(req, "node-permissions", n - 1)) fail("ENOSPC");
  const parsed = parsePermStrings(strings.slice(1, n));
  if (!parsed) fail("EINVAL");
  // Entries for domains that do not exist are kept but never match (cx
  // XS_PERM_IGNORE). DOMID_ANY (Xen 4.22) matches everyone as an entry; it
  // is no domain, so it cannot own a node.
  const perms = Perms.of(
    parsed.map((p, i) => ({ ...p, ignored: (i === 0 || p.id !== DOMID_ANY) && !svc.domains.findOrCreate(p.id) })),
  );
  if (perms.ownerIgnored) fail("ENOENT");
  const raw = strings[0]!;
  if (isSpecial(raw)) {
    // Not transactional, as in cx: the special nodes' ACLs change at once.
    if (specialPerms(req, specialPath(raw), PERM_WRITE | PERM_OWNER) !== perms) {
      const specials = new Map(svc.store.specials);
      specials.set(raw, perms);
      svc.store.commit({ specials }, req.meta);
    }
    return ok();
  }
  const path = nodePath(req, raw);
  const node = getNode(req, path, PERM_WRITE | PERM_OWNER);
  if (!principal.privileged) {
    // Keeping the owner is a check on the whole ACL's first entry.
    view.observe(path, PERMS);
    if (perms.owner !== node.perms.owner) fail("EPERM");
    view.observeSize(path);
    const size = node.withPerms(perms).size;
    checkNodeSize(req, size);
    if (overMemoryQuota(req, node.perms.owner, size - node.size)) refuseWrite(req, "EIO");
  }
  const old = view.setPerms(path, perms);
  changed(req, path, Match.Subtree, old);
  return ok();
}

