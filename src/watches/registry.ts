/**
 * All watches of all connections, indexed by watched path so that an event
 * only looks at the watches on its own path and its ancestors instead of
 * scanning every watch. Matching follows C xenstored (`is_child` with the
 * optional depth, exact matches for removed descendants, and the special
 * `@` paths).
 */
import { depthBelow, parentOf } from "../store/path.js";

export interface WatchOwner {
  /** Orders delivery like cx's connection list. */
  readonly seq: number;
}

export interface Watch<C extends WatchOwner = WatchOwner> {
  readonly owner: C;
  /** Absolute (or `@`) path watched. */
  readonly path: string;
  readonly token: string;
  /** Characters to strip from event paths (relative watches). */
  readonly prefixLength: number;
  /** Levels below `path` that match; -1: unlimited. */
  readonly depth: number;
  /** Registration order. */
  readonly seq: number;
}

/** How an event path selects watches (cx `enum watch_match`). */
export const enum Match {
  /** Watches on the path or any ancestor (within depth). */
  Subtree,
  /** Only watches exactly on the path (descendants of a removed node). */
  Exact,
  /** `@special/<domid>`: watches on it, or depth watches on `@special`. */
  Depth,
  /** Plain `@special`: exact watches without a depth. */
  NoDepth,
}

/** An empty watch list (a path nobody watches). */
const NONE: readonly never[] = [];

export class WatchRegistry<C extends WatchOwner = WatchOwner> {
  private readonly byPath = new Map<string, Watch<C>[]>();
  private readonly byOwner = new Map<C, Watch<C>[]>();
  /** Bytes of each owner's watch paths and tokens (its memory quota). */
  private readonly ownerBytes = new Map<C, number>();
  private nextSeq = 1;
  // Method-style (bivariant) so that a registry of connections is still a registry of watch owners.
  private readonly changeListeners: { call(owner: C): void }["call"][] = [];

  /** Be told whenever an owner's set of watches changes (the journal keeps guests' watches). */
  onChange(listener: (owner: C) => void): void {
    this.changeListeners.push(listener);
  }

  private changed(owner: C): void {
    for (const l of this.changeListeners) l(owner);
  }

  add(w: Omit<Watch<C>, "seq">): Watch<C> {
    const watch: Watch<C> = { ...w, seq: this.nextSeq++ };
    let list = this.byPath.get(watch.path);
    if (!list) this.byPath.set(watch.path, (list = []));
    list.push(watch);
    let mine = this.byOwner.get(watch.owner);
    if (!mine) this.byOwner.set(watch.owner, (mine = []));
    mine.push(watch);
    this.ownerBytes.set(watch.owner, (this.ownerBytes.get(watch.owner) ?? 0) + watch.path.length + watch.token.length);
    this.changed(watch.owner);
    return watch;
  }

  find(owner: C, path: string, token: string): Watch<C> | undefined {
    return this.byOwner.get(owner)?.find((w) => w.path === path && w.token === token);
  }

  remove(watch: Watch<C>): void {
    const list = this.byPath.get(watch.path);
    if (list) {
      const i = list.indexOf(watch);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byPath.delete(watch.path);
    }
    const mine = this.byOwner.get(watch.owner);
    if (mine) {
      const i = mine.indexOf(watch);
      if (i >= 0) {
        mine.splice(i, 1);
        const left = this.ownerBytes.get(watch.owner)! - watch.path.length - watch.token.length;
        if (left === 0) this.ownerBytes.delete(watch.owner);
        else this.ownerBytes.set(watch.owner, left);
      }
      if (mine.length === 0) this.byOwner.delete(watch.owner);
      this.changed(watch.owner);
    }
  }

  removeAll(owner: C): number {
    const mine = this.byOwner.get(owner);
    if (!mine) return 0;
    for (const w of [...mine]) this.remove(w);
    return mine.length;
  }

  /** Bytes of an owner's watch paths and tokens. */
  bytesOf(owner: C): number {
    return this.ownerBytes.get(owner) ?? 0;
  }

  count(owner: C): number {
    return this.byOwner.get(owner)?.length ?? 0;
  }

  ofOwner(owner: C): readonly Watch<C>[] {
    return this.byOwner.get(owner) ?? [];
  }

  /** Every watch, in registration order. */
  all(): Watch<C>[] {
    const out: Watch<C>[] = [];
    for (const l of this.byOwner.values()) out.push(...l);
    return out.sort((a, b) => a.seq - b.seq);
  }

  get size(): number {
    let n = 0;
    for (const l of this.byPath.values()) n += l.length;
    return n;
  }

  /** Watches an event on `path` fires, in delivery order (owner, then registration). */
  matching(path: string, match: Match): readonly Watch<C>[] {
    // Most changes match no watch: nothing is allocated for them.
    if (this.byPath.size === 0) return NONE;
    let out: Watch<C>[] | undefined;
    switch (match) {
      case Match.Exact:
        for (const w of this.byPath.get(path) ?? NONE) (out ??= []).push(w);
        break;
      case Match.NoDepth:
        for (const w of this.byPath.get(path) ?? NONE) if (w.depth < 0) (out ??= []).push(w);
        break;
      case Match.Depth: {
        for (const w of this.byPath.get(path) ?? NONE) (out ??= []).push(w);
        const base = path.slice(0, path.indexOf("/") < 0 ? path.length : path.indexOf("/"));
        if (base !== path) for (const w of this.byPath.get(base) ?? NONE) if (w.depth > 0 && depthBelow(path, w.path) <= w.depth) (out ??= []).push(w);
        break;
      }
      case Match.Subtree: {
        if (path.startsWith("@")) {
          for (const w of this.byPath.get(path) ?? NONE) (out ??= []).push(w);
          break;
        }
        let p = path;
        for (;;) {
          const list = this.byPath.get(p);
          if (list) for (const w of list) if (w.depth < 0 || depthBelow(path, w.path) <= w.depth) (out ??= []).push(w);
          if (p === "/") break;
          p = parentOf(p);
        }
        break;
      }
    }
    if (!out) return NONE;
    if (out.length > 1) out.sort((a, b) => a.owner.seq - b.owner.seq || a.seq - b.seq);
    return out;
  }
}
