/**
 * The committed state and its one commit point. A `Revision` is the tree
 * root plus the ACLs of the special `@` nodes; every change of committed
 * state, whatever its cause (a plain write, a transaction, a domain's
 * release, a quota or domain setting), is one `commit(change, meta)`: it
 * installs the new revision, applies the change's effects on the state kept
 * outside the tree (domains, quotas), records who did what to which paths,
 * and tells the listeners (watches, a log, history, metrics). Nothing else
 * changes committed state.
 */
import { DOMID_ANY } from "../protocol/messages.js";
import { RecordType, StateFormatError, type NodeRecord, type SpecialRecord } from "../state/stream.js";
import { childrenFrom, EMPTY_CHILDREN } from "./children.js";
import { Node } from "./node.js";
import { isValidNodePath } from "./path.js";
import { PERM_NONE, PERM_READ, Perms } from "./perms.js";
import { recount, Tallies } from "./tallies.js";
import { lookup, type PathChange, type TreeEditor } from "./tree.js";
import { walkTree } from "./walk.js";

export interface Revision {
  readonly revision: number;
  readonly root: Node;
  readonly specials: ReadonlyMap<string, Perms>;
}

/**
 * A change of the state kept outside the tree, carried by a commit so that
 * the commit record says everything that changed (plain data: the modules
 * owning that state apply it).
 */
export type Effect =
  | { readonly kind: "introduce"; readonly domid: number; readonly mfn: string; readonly port: number }
  | { readonly kind: "release"; readonly domid: number }
  | { readonly kind: "features"; readonly domid: number; readonly features: number }
  | { readonly kind: "target"; readonly domid: number; readonly target: number }
  | { readonly kind: "shutdown"; readonly domid: number; readonly shutdown: boolean }
  | {
      readonly kind: "quota";
      /** null: the global setting. */
      readonly domid: number | null;
      readonly name: string;
      readonly level: "hard" | "soft";
      readonly value: number;
    };

export interface Change {
  /** Tree edits, made on the current root. */
  readonly editor?: TreeEditor | undefined;
  /** The special nodes' ACLs after the change. */
  readonly specials?: ReadonlyMap<string, Perms> | undefined;
  readonly effects?: readonly Effect[] | undefined;
}

/** Who made a commit and through which request. */
export interface CommitMeta {
  readonly domid: number;
  /** The connection's sequence number; 0 for the daemon's own changes (a domain's death). */
  readonly conn: number;
  /** The request type's name, or the daemon's reason ("domain-death"). */
  readonly op: string;
  readonly txId: number;
  /** When it was made (ms since the epoch); now, unless it is a replayed commit. */
  readonly time?: number;
}

export interface CommitRecord extends CommitMeta {
  readonly revision: number;
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly changes: readonly PathChange[];
  readonly effects: readonly Effect[];
  readonly before: Revision;
  readonly after: Revision;
}

export type CommitListener = (record: CommitRecord) => void;

/** The effects of a commit that has none (shared: records are read, never changed). */
const NO_EFFECTS: readonly Effect[] = Object.freeze([]);

/**
 * Sees a commit before it is installed, and may refuse it by throwing (an
 * XsError: the request fails and nothing of the commit remains), e.g. the
 * journal when the disk will not take its entry.
 */
export type CommitGuard = (record: CommitRecord) => void;

export interface StoreOptions {
  /** The control domain, owner of the initial tree. */
  privDomid?: number;
  /** How many past revisions to keep reachable (they share structure). */
  historyLength?: number;
  /** Applies effects to the modules that own that state (set by the composition root). */
  applyEffect?: (effect: Effect) => void;
}

export class Store {
  private current: Revision;
  /** The last `historyLength` revisions, a ring: `recent[revision % historyLength]`. */
  private readonly recent: (Revision | undefined)[];
  private readonly historyLength: number;
  readonly tallies = new Tallies();
  private readonly listeners: CommitListener[] = [];
  private readonly guards: CommitGuard[] = [];
  private readonly applyEffect: (effect: Effect) => void;

  constructor(opts: StoreOptions = {}) {
    const priv = opts.privDomid ?? 0;
    this.historyLength = Math.max(1, opts.historyLength ?? 64);
    this.recent = new Array<Revision | undefined>(this.historyLength);
    this.applyEffect = opts.applyEffect ?? (() => {});
    this.current = initialRevision(priv);
    this.tallies.reset(recount(this.current.root));
    this.remember();
  }

  get root(): Node {
    return this.current.root;
  }

  get revision(): number {
    return this.current.revision;
  }

  get specials(): ReadonlyMap<string, Perms> {
    return this.current.specials;
  }

  get head(): Revision {
    return this.current;
  }

  get(path: string): Node | undefined {
    return lookup(this.current.root, path);
  }

  /** Nodes currently owned by `domid`. */
  ownedBy(domid: number): number {
    return this.tallies.ownedBy(domid);
  }

