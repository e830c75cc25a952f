/**
 * A transaction with C xenstored's visibility rules and exact conflict
 * detection.
 *
 * Visibility (as cx): a node the transaction has not touched yet is read
 * from the committed tree at the moment of first access, then frozen in the
 * transaction's overlay together with its own changes. Nodes are immutable,
 * so "freezing" is keeping a reference.
 *
 * Conflicts: every handler reports which aspects of which nodes its outcome
 * depended on (`observe`). The overlay translates that into reliance on the
 * committed state: a value the transaction wrote itself, a node it created
 * after removing the old one, and the like, depend on nothing committed. At
 * commit each relied-on aspect is compared with the current tree; if all are
 * unchanged, the transaction's write log is replayed onto the current root
 * (cost bounded by the paths it touched) and installed as one revision.
 * Anything it never observed may have changed concurrently without failing
 * it, and blind writes simply win.
 */
import { XsError } from "../protocol/messages.js";
import { childrenOf } from "../store/children.js";
import { Node, OverlayNode } from "../store/node.js";
import { baseName, childPath, parentOf } from "../store/path.js";
import { permFor, type Perms, type Principal } from "../store/perms.js";
import type { Store } from "../store/store.js";
import { inheritedPerms, lookup, TreeEditor, type RemovedNode } from "../store/tree.js";
import { walk } from "../store/walk.js";
import { CHILDREN, EXISTS, PERMS, VALUE, type TreeView } from "./view.js";

const enum Origin {
  /** The view is the committed node as first seen (or its absence). */
  Base,
  /** Created by the transaction. */
  Created,
  /** Removed by the transaction. */
  Removed,
}

interface OverlayEntry {
  /** Committed node at first access (undefined: absent). */
  readonly base: Node | undefined;
  /** What the transaction sees now. */
  view: Node | undefined;
  origin: Origin;
  /** The transaction removed this node (or an ancestor) at some point. */
  removed: boolean;
  valueSet: boolean;
  permsSet: boolean;
  /** Written or made by the transaction: exists whatever the committed state. */
  ensured: boolean;
  /** Created nodes: the path whose committed ACL they inherited, if any. */
  permsFrom: string | null;
  /** Aspects of `base` the transaction relies on. */
  relied: number;
  /** Permission bits whose answer for the principal under `base`'s ACL the transaction relies on. */
  checks: number;
  /** Counted against the transaction-nodes quota (accessed by an op, not just pinned). */
  counted: boolean;
  /** cx `queue_watches`: fire an event for this node at commit. */
  fire: boolean;
  /** Only watches exactly on the node (removed descendants). */
  exact: boolean;
}

/** One change in the transaction's write log, replayed at commit. */
type LoggedChange =
  | { kind: "write"; path: string; value: string }
  | { kind: "mkdir"; path: string }
  | { kind: "rm"; path: string }
  | { kind: "perms"; path: string; perms: Perms };

/** An event to fire at commit, in first-access order (cx accessed-list order). */
export interface CommitEvent {
  readonly path: string;
  readonly exact: boolean;
  /** ACL when the transaction first saw the node (cx: old perms). */
  readonly oldPerms: Perms | undefined;
}

/**
 * Why a transaction cannot commit: a relied-on aspect of `path` changed
 * (a hot node for contention management), or the view it showed was one the
 * commit could not reproduce.
 */
export type Conflict = { readonly path: string } | { readonly doomed: true };

export interface TransactionLimits {
  /** Max distinct nodes accessed, or 0 for unlimited (unprivileged callers only). */
  maxNodes: number;
}

export class Transaction implements TreeView {
  readonly transactional = true;
  private readonly entries = new Map<string, OverlayEntry>();
  private readonly log: LoggedChange[] = [];
  /** A failed step left the overlay unusable: commit answers ENOMEM (cx). */
  failed = false;
  /** The view has shown committed state the commit could not reproduce: EAGAIN. */
  doomed = false;

  constructor(
    readonly id: number,
    private readonly store: Store,
    readonly principal: Principal,
    private readonly limits: TransactionLimits,
  ) {}

  /** Distinct nodes accessed by ops (the transaction-nodes quota). */
  private accessed = 0;

  /**
   * Would the first access of `path` show committed state through a node
   * this transaction removed? cx shows it (first access reads the committed
   * tree), so we do too; but the replayed commit will not have it, so such
   * a transaction can never commit (cx fails it as well: the removal read
   * the ancestor's child list, which has changed).
   */
  private belowRemoved(path: string): boolean {
    for (let p = path; p !== "/"; ) {
      p = parentOf(p);
      const a = this.entries.get(p);
      if (a) return a.origin === Origin.Removed;
    }
    return false;
  }

