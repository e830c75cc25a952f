/**
 * Fetch a subtree with its values and ACLs, pipelined: up to `limit` nodes
 * have their READ, GET_PERMS and DIRECTORY requests in flight at once on
 * the one connection (the daemon answers them in order), instead of one
 * round trip after another, so 10,000 domains take seconds, not minutes.
 * The result keeps the daemon's order of children.
 */
import type { XenStoreClient } from "../client/client.js";
import { Op, XsError } from "../protocol/messages.js";
import { joinPath, Limiter, listChildren, readRaw, requestStrings } from "./common.js";

export interface FetchedNode {
  name: string;
  path: string;
  /** The value (null when not asked for). */
  value: Buffer | null;
  /** The ACL as GET_PERMS strings (null when not asked for). */
  perms: string[] | null;
  children: FetchedNode[];
}

export interface FetchOptions {
  /** Transaction to read in (0: none). */
  tx?: number;
  values?: boolean;
  perms?: boolean;
  /** Also read the value and ACL of the node at the path itself (not only of its descendants). */
  root?: boolean;
  /** Nodes in flight at once. */
  limit?: number;
  /** Called as each node is fetched (progress). */
  onNode?: () => void;
}

/** A request that failed: which one, on which path. */
export class FetchError extends Error {
  constructor(
    readonly op: "read" | "perms" | "directory",
    readonly path: string,
    override readonly cause: unknown,
  ) {
    super(`${op} ${path}: ${(cause as Error).message}`);
  }
}

export async function fetchTree(client: XenStoreClient, path: string, opts: FetchOptions = {}): Promise<FetchedNode> {
  const limiter = new Limiter(opts.limit ?? 128);
  const tx = opts.tx ?? 0;
  const attempt = <T>(op: FetchError["op"], p: string, f: () => Promise<T>): Promise<T> =>
    f().catch((e: unknown) => {
      throw new FetchError(op, p, e);
    });

  const visit = async (p: string, name: string, isRoot: boolean): Promise<FetchedNode | null> => {
    const own = !isRoot || opts.root === true;
    let value: Buffer | null;
    let perms: string[] | null;
    let children: string[];
    try {
      [value, perms, children] = await limiter.run(() =>
        Promise.all([
          own && opts.values ? attempt("read", p, () => readRaw(client, p, tx)) : null,
          own && opts.perms ? attempt("perms", p, () => requestStrings(client, Op.GET_PERMS, [p], tx)) : null,
          attempt("directory", p, () => listChildren(client, p, tx)),
        ]),
      );
    } catch (e) {
      // A descendant removed while we walk is left out, as upstream does.
      if (!isRoot && e instanceof FetchError && e.cause instanceof XsError && e.cause.errno === "ENOENT") return null;
      throw e;
    }
    opts.onNode?.();
    const kids = await Promise.all(children.map((c) => visit(joinPath(p, c), c, false)));
    return { name, path: p, value, perms, children: kids.filter((k): k is FetchedNode => k !== null) };
  };
  const name = path === "/" ? "" : path.slice(path.lastIndexOf("/") + 1);
  return (await visit(path, name, true))!;
}

/** The nodes of a fetched tree in pre-order (parents first), with their depth below the root. */
export function* preorder(node: FetchedNode, depth = 0): Generator<[FetchedNode, number]> {
  yield [node, depth];
  for (const c of node.children) yield* preorder(c, depth + 1);
}
