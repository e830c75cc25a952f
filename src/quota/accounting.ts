/**
 * C xenstored's memory accounting of a domain, as `xenstore-control quota
 * <domid>` shows it: each owned node's record (header, ACL, value, child
 * list) plus its path, and the path and token of each watch the domain's
 * connections hold.
 */
import type { Node } from "../store/node.js";
import { walkTree } from "../store/walk.js";

export interface WatchText {
  readonly path: string;
  readonly token: string;
}

export function memoryOwnedBy(root: Node, domid: number, watches: Iterable<WatchText>): number {
  let bytes = 0;
  walkTree("/", root, {
    enter(path, n) {
      if (n.perms.owner === domid) bytes += n.size + path.length;
    },
  });
  for (const w of watches) bytes += w.path.length + w.token.length;
  return bytes;
}
