/**
 * The tree as one request sees it. Op handlers are written once against
 * `TreeView`; outside a transaction it edits the committed tree directly
 * (`DirectView`), inside one it is the transaction's private overlay.
 *
 * Handlers call `observe` for every aspect of a node their outcome depends
 * on. Direct views ignore it; transactions record it and validate exactly
 * those aspects at commit.
 */
import type { Node } from "../store/node.js";
import type { Perms, Principal } from "../store/perms.js";
import type { CommitMeta, CommitRecord, Store } from "../store/store.js";
import { lookup, TreeEditor, type RemovedNode } from "../store/tree.js";

/** Aspects of a node an outcome can depend on. */
export const EXISTS = 1;
export const VALUE = 2;
export const PERMS = 4;
export const CHILDREN = 8;

export interface TreeView {
  readonly principal: Principal;
  /** Inside a transaction? (decides how watch events are emitted) */
  readonly transactional: boolean;
  /** The node at `path` as this view sees it. */
  get(path: string): Node | undefined;
  /** Record that the outcome depends on these aspects of `path` (already fetched with `get`). */
  observe(path: string, aspects: number): void;
  /**
   * Record that the outcome depends on whether the principal has the
   * permission bits `perm` on `path`: only that answer, not the whole ACL.
   */
  observeAccess(path: string, perm: number): void;
  /** Record that a node-size check on `path` passed (it must still pass at commit). */
  observeSize(path: string): void;
  /** Create or update; returns the paths created, top-down. */
  write(path: string, value: string): string[];
  /** Create a missing node; returns the paths created, top-down. */
  mkdir(path: string): string[];
  /** Remove an existing node and its subtree; nodes in removal-event order. */
  remove(path: string): RemovedNode[];
  /** Change the ACL of an existing node; returns the old one. */
  setPerms(path: string, perms: Perms): Perms;
  /** Nodes `domid` owns, counting what this view has not committed yet where cx does. */
  ownedForQuota(domid: number): number;
}

/** Outside transactions: edit the committed tree; `finish` commits. */
export class DirectView implements TreeView {
  readonly transactional = false;
  /** Created by the first change: most requests only read. */
  private session: TreeEditor | null = null;

  constructor(
    private readonly store: Store,
    readonly principal: Principal,
  ) {}

  private get editor(): TreeEditor {
    return (this.session ??= new TreeEditor(this.store.root));
  }

  get(path: string): Node | undefined {
    return this.session ? this.session.get(path) : lookup(this.store.root, path);
  }

  observe(): void {}
  observeAccess(): void {}
  observeSize(): void {}

  write(path: string, value: string): string[] {
    return this.editor.write(path, value, this.principal);
  }

  mkdir(path: string): string[] {
    return this.editor.mkdir(path, this.principal);
  }

  remove(path: string): RemovedNode[] {
    return this.editor.remove(path) ?? [];
  }

  setPerms(path: string, perms: Perms): Perms {
    const old = this.editor.setPerms(path, perms);
    if (!old) throw new Error(`setPerms on missing node ${path}`);
    return old;
  }

  ownedForQuota(domid: number): number {
    return this.store.ownedBy(domid) + (this.session?.ownerDeltas.get(domid) ?? 0);
  }

  /** Make this request's changes the committed state (one commit, if it changed anything). */
  finish(meta: CommitMeta): CommitRecord | null {
    return this.session ? this.store.commit({ editor: this.session }, meta) : null;
  }
}
