/**
 * The committed state: the current immutable root, its revision, a short
 * history of recent roots (kept for free by structural sharing), the ACLs
 * of the special `@` nodes, and how many nodes each domain owns.
 */
import { DOMID_ANY } from "../protocol/messages.js";
import { EMPTY_CHILDREN } from "./children.js";
import { Node } from "./node.js";
import { PERM_NONE, PERM_READ, Perms } from "./perms.js";
import { lookup, type TreeEditor } from "./tree.js";

export const SPECIAL_PATHS = ["@introduceDomain", "@releaseDomain"] as const;

export interface Revision {
  readonly revision: number;
  readonly root: Node;
}

export interface StoreOptions {
  /** The control domain, owner of the initial tree. */
  privDomid?: number;
  /** How many past roots to keep reachable. */
  historyLength?: number;
}

export class Store {
  root: Node;
  revision = 0;
  private readonly history: Revision[] = [];
  private readonly historyLength: number;
  private readonly owned = new Map<number, number>();
  /** Nodes whose ACL names each domain (besides the owner): zero means a release has nothing to strip. */
  private readonly refs = new Map<number, number>();
  /** ACLs of the special watch paths, which are not part of the tree. */
  readonly specials = new Map<string, Perms>();

  constructor(opts: StoreOptions = {}) {
    const priv = opts.privDomid ?? 0;
    this.historyLength = opts.historyLength ?? 64;
    const perms = Perms.owned(priv);
    // The tree C xenstored starts with: "/", "/tool", "/tool/xenstored".
    const xenstored = new Node("xenstored", "", perms, null);
    const tool = new Node("tool", "", perms, EMPTY_CHILDREN.set(xenstored));
    this.root = new Node("", "", perms, EMPTY_CHILDREN.set(tool));
    this.owned.set(priv, 3);
    this.specials.set("@introduceDomain", perms);
    // Since Xen 4.22 every domain may watch @releaseDomain (DOMID_ANY read).
    this.specials.set(
      "@releaseDomain",
      Perms.of([
        { id: priv, perm: PERM_NONE, ignored: false },
        { id: DOMID_ANY, perm: PERM_READ, ignored: false },
      ]),
    );
    this.remember();
  }

  get(path: string): Node | undefined {
    return lookup(this.root, path);
  }

  /** Nodes currently owned by `domid`. */
  ownedBy(domid: number): number {
    return this.owned.get(domid) ?? 0;
  }

  /** Nodes whose ACL names `domid` in an entry after the owner's. */
  referencing(domid: number): number {
    return this.refs.get(domid) ?? 0;
  }

  /** The tallies themselves (domids with a non-zero count), for checks. */
  tallies(): { owned: ReadonlyMap<number, number>; refs: ReadonlyMap<number, number> } {
    return { owned: this.owned, refs: this.refs };
  }

  /** Install the result of an editor session as the new committed root. */
  commit(editor: TreeEditor): number {
    if (!editor.changed) return this.revision;
    // Installing a session begun on an older root would silently undo what
    // was committed since: a programming error, never a client's.
    if (editor.base !== this.root) throw new Error("commit of an editor session based on a stale root");
    this.root = editor.root;
    apply(this.owned, editor.ownerDeltas);
    apply(this.refs, editor.refDeltas);
    this.revision++;
    this.remember();
    return this.revision;
  }

  private remember(): void {
    this.history.push({ revision: this.revision, root: this.root });
    if (this.history.length > this.historyLength) this.history.shift();
  }

  /** A recent committed root by revision, if still retained. */
  at(revision: number): Revision | undefined {
    return this.history.find((r) => r.revision === revision);
  }

  /** Revisions currently retained, oldest first. */
  retained(): readonly Revision[] {
    return this.history;
  }

  /** Total number of nodes in the tree (walks it; for checks and tests). */
  countNodes(): number {
    let n = 0;
    const stack: Node[] = [this.root];
    while (stack.length) {
      const node = stack.pop()!;
      n++;
      if (node.children) stack.push(...node.children.nodes());
    }
    return n;
  }

  /** Recount ownership from the tree; used by `CONTROL check`. */
  recountRefs(): Map<number, number> {
    const counts = new Map<number, number>();
    const stack: Node[] = [this.root];
    while (stack.length) {
      const node = stack.pop()!;
      for (const d of node.perms.referenced) counts.set(d, (counts.get(d) ?? 0) + 1);
      if (node.children) stack.push(...node.children.nodes());
    }
    return counts;
  }

  /** Recount ownership from the tree; used by `CONTROL check`. */
  recount(): Map<number, number> {
    const counts = new Map<number, number>();
    const stack: Node[] = [this.root];
    while (stack.length) {
      const node = stack.pop()!;
      counts.set(node.perms.owner, (counts.get(node.perms.owner) ?? 0) + 1);
      if (node.children) stack.push(...node.children.nodes());
    }
    return counts;
  }

  /** Replace the tallies (after a recount found them wrong). */
  resetOwnership(counts: Map<number, number>, refs: Map<number, number>): void {
    this.owned.clear();
    for (const [d, n] of counts) this.owned.set(d, n);
    this.refs.clear();
    for (const [d, n] of refs) this.refs.set(d, n);
  }
}

function apply(tally: Map<number, number>, deltas: ReadonlyMap<number, number>): void {
  for (const [domid, delta] of deltas) {
    const n = (tally.get(domid) ?? 0) + delta;
    if (n === 0) tally.delete(domid);
    else tally.set(domid, n);
  }
}