  /** The path whose committed absence `e` depends on, or null when the transaction caused it. */
  private absenceSource(path: string, e: OverlayEntry): string | null {
    if (e.removed || (e.origin === Origin.Created && e.base !== undefined)) return null;
    return path;
  }

  /**
   * The overlay entry for `path`, created on first access. `counted`: an
   * access by an op (cx counts those against transaction-nodes), as
   * opposed to pinning done for consistency.
   */
  private entry(path: string, counted = true): OverlayEntry {
    let e = this.entries.get(path);
    if (counted && !e?.counted) {
      if (this.limits.maxNodes > 0 && this.accessed >= this.limits.maxNodes) {
        this.failed = true;
        throw new XsError("ENOSPC", "transaction-nodes quota");
      }
      this.accessed++;
      if (e) e.counted = true;
    }
    if (!e) {
      const base = this.store.get(path);
      if (base && this.belowRemoved(path)) this.doomed = true;
      // Earlier writes below this node guarantee these children; as in cx
      // the view shows the committed node, but if it lacks them the commit
      // could not be what this view shows.
      const needed = this.required.get(path);
      if (needed && (!base || [...needed].some((n) => !base.children?.has(n)))) this.doomed = true;
      e = {
        base,
        view: base,
        origin: Origin.Base,
        removed: false,
        valueSet: false,
        permsSet: false,
        ensured: false,
        permsFrom: null,
        relied: 0,
        checks: 0,
        counted,
        fire: false,
        exact: false,
      };
      this.entries.set(path, e);
    }
    return e;
  }

  get(path: string): Node | undefined {
    return this.entry(path).view;
  }

  /** Has this transaction looked at `path` yet? */
  hasAccessed(path: string): boolean {
    return this.entries.has(path);
  }

  observe(path: string, aspects: number): void {
    const e = this.entries.get(path);
    if (!e) throw new Error(`observe before get: ${path}`);
    // Rely on the committed absence behind this node's view, wherever it
    // comes from (recorded on that entry's base directly: the entry may have
    // changed in this view since).
    const absence = (): void => {
      const src = this.absenceSource(path, e);
      if (src !== null) this.entries.get(src)!.relied |= EXISTS;
    };
    const fromBase = e.origin === Origin.Base && e.view !== undefined;
    if (aspects & EXISTS && e.origin === Origin.Base && !e.ensured) {
      if (fromBase) e.relied |= EXISTS;
      else absence();
    }
    if (aspects & VALUE && !e.valueSet) {
      if (fromBase) e.relied |= VALUE | EXISTS;
      else if (e.origin === Origin.Created) absence();
    }
    if (aspects & PERMS && !e.permsSet) {
      if (fromBase) e.relied |= PERMS | EXISTS;
      else if (e.origin === Origin.Created) {
        absence();
        // Inherited from that node's committed ACL, whatever this view did to it later.
        if (e.permsFrom !== null) this.entries.get(e.permsFrom)!.relied |= PERMS | EXISTS;
      }
    }
    if (aspects & CHILDREN) {
      if (fromBase) e.relied |= CHILDREN | EXISTS;
      else if (e.origin === Origin.Created) absence();
    }
  }

  observeAccess(path: string, perm: number): void {
    const e = this.entries.get(path);
    if (!e) throw new Error(`observe before get: ${path}`);
    if (e.permsSet) return;
    if (e.origin === Origin.Base && e.view !== undefined) {
      e.relied |= EXISTS;
      e.checks |= perm;
    } else if (e.origin === Origin.Created) {
      this.observe(path, EXISTS);
      // The ACL was inherited from that node's committed one.
      if (e.permsFrom !== null) {
        const src = this.entries.get(e.permsFrom)!;
        src.relied |= EXISTS;
        src.checks |= perm;
      }
    }
  }

  /** Paths whose node-size checks passed; the candidate tree must pass them too. */
  private readonly sizeChecked = new Set<string>();

  observeSize(path: string): void {
    this.sizeChecked.add(path);
  }

  /** A node-size check that passed in this view but fails on the candidate tree. */
  sizeConflict(candidate: TreeEditor, tooBig: (size: number) => boolean): string | null {
    for (const path of this.sizeChecked) {
      const node = candidate.get(path);
      if (node && tooBig(node.size)) return path;
    }
    return null;
  }

  /** Path whose committed ACL a node created under `anchor` would inherit. */
  private permsSource(anchor: string): string | null {
    const e = this.entries.get(anchor)!;
    if (e.permsSet) return null;
    if (e.origin === Origin.Base) return anchor;
    return e.permsFrom;
  }

  private queue(path: string, exact: boolean): void {
    const e = this.entries.get(path)!;
    if (!e.fire) {
      e.fire = true;
      e.exact = exact;
    } else if (!exact) {
      e.exact = false;
    }
  }

