/**
 * Packs the cold parts of the committed tree (store/frozen.ts). A walk
 * goes over the tree's unpacked nodes (a packed subtree is one step) and
 * finds units: the largest subtrees of flat directories that pack into at
 * most UNIT_MAX bytes, e.g. one guest's home. A unit is packed when the
 * next walk finds it still the same node: any change below a node replaces
 * it, so a subtree being written to stays unpacked instead of being packed
 * and thawed over and over. Packing is in place (`representChildrenAs`):
 * every revision sharing the node shares the packed form, and nothing a
 * reader or a transaction can observe changes.
 *
 * A walk proceeds in passes bounded in time, each going on where the last
 * stopped. It keeps to the root it started from even when newer ones have
 * been committed since: a node it packs there is either still in the
 * current tree (the same object) or already garbage.
 */
import { eachUnpacked, isFlat, packLeaves, type Children } from "./children.js";
import { FrozenChildren, pack, PACKED_LEAVES } from "./frozen.js";
import { representChildrenAs, type Node, OverlayNode } from "./node.js";

/** Largest unit, packed bytes: a thawed path and the next packing cost at most this much. */
export const UNIT_MAX = 32 * 1024;

export interface CompactionStats {
  /** Units packed since the start. */
  readonly units: number;
  /** Their packed bytes. */
  readonly bytes: number;
  /** Passes run. */
  readonly passes: number;
  /** Walks finished. */
  readonly walks: number;
  /** Children of large directories packed into their leaves. */
  readonly leaves: number;
}

/** A directory being walked. */
interface Frame {
  readonly node: Node;
  readonly kids: readonly Node[];
  next: number;
  /** Packed size of the children so far; -1 once they cannot be one unit with `node`. */
  total: number;
  /** Units below that wait for the verdict on `node` (null once it cannot be a unit). */
  waiting: [Node, number][] | null;
  /** `unpacked` when the frame began. */
  readonly unpackedBefore: number;
}

export class ColdSubtreeCompactor {
  /** Units the last finished walk found: packed when this walk finds them unchanged. */
  private candidates = new Set<Node>();
  private found = new Set<Node>();
  /**
   * Directories that cannot be packed whole and have nothing left to pack
   * below: not walked again. Children are immutable, so any change below
   * gives the directory a new children object, which is walked.
   */
  private readonly settled = new WeakSet<Children>();
  /** Units that could not be packed (a character above U+00FF): not tried again while unchanged. */
  private readonly unpackable = new WeakSet<Children>();
  /** Packed sizes of the units found (not walked again while they wait). */
  private readonly sizes = new WeakMap<Children, number>();
  /** Units found but not packed so far (a directory above them is not settled). */
  private unpacked = 0;
  /** The walk under way, or null between walks. */
  private stack: Frame[] | null = null;
  private readonly stats = { units: 0, bytes: 0, passes: 0, walks: 0, leaves: 0 };

  get totals(): CompactionStats {
    return { ...this.stats };
  }

  /** Is there work left without a new commit: a walk under way, or units found waiting to be packed? */
  get pending(): boolean {
    return this.stack !== null || this.candidates.size > 0;
  }

  /**
   * Go on with the walk under way, or begin one at `root`, for at most
   * `budgetMs`; true when the walk finished, false when time ran out
   * (call again: it goes on from there).
   */
  pass(root: Node, budgetMs: number): boolean {
    this.stats.passes++;
    const deadline = performance.now() + budgetMs;
    if (!this.stack) {
      this.found = new Set();
      const size = this.known(root);
      if (size !== undefined) return this.finish(root, size);
      this.stack = [this.frame(root)];
    }
    const stack = this.stack;
    for (let steps = 1; ; steps++) {
      if ((steps & 63) === 0 && performance.now() > deadline) return false;
      const top = stack[stack.length - 1]!;
      if (top.next < top.kids.length) {
        const kid = top.kids[top.next++]!;
        const size = this.known(kid);
        if (size === undefined) stack.push(this.frame(kid));
        else this.accept(top, kid, size);
        continue;
      }
      stack.pop();
      const size = this.close(top);
      const parent = stack[stack.length - 1];
      if (!parent) return this.finish(top.node, size);
      this.accept(parent, top.node, size);
    }
  }

  /** The packed size of `node`'s children when it needs no walking: 0 for none, -1 when they cannot be packed. */
  private known(node: Node): number | undefined {
    const c = node.children;
    if (c === null) return 0;
    if (c instanceof FrozenChildren) return c.end - c.start;
    if (this.settled.has(c) || this.unpackable.has(c)) return -1;
    return this.sizes.get(c);
  }

