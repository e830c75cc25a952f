/** WATCH, UNWATCH and RESET_WATCHES (cx tools/xenstored/watch.c). */
import { REL_PATH_MAX } from "../../protocol/messages.js";
import { atoi, splitStrings, countStrings } from "../../protocol/payload.js";
import { absolutize } from "../../store/path.js";
import { fail, nodePath, ok, type Request } from "../request.js";

/**
 * WATCH `<path>|<token>|[<depth>|]`: acknowledge, then send the initial
 * event. A relative path gets relative event paths.
 */
export function watch(req: Request): Buffer {
  const { core, conn } = req;
  const n = countStrings(req.payload);
  const args = splitStrings(req.payload);
  let depth = -1;
  if (n === 3) {
    depth = atoi(args[2]!);
    if (depth < 0) fail("EINVAL");
  } else if (n !== 2) {
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
  if (core.watches.find(conn, path, token)) fail("EEXIST");
  if (!req.principal.privileged && core.quotas.reached("watches", conn.domid, core.watches.count(conn))) fail("ENOSPC");
  core.watches.add({ owner: conn, path, token, prefixLength, depth });
  core.raise(conn, path.slice(prefixLength), token);
  return ok();
}

export function unwatch(req: Request): Buffer {
  const { core, conn } = req;
  if (countStrings(req.payload) !== 2) fail("EINVAL");
  const [raw, token] = splitStrings(req.payload) as [string, string];
  const w = core.watches.find(conn, absolutize(raw, conn.home), token);
  if (!w) fail("ENOENT");
  core.watches.remove(w);
  return ok();
}

/** Drop all watches and transactions of the caller. */
export function resetWatches(req: Request): Buffer {
  req.core.watches.removeAll(req.conn);
  req.core.endTransactions(req.conn);
  return ok();
}