  /** cx `queue_watches`, called by handlers where cx calls `fire_watches`: fire at commit. */
  markEvent(path: string, exact: boolean): void {
    this.entry(path, false);
    this.queue(path, exact);
  }

  /**
   * Add or drop a name in the parent's overlay child map. Only names and
   * order are read from an overlay child map; children themselves are
   * always looked up through their own entries.
   */
  private setChild(parentPath: string, child: Node | undefined, name: string): void {
    const p = this.entries.get(parentPath)!;
    const view = p.view!;
    const kids = childrenOf(view);
    // Once cx's listing and the child map disagree, the listing is kept apart.
    let order: string[] | null = view instanceof OverlayNode ? [...view.order] : null;
    let next: Node;
    if (child) {
      if (kids.has(name)) {
        // cx's add_child appends blindly: a stale listing now has the name twice.
        order ??= [...view.childNames()];
        this.doomed = true;
        next = view;
      } else {
        next = view.withChildren(kids.set(child));
      }
      order?.push(name);
    } else {
      next = view.withChildren(kids.delete(name));
      if (order) {
        // cx removes the first occurrence; a duplicate still stands in the listing.
        const at = order.indexOf(name);
        if (at >= 0) order.splice(at, 1);
        if (order.includes(name)) next = next.withChildren(childrenOf(next).set(new Node(name, "", view.perms, null)));
      }
    }
    if (next instanceof OverlayNode) next = new Node(next.name, next.value, next.perms, next.children);
    p.view = order ? new OverlayNode(next, order) : next;
  }

  /**
   * Child names the replayed writes will guarantee under each path: a
   * written node exists after the write, and so does every ancestor on its
   * path.
   */
  private readonly required = new Map<string, Set<string>>();

  /**
   * After a write, the replayed commit will have the whole chain down to
   * the node. Where this view cannot show that chain (an ancestor read
   * before the chain vanished, or absent), the view is inconsistent with
   * what the commit would do, so the transaction is doomed to EAGAIN, which
   * is also what cx answers (the node it wrote has changed since it read
   * it). Ancestors not read yet are checked when first accessed (`entry`).
   */
  private linkChain(path: string): void {
    for (let p = path; p !== "/"; p = parentOf(p)) {
      const parentPath = parentOf(p);
      const name = baseName(p);
      let names = this.required.get(parentPath);
      if (!names) this.required.set(parentPath, (names = new Set()));
      names.add(name);
      const parentEntry = this.entries.get(parentPath);
      if (parentEntry && !parentEntry.view?.children?.has(name)) this.doomed = true;
    }
  }

  write(path: string, value: string): string[] {
    const created = this.ensure(path);
    this.linkChain(path);
    const e = this.entries.get(path)!;
    e.view = e.view!.withValue(value);
    e.valueSet = true;
    e.ensured = true;
    this.log.push({ kind: "write", path, value });
    return created;
  }

  mkdir(path: string): string[] {
    const created = this.ensure(path);
    this.linkChain(path);
    this.entries.get(path)!.ensured = true;
    this.log.push({ kind: "mkdir", path });
    return created;
  }

  /** Create the node and any missing ancestors in the overlay. */
  private ensure(path: string): string[] {
    const missing: string[] = [];
    let p = path;
    while (!this.get(p)) {
      missing.push(p);
      p = parentOf(p);
    }
    if (missing.length === 0) return [];
    const anchor = p;
    const perms = inheritedPerms(this.get(anchor)!.perms, this.principal);
    const source = this.permsSource(anchor);
    this.countNodes(perms.owner, missing.length);
    missing.reverse();
    let parent = anchor;
    for (const m of missing) {
      const e = this.entries.get(m)!;
      e.view = new Node(baseName(m), "", perms, null);
      e.origin = Origin.Created;
      e.valueSet = false;
      e.permsSet = false;
      e.ensured = true;
      e.permsFrom = source;
      this.setChild(parent, e.view, e.view.name);
      parent = m;
    }
    return missing;
  }

