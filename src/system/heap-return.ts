/**
 * Gives memory back after a burst. V8 grows its heap while a toolstack
 * populates thousands of guests (measured: 290 MiB resident for 80 MiB
 * live after 10,000 guests) and shrinks it only when its memory reducer
 * happens to run, seconds to never later. The daemon knows when it has gone
 * idle: once no request has arrived for `idleMs` and the heap's old
 * generation has grown by `minGrowth` bytes since the last time, it asks
 * V8 (native/heap.cc) for a compacting collection that returns the free
 * pages, then for ordinary behaviour again. It runs only while idle, so
 * no request waits for it, and not again until the heap has grown again.
 *
 * The young generation grows to 32 MiB under any sustained traffic (Node's
 * default, kept: a smaller one, --max-semi-space-size=2, cost 10% more CPU
 * and left more garbage in the old generation after a burst, measured
 * 2026-12-07). After a longer quiet time (`youngIdleMs`) a young generation
 * of `youngMin` bytes or more is given back too, by a minor collection,
 * once per quiet period: a host that has finished booting its guests does
 * not keep 32 MiB for the next burst, while a daemon that is merely between
 * requests keeps it.
 */
import { addonLoader } from "../util/addon.js";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

interface HeapAddon {
  /** 0 none, 1 moderate, 2 critical (a compacting collection now). */
  memoryPressure(level: number): void;
  /** glibc malloc_trim(0): the C heap's free pages back to the system; whether any were. */
  trimMalloc(): boolean;
}

const heapAddon = addonLoader<HeapAddon>("tsxs_heap");

/**
 * A compacting collection that returns free heap pages to the system
 * (critical memory pressure); twice: the second compacts what the first
 * freed (measured at 10,000 guests: heap 401 -> 203 MiB after one, 126 MiB
 * after two). Then the C heap's free pages too (buffers and compiler
 * memory are malloc'd, and glibc keeps what a burst freed: measured 30 MiB
 * after 10,000 guests). It drops compiled code as the young generation's
 * return avoids doing (below), so it is kept for after bursts. False
 * without the addon.
 */
export const returnHeap = (): boolean => {
  const a = heapAddon();
  if (!a) return false;
  for (let i = 0; i < 2; i++) {
    a.memoryPressure(2);
    a.memoryPressure(0);
  }
  a.trimMalloc();
  return true;
};

/** V8's `gc()`, from a context that has it (the main one does not without --expose-gc); null where it cannot be had. */
let collector: ((options: { type: "minor" | "major" }) => void) | null | undefined;

function gcFunction(): ((options: { type: "minor" | "major" }) => void) | null {
  if (collector === undefined) {
    try {
      setFlagsFromString("--expose-gc");
      const gc: unknown = runInNewContext("gc");
      collector = typeof gc === "function" ? (gc as (options: { type: "minor" | "major" }) => void) : null;
    } catch {
      collector = null;
    }
  }
  return collector;
}

/**
 * Start the quiet window V8 judges the allocation rate by: a minor
 * collection records what the burst allocated since the last one, so that
 * a collection more than 5 s later sees only the quiet (V8 shrinks the
 * young generation after a collection only when the allocation rate over
 * its last 5 s of records is below 1 KB/ms). False where `gc` cannot be had.
 */
export const settleYoungGeneration = (): boolean => {
  const gc = gcFunction();
  if (!gc) return false;
  gc({ type: "minor" });
  return true;
};

/**
 * The young generation back: a minor collection more than 5 s after
 * `settleYoungGeneration`, after which V8 shrinks the young generation by
 * its own heuristics (32 -> 1 MiB, measured), then the C heap's free
 * pages. Not memory pressure: a memory-reducing collection also drops
 * compiled code tied to objects and maps it clears, and the next requests
 * paid 0.3-0.5 s of CPU to compile it again (test-xenstore after 7 s
 * idle, measured 2026-12-07).
 */
export const returnYoungGeneration = (): boolean => {
  const gc = gcFunction();
  if (!gc) return false;
  gc({ type: "minor" });
  heapAddon()?.trimMalloc();
  return true;
};

export interface HeapReturnOptions {
  /** A number that changes whenever the daemon serves anything (its request count). */
  readonly activity: () => number;
  /** Quiet time before the heap is returned. */
  readonly idleMs?: number;
  /** Growth of the heap since the last return that makes one worth it. */
  readonly minGrowth?: number;
  /** Quiet time before a large young generation is given back. */
  readonly youngIdleMs?: number;
  /** Young generation size (committed bytes) worth giving back. */
  readonly youngMin?: number;
  /** Test seams: the heap's size, the young generation's, the clock, the collections. */
  readonly heapSize?: () => number;
  readonly youngSize?: () => number;
  readonly now?: () => number;
  readonly collect?: () => boolean;
  readonly collectYoung?: () => boolean;
  readonly settleYoung?: () => boolean;
  readonly log?: (line: string) => void;
}

