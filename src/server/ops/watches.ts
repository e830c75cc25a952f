/** WATCH, UNWATCH and RESET_WATCHES (cx tools/xenstored/watch.c). */
import { REL_PATH_MAX } from "../../protocol/messages.js";
import type { NoArgs, Strings } from "../../protocol/requests.js";
import { absolutize } from "../../store/path.js";
import { atoi } from "../../util/cparse.js";
import { fail, nodePath, ok, overMemoryQuota, quotaReached, type Request } from "../request.js";

/**
 * WATCH `<path>|<token>|[<depth>|]`: acknowledge, then send the initial
 * event. A relative path gets relative event paths.
 */
export function watch(req: Request, args: Strings): Buffer {
  const { svc, conn } = req;
  let depth = -1;
  if (args.length === 3) {
    depth = atoi(args[2]!);
    if (depth < 0) fail("EINVAL");
  } else if (args.length !== 2) {
    fail("EINVAL");
  }
  const raw = args[0]!;
  const token = args[1]!;
  let path: string;
  let prefixLength = 0;
  if (raw.startsWith("@")) {
    if (raw.length > REL_PATH_MAX) fail("EINVAL");
    path = raw;
  } else {
    path = nodePath(req, raw);
    if (!raw.startsWith("/")) prefixLength = conn.home.length + 1;
  }
  if (svc.watches.find(conn, path, token)) fail("EEXIST");
  if (quotaReached(req, "watches", svc.watches.count(conn))) fail("ENOSPC");
  if (overMemoryQuota(req, conn.domid, path.length + token.length)) fail("ENOMEM");
  svc.watches.add({ owner: conn, path, token, prefixLength, depth });
  svc.events.raise(conn, path.slice(prefixLength), token);
  return ok();
}

export function unwatch(req: Request, args: Strings): Buffer {
  const { svc, conn } = req;
  if (args.length !== 2) fail("EINVAL");
  const [raw, token] = args as [string, string];
  const w = svc.watches.find(conn, absolutize(raw, conn.home), token);
  if (!w) fail("ENOENT");
  svc.watches.remove(w);
  return ok();
}

/** Drop all watches and transactions of the caller. */
export function resetWatches(req: Request, _args: NoArgs): Buffer {
  req.svc.connections.resetState(req.conn);
  return ok();
}
