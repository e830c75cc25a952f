/**
 * Idle polling (native/idle-poll.c): before the event loop waits for I/O,
 * it spins for up to a window, so that the next request of a burst is met
 * by a running CPU instead of waking an idle one. On a virtual machine
 * without halt polling that wake-up costs an interrupt to send, a
 * hypervisor round trip and cold caches, every request: measured here,
 * upstream test-xenstore unpinned went from 1.62x cxenstored to 0.72-0.83x,
 * with less daemon CPU, not more (docs/design.md "Idle polling").
 *
 * The spin is bounded (only after a wait shorter than the window, at most
 * one fruitless window per burst), pauses between checks (yielding the
 * CPU now and then), and is off while the daemon may run on one CPU only.
 */
import { addonLoader } from "../util/addon.js";

export interface IdlePollStats {
  /** Spins begun. */
  spins: number;
  /** Spins that ended because input (or a timer) became ready. */
  hits: number;
  /** CPU time spent spinning. */
  spunSeconds: number;
}

interface IdlePollAddon {
  idlePoll(windowMicroseconds: number): number;
  idlePollStats(): IdlePollStats;
}

const addon = addonLoader<IdlePollAddon>("tsxs_idle");

/** Default window: what a client's next request of a burst takes to come back, with room (µs). */
export const IDLE_POLL_US = 100;
/** Largest window accepted (µs). */
export const IDLE_POLL_MAX_US = 10_000;

/**
 * Poll for up to `windowUs` microseconds before each wait of this thread's
 * event loop (0: off). False when the addon is missing (nothing happens).
 */
export function setIdlePoll(windowUs: number): boolean {
  const a = addon();
  if (!a) return false;
  const rc = a.idlePoll(windowUs);
  if (rc !== 0) throw new RangeError(`idle poll window ${windowUs} µs: errno ${rc}`);
  return true;
}

/** What idle polling has done so far, or null without the addon. */
export function idlePollStats(): IdlePollStats | null {
  return addon()?.idlePollStats() ?? null;
}