  /**
   * Remove a subtree the way cx walks it inside a transaction: depth first
   * through each node's (overlay) child list, deleting a node after its
   * children and unlinking it from its parent. A parent that does not list
   * the node is cx's "corrupt" case too (EIO).
   */
  remove(path: string): RemovedNode[] {
    const removed: RemovedNode[] = [];
    const drop = (e: OverlayEntry): void => {
      e.view = undefined;
      e.origin = Origin.Removed;
      e.removed = true;
      e.valueSet = false;
      e.permsSet = false;
      e.ensured = false;
      e.permsFrom = null;
    };
    const parentPath = parentOf(path);
    const root = this.get(path)!;
    this.observe(path, EXISTS | CHILDREN);
    const parentPerms = this.get(parentPath)!.perms;
    walk(path, root, (p, node) => this.listedChildren(p, node), {
      exit: (p, node, above) => {
        removed.push({ path: p, node, parentPerms: above ? above.perms : parentPerms });
        this.countNodes(node.perms.owner, -1);
        drop(this.entries.get(p)!);
        if (above) this.setChild(parentOf(p), undefined, baseName(p));
      },
    });
    // Nodes this view holds below the removed one without listing them
    // (they showed through later) stay visible, as in cx, but the commit
    // could not reproduce them.
    const prefix = `${path}/`;
    for (const [p, e] of this.entries) if (e.view !== undefined && p.startsWith(prefix)) this.doomed = true;
    if (!this.get(parentPath)!.lists(baseName(path))) {
      this.doomed = true;
      throw new XsError("EIO", `transaction view of ${parentPath} does not list ${path}`);
    }
    this.setChild(parentPath, undefined, baseName(path));
    this.log.push({ kind: "rm", path });
    return removed;
  }

  /**
   * The children a removal walks: the names the view's listing holds, each
   * looked up (a first access) only when the walk gets to it. A listed
   * child that is gone is cx's "corrupt" case: EIO, with what was already
   * deleted staying deleted; it arises only from an inconsistent view, so
   * the transaction cannot commit either way.
   */
  private *listedChildren(path: string, node: Node): Iterator<readonly [string, Node]> {
    for (const name of node.childNames()) {
      const p = childPath(path, name);
      const child = this.get(p);
      this.observe(p, EXISTS | CHILDREN);
      if (!child) {
        this.doomed = true;
        throw new XsError("EIO", `transaction view lists a missing child ${p}`);
      }
      yield [p, child];
    }
  }

  setPerms(path: string, perms: Perms): Perms {
    const e = this.entries.get(path)!;
    const old = e.view!.perms;
    if (old.owner !== perms.owner) {
      this.countNodes(old.owner, -1);
      this.countNodes(perms.owner, 1);
    }
    e.view = e.view!.withPerms(perms);
    e.permsSet = true;
    this.log.push({ kind: "perms", path, perms });
    return old;
  }

  /**
   * Nodes each domain gained (or lost) by this transaction's steps as they
   * ran on its view (cx's per-transaction accounting): what cx checks the
   * node quota with at commit, before looking for conflicts.
   */
  readonly nodeDeltas = new Map<number, number>();

  private countNodes(domid: number, delta: number): void {
    this.nodeDeltas.set(domid, (this.nodeDeltas.get(domid) ?? 0) + delta);
  }

  ownedForQuota(domid: number): number {
    // cx counts a transaction's own creations only at commit.
    return this.store.ownedBy(domid);
  }

  /** Does every relied-on aspect still hold in the committed tree? null when they all do. */
  conflict(): Conflict | null {
    if (this.doomed) return DOOMED;
    const root = this.store.root;
    for (const [path, e] of this.entries) {
      if (e.relied === 0) continue;
      const cur = lookup(root, path);
      if (cur === e.base) continue;
      const base = e.base;
      if (e.relied & EXISTS && (cur === undefined) !== (base === undefined)) return { path };
      if (!cur || !base) {
        if (e.relied & (VALUE | PERMS | CHILDREN)) return { path };
        continue;
      }
      if (e.relied & VALUE && cur.value !== base.value) return { path };
      if (e.relied & PERMS && cur.perms.visible !== base.perms.visible) return { path };
      if (e.checks && (permFor(this.principal, cur.perms) & e.checks) !== (permFor(this.principal, base.perms) & e.checks)) return { path };
      if (e.relied & CHILDREN && !childrenOf(cur).sameNames(base.children)) return { path };
    }
    return null;
  }

  /**
   * Replay the write log onto the current committed root. Returns the editor
   * holding the candidate root; nothing is installed yet, so the caller can
   * still refuse it (quota) without undoing anything.
   */
  replay(): TreeEditor {
    const editor = new TreeEditor(this.store.root);
    for (const op of this.log) {
      switch (op.kind) {
        case "write":
          editor.write(op.path, op.value, this.principal);
          break;
        case "mkdir":
          editor.mkdir(op.path, this.principal);
          break;
        case "rm":
          editor.remove(op.path);
          break;
        case "perms":
          editor.setPerms(op.path, op.perms);
          break;
      }
    }
    return editor;
  }

  /** Events to fire once committed, in cx order. */
  events(): CommitEvent[] {
    const out: CommitEvent[] = [];
    for (const [path, e] of this.entries) {
      if (e.fire) out.push({ path, exact: e.exact, oldPerms: e.base?.perms });
    }
    return out;
  }
}

const DOOMED: Conflict = { doomed: true };
