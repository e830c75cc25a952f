/**
 * One malloc arena for every thread of the daemon. glibc gives each thread
 * that allocates while another holds the lock an arena of its own; V8's
 * worker threads (collector, compiler) each kept one with 1-2 MiB resident
 * that malloc_trim could not give back (measured at 10,000 guests x 95
 * nodes: 54 -> 48 MiB private, with no change in a cold boot storm's time).
 * The limit applies to threads that have not allocated yet, so the
 * daemon's entry script sets it before it loads anything else.
 */
import { addonLoader } from "../util/addon.js";

interface ArenaAddon {
  /** glibc mallopt(M_ARENA_MAX, n) (native/heap.cc); whether it was set. */
  limitMallocArenas(n: number): boolean;
}

const heapAddon = addonLoader<ArenaAddon>("tsxs_heap");

/**
 * Limit the C heap to one arena, unless MALLOC_ARENA_MAX says otherwise
 * (glibc applied it at start). False without the addon, with the variable
 * set, or where the C library refused.
 */
export function shareMallocArena(env: NodeJS.ProcessEnv): boolean {
  if (env.MALLOC_ARENA_MAX !== undefined) return false;
  return heapAddon()?.limitMallocArenas(1) ?? false;
}
