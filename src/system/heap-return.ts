/**
 * Gives memory back after a burst. V8 grows its heap while a toolstack
 * populates thousands of guests (measured: 290 MiB resident for 80 MiB
 * live after 10,000 guests) and shrinks it only when its memory reducer
 * happens to run, seconds to never later. The daemon knows when it has gone
 * idle: once no request has arrived for `idleMs` and the heap's old
 * generation has grown by `minGrowth` bytes since the last time, it asks
 * V8 (native/heap.cc) for a compacting collection that returns the free
 * pages, then for ordinary behaviour again. It runs only while idle, so no request waits for it,
 * and not again until the heap has grown again.
 */
import { addonLoader } from "../util/addon.js";
import { getHeapSpaceStatistics } from "node:v8";

interface HeapAddon {
  /** 0 none, 1 moderate, 2 critical (a compacting collection now). */
  memoryPressure(level: number): void;
}

const heapAddon = addonLoader<HeapAddon>("tsxs_heap");

/** A compacting collection that returns free heap pages to the system; false without the addon. */
export function returnHeap(): boolean {
  const a = heapAddon();
  if (!a) return false;
  // Twice: the second collection compacts what the first freed (measured at
  // 10,000 guests: heap 401 -> 203 MiB after one, 126 MiB after two).
  for (let i = 0; i < 2; i++) {
    a.memoryPressure(2);
    a.memoryPressure(0);
  }
  return true;
}

export interface HeapReturnOptions {
  /** A number that changes whenever the daemon serves anything (its request count). */
  readonly activity: () => number;
  /** Quiet time before the heap is returned. */
  readonly idleMs?: number;
  /** Growth of the heap since the last return that makes one worth it. */
  readonly minGrowth?: number;
  /** Test seams: the heap's size, the clock, the collection. */
  readonly heapSize?: () => number;
  readonly now?: () => number;
  readonly collect?: () => boolean;
  readonly log?: (line: string) => void;
}

export const HEAP_RETURN_DEFAULTS = { idleMs: 1000, minGrowth: 32 * 1024 * 1024, checkMs: 250 } as const;

export class HeapReturn {
  private readonly idleMs: number;
  private readonly minGrowth: number;
  private readonly heapSize: () => number;
  private readonly now: () => number;
  private readonly collect: () => boolean;
  private lastActivity: number;
  private quietSince: number;
  /** The heap's size right after the last return (or at start). */
  private base: number;
  private timer: NodeJS.Timeout | null = null;
  /** Collections made (statistics, tests). */
  returns = 0;

  constructor(private readonly opts: HeapReturnOptions) {
    this.idleMs = opts.idleMs ?? HEAP_RETURN_DEFAULTS.idleMs;
    this.minGrowth = opts.minGrowth ?? HEAP_RETURN_DEFAULTS.minGrowth;
    this.heapSize = opts.heapSize ?? oldGenerationSize;
    this.now = opts.now ?? (() => performance.now());
    this.collect = opts.collect ?? returnHeap;
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
    if (before - this.base < this.minGrowth) return false;
    if (!this.collect()) {
      this.stop();
      return false;
    }
    this.returns++;
    this.base = this.heapSize();
    this.opts.log?.(`idle: heap returned, ${mib(before)} -> ${mib(this.base)} MiB in ${(this.now() - now).toFixed(0)} ms`);
    return true;
  }
}

/**
 * The heap's old generation (everything but the young spaces): what a burst
 * leaves grown. The young generation is left out: it grows and shrinks with
 * any traffic, and counting it made an ordinary benchmark round look like a
 * burst (and each return costs the next requests a re-warm of compiled code).
 */
function oldGenerationSize(): number {
  let n = 0;
  for (const s of getHeapSpaceStatistics()) if (!s.space_name.startsWith("new_")) n += s.space_size;
  return n;
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(0);
}