export const HEAP_RETURN_DEFAULTS = { idleMs: 1000, minGrowth: 32 * 1024 * 1024, youngIdleMs: 7000, youngMin: 16 * 1024 * 1024, checkMs: 250 } as const;

export class HeapReturn {
  private readonly idleMs: number;
  private readonly minGrowth: number;
  private readonly youngIdleMs: number;
  private readonly youngMin: number;
  private readonly heapSize: () => number;
  private readonly youngSize: () => number;
  private readonly now: () => number;
  private readonly collect: () => boolean;
  private readonly collectYoung: () => boolean;
  private readonly settleYoung: () => boolean;
  /** The quiet period in which the young generation was last given back (its start), or -1. */
  private youngReturnedIn = -1;
  /** The quiet period in which the young generation's quiet window was started (its start), or -1. */
  private youngSettledIn = -1;
  private lastActivity: number;
  private quietSince: number;
  /** The heap's size right after the last return (or at start). */
  private base: number;
  private timer: NodeJS.Timeout | null = null;
  /** Collections made (statistics, tests). */
  returns = 0;
  /** Young generations given back (statistics, tests). */
  youngReturns = 0;

  constructor(private readonly opts: HeapReturnOptions) {
    this.idleMs = opts.idleMs ?? HEAP_RETURN_DEFAULTS.idleMs;
    this.minGrowth = opts.minGrowth ?? HEAP_RETURN_DEFAULTS.minGrowth;
    this.youngIdleMs = opts.youngIdleMs ?? HEAP_RETURN_DEFAULTS.youngIdleMs;
    this.youngMin = opts.youngMin ?? HEAP_RETURN_DEFAULTS.youngMin;
    this.heapSize = opts.heapSize ?? (() => generationSize(false));
    this.youngSize = opts.youngSize ?? (() => generationSize(true));
    this.now = opts.now ?? (() => performance.now());
    this.collect = opts.collect ?? returnHeap;
    this.collectYoung = opts.collectYoung ?? returnYoungGeneration;
    this.settleYoung = opts.settleYoung ?? settleYoungGeneration;
    this.lastActivity = opts.activity();
    this.quietSince = this.now();
    this.base = this.heapSize();
  }

  /** Check periodically (the timer does not keep the process alive). */
  start(checkMs: number = HEAP_RETURN_DEFAULTS.checkMs): this {
    this.timer ??= setInterval(() => this.check(), checkMs).unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check; whether the heap was returned. */
  check(): boolean {
    const activity = this.opts.activity();
    const now = this.now();
    if (activity !== this.lastActivity) {
      this.lastActivity = activity;
      this.quietSince = now;
      return false;
    }
    if (now - this.quietSince < this.idleMs) return false;
    const before = this.heapSize();
    // V8 shrank it by itself: growth counts from there.
    if (before < this.base) this.base = before;
    if (before - this.base < this.minGrowth) return this.checkYoung(now);
    if (!this.collect()) {
      this.stop();
      return false;
    }
    this.returns++;
    // The compacting collection shrank the young generation too.
    this.youngReturnedIn = this.quietSince;
    this.base = this.heapSize();
    this.opts.log?.(`idle: heap returned, ${mib(before)} -> ${mib(this.base)} MiB in ${(this.now() - now).toFixed(0)} ms`);
    return true;
  }

  /**
   * A large young generation: quiet for `idleMs`, start V8's quiet window;
   * quiet for `youngIdleMs` (5 s later or more), give it back; once in
   * this quiet period.
   */
  private checkYoung(now: number): boolean {
    if (this.youngReturnedIn === this.quietSince) return false;
    const young = this.youngSize();
    if (young < this.youngMin) return false;
    if (this.youngSettledIn !== this.quietSince) {
      this.youngSettledIn = this.quietSince;
      this.settleYoung();
      return false;
    }
    if (now - this.quietSince < this.youngIdleMs) return false;
    if (!this.collectYoung()) return false;
    this.youngReturns++;
    this.youngReturnedIn = this.quietSince;
    this.opts.log?.(`idle: young generation given back, ${mib(young)} -> ${mib(this.youngSize())} MiB`);
    return true;
  }
}

/**
 * Committed bytes of the young generation (the semi-spaces and its large
 * objects), or of the old one (everything else). Growth is counted on the
 * old generation only: the young one grows and shrinks with any traffic,
 * and counting it made an ordinary benchmark round look like a burst (and
 * each return costs the next requests a re-warm of compiled code).
 */
function generationSize(young: boolean): number {
  let n = 0;
  for (const s of getHeapSpaceStatistics()) if (s.space_name.startsWith("new_") === young) n += s.space_size;
  return n;
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(0);
}