  /** Nodes whose ACL names `domid` in an entry after the owner's. */
  referencing(domid: number): number {
    return this.tallies.referencing(domid);
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** Add a guard run before each commit is installed (it may refuse the commit). */
  guardCommits(guard: CommitGuard): void {
    this.guards.push(guard);
  }

  /**
   * Make `change` the committed state: one new revision. A change that
   * changes nothing commits nothing (null).
   */
  commit(change: Change, meta: CommitMeta): CommitRecord | null {
    const editor = change.editor?.changed ? change.editor : undefined;
    const effects = change.effects ?? NO_EFFECTS;
    if (!editor && !change.specials && effects.length === 0) return null;
    // Installing a session begun on an older root would silently undo what
    // was committed since: a programming error, never a client's.
    if (editor && editor.base !== this.current.root) throw new Error("commit of an editor session based on a stale root");
    const before = this.current;
    const after: Revision = {
      revision: before.revision + 1,
      root: editor ? editor.root : before.root,
      specials: change.specials ?? before.specials,
    };
    // Fields copied one by one: an object spread here costs more than the rest of the commit.
    const record: CommitRecord = {
      domid: meta.domid,
      conn: meta.conn,
      op: meta.op,
      txId: meta.txId,
      revision: after.revision,
      time: meta.time ?? Date.now(),
      changes: editor ? editor.changes : [],
      effects,
      before,
      after,
    };
    for (const g of this.guards) g(record);
    this.current = after;
    if (editor) this.tallies.apply(editor);
    for (const e of effects) this.applyEffect(e);
    this.remember();
    for (const l of this.listeners) l(record);
    return record;
  }

  private remember(): void {
    this.recent[this.current.revision % this.historyLength] = this.current;
  }

  /** A recent committed revision, if still retained. */
  at(revision: number): Revision | undefined {
    const r = this.recent[revision % this.historyLength];
    return r?.revision === revision ? r : undefined;
  }

  /** The committed tree (parents before children, in listing order) and the special ACLs, as state records. */
  dump(): (NodeRecord | SpecialRecord)[] {
    const out: (NodeRecord | SpecialRecord)[] = [];
    walkTree("/", this.current.root, {
      enter(path, node) {
        out.push({ type: RecordType.Node, path, value: node.value, acl: node.perms.key });
      },
    });
    for (const [name, perms] of this.current.specials) out.push({ type: RecordType.Special, name, acl: perms.key });
    return out;
  }

  /**
   * Replace the whole committed state from dumped records: the tallies are
   * recounted from the tree, the retained history starts again here.
   */
  restore(revision: number, records: readonly (NodeRecord | SpecialRecord)[]): void {
    const specials = new Map<string, Perms>();
    const nodes: NodeRecord[] = [];
    for (const r of records) {
      if (r.type === RecordType.Special) specials.set(r.name, aclOf(r.acl));
      else nodes.push(r);
    }
    this.current = { revision, root: buildTree(nodes), specials };
    this.recent.fill(undefined);
    this.remember();
    this.tallies.reset(recount(this.current.root));
  }
}

function aclOf(key: string): Perms {
  const perms = Perms.fromKey(key);
  if (!perms) throw new StateFormatError(`bad ACL "${key}"`);
  return perms;
}

/**
 * Build a tree bottom-up from nodes listed parents first (one pass, no path
 * copying). A restore of a large store is mostly leaves: their child list
 * and name set are made only once a child comes.
 */
function buildTree(records: readonly NodeRecord[]): Node {
  interface Open {
    readonly path: string;
    readonly record: NodeRecord;
    kids: Node[] | null;
    names: Set<string> | null;
  }
  const close = (o: Open): Node => {
    const name = o.path === "/" ? "" : o.path.slice(o.path.lastIndexOf("/") + 1);
    return new Node(name, o.record.value, aclOf(o.record.acl), o.kids ? childrenFrom(o.kids) : null);
  };
  const adopt = (parent: Open, child: Node): void => {
    (parent.kids ??= []).push(child);
  };
  if (records[0]?.path !== "/") throw new StateFormatError("the tree does not start at /");
  const stack: Open[] = [];
  for (const r of records) {
    if (r.path !== "/") {
      if (!isValidNodePath(r.path, Number.MAX_SAFE_INTEGER)) throw new StateFormatError(`bad node path "${r.path}"`);
      const cut = r.path.lastIndexOf("/");
      const parent = cut === 0 ? "/" : r.path.slice(0, cut);
      while (stack.length && stack[stack.length - 1]!.path !== parent) {
        const done = stack.pop()!;
        const up = stack[stack.length - 1];
        if (up) adopt(up, close(done));
      }
      if (!stack.length) throw new StateFormatError(`node "${r.path}" comes before its parent`);
      const top = stack[stack.length - 1]!;
      const name = r.path.slice(cut + 1);
      const names = (top.names ??= new Set());
      if (names.has(name)) throw new StateFormatError(`node "${r.path}" twice`);
      names.add(name);
    } else if (stack.length) {
      throw new StateFormatError("the root twice");
    }
    stack.push({ path: r.path, record: r, kids: null, names: null });
  }
  while (stack.length > 1) {
    const done = stack.pop()!;
    adopt(stack[stack.length - 1]!, close(done));
  }
  return close(stack[0]!);
}

function initialRevision(priv: number): Revision {
  const perms = Perms.owned(priv);
  // The tree C xenstored starts with: "/", "/tool", "/tool/xenstored".
  const xenstored = new Node("xenstored", "", perms, null);
  const tool = new Node("tool", "", perms, EMPTY_CHILDREN.set(xenstored));
  const root = new Node("", "", perms, EMPTY_CHILDREN.set(tool));
  const specials = new Map<string, Perms>([
    ["@introduceDomain", perms],
    // Since Xen 4.22 every domain may watch @releaseDomain (DOMID_ANY read).
    [
      "@releaseDomain",
      Perms.of([
        { id: priv, perm: PERM_NONE, ignored: false },
        { id: DOMID_ANY, perm: PERM_READ, ignored: false },
      ]),
    ],
  ]);
  return { revision: 0, root, specials };
}