  private frame(node: Node): Frame {
    const c = node.children!;
    const flat = isFlat(c) && !(node instanceof OverlayNode);
    const kids: Node[] = [];
    eachUnpacked(c, (kid) => kids.push(kid));
    return { node, kids, next: 0, total: flat ? 0 : -1, waiting: flat ? [] : null, unpackedBefore: this.unpacked };
  }

  /** Child `kid`, whose children pack into `size` bytes (-1: they cannot), of the directory in `f`. */
  private accept(f: Frame, kid: Node, size: number): void {
    if (size < 0) f.total = -1;
    else if (f.total >= 0) {
      f.total += kid.name.length + kid.value.length + size + 8;
      if (f.total > UNIT_MAX) f.total = -1;
    }
    if (f.total < 0 && f.waiting) {
      // Not part of a larger unit: its children that can be are units of their own.
      for (const [u, s] of f.waiting) this.consider(u, s);
      f.waiting = null;
    }
    if (size > 0 && !(kid.children instanceof FrozenChildren)) {
      if (f.waiting) f.waiting.push([kid, size]);
      else this.consider(kid, size);
    }
  }

  /** The packed size of the directory walked in `f`, or -1. */
  private close(f: Frame): number {
    const c = f.node.children!;
    if (f.total < 0 && this.unpacked === f.unpackedBefore) this.settled.add(c);
    // A large directory's cold children (packed in this walk or before) become packed leaves.
    this.stats.leaves += packLeaves(c, PACKED_LEAVES);
    return f.total;
  }

  private finish(root: Node, size: number): boolean {
    if (size > 0 && !(root.children instanceof FrozenChildren)) this.consider(root, size);
    this.candidates = this.found;
    this.stack = null;
    this.stats.walks++;
    return true;
  }

  /** `unit`, whose children pack into `size` bytes, is packed if it was a candidate, else it becomes one. */
  private consider(unit: Node, size: number): void {
    const c = unit.children!;
    if (!this.candidates.delete(unit)) {
      this.found.add(unit);
      this.sizes.set(c, size);
      this.unpacked++;
      return;
    }
    const packed = pack(c);
    if (!packed) {
      this.unpackable.add(c);
      return;
    }
    representChildrenAs(unit, packed);
    this.stats.units++;
    this.stats.bytes += packed.end;
  }
}

export interface CompactionScheduleOptions {
  /** The compactor to run (one whose totals are read elsewhere); a new one by default. */
  readonly compactor?: ColdSubtreeCompactor;
  /** Time between passes while the tree changes. */
  readonly intervalMs?: number;
  /** Time a pass may take (the daemon serves nothing meanwhile). */
  readonly budgetMs?: number;
  /** Time before a pass that ran out of time goes on. */
  readonly resumeMs?: number;
  /** Told after each walk that packed something (diagnostics). */
  readonly packed?: (units: number, bytes: number, totals: CompactionStats) => void;
  /** Nodes in the store now; no packing while there are fewer than `minNodes`. */
  readonly storeNodes?: () => number;
  readonly minNodes?: number;
}

/**
 * Below this many nodes the store is left as it is: the memory packing
 * would save is a few MiB, and reading packed nodes costs a decoding on
 * each lookup (a small store that is read all the time, as test-xenstore's,
 * was slower packed).
 */
export const PACK_MIN_NODES = 20_000;

/**
 * Run passes over the tree `root()` returns for as long as it keeps
 * changing, and until what it found is packed; nothing while it is still,
 * or small.
 */
export function compactInBackground(root: () => Node, opts: CompactionScheduleOptions = {}): { readonly compactor: ColdSubtreeCompactor; stop(): void } {
  const compactor = opts.compactor ?? new ColdSubtreeCompactor();
  const intervalMs = opts.intervalMs ?? 1000;
  const budgetMs = opts.budgetMs ?? 5;
  const resumeMs = opts.resumeMs ?? 20;
  const minNodes = opts.minNodes ?? PACK_MIN_NODES;
  let seen: Node | null = null;
  /** Totals when the last walk finished. */
  let walkStart = compactor.totals;
  let timer: NodeJS.Timeout | null = null;
  const schedule = (ms: number): void => {
    timer = setTimeout(run, ms);
    timer.unref();
  };
  const run = (): void => {
    const now = root();
    if ((now === seen && !compactor.pending) || (opts.storeNodes && opts.storeNodes() < minNodes)) return schedule(intervalMs);
    seen = now;
    const finished = compactor.pass(now, budgetMs);
    if (finished) {
      const after = compactor.totals;
      if (after.units > walkStart.units) opts.packed?.(after.units - walkStart.units, after.bytes - walkStart.bytes, after);
      walkStart = after;
    }
    schedule(finished ? intervalMs : resumeMs);
  };
  schedule(intervalMs);
  return {
    compactor,
    stop() {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
