/**
 * Request counters kept on the request path: by op and result, and (when
 * someone asked for timing) a latency histogram by op, from one request in
 * TIME_EVERY (two clock reads per request cost pipelined writes about 10%
 * in the daemon, measured with bench workload 11; one in 16 costs what the
 * measurement cannot tell from noise). Plain typed arrays
 * indexed by small integers, so counting a request is an increment or two;
 * whoever reports them (the metrics, CONTROL stats) reads and labels them
 * when asked, off the request path.
 */
import { ERROR_NAMES, opName, type XsErrno } from "../protocol/messages.js";

/** Message types 0..OP_SLOTS-2 are counted by type; anything else (unknown types) in the last slot. */
export const OP_SLOTS = 32;
const UNKNOWN_OP = OP_SLOTS - 1;

/** Result 0 is success; 1.. are the errnos in wire order. */
export const RESULTS: readonly string[] = ["ok", ...ERROR_NAMES];
const RESULT_SLOTS = RESULTS.length;
const RESULT_INDEX: Readonly<Record<string, number>> = Object.fromEntries(ERROR_NAMES.map((e, i) => [e, i + 1]));

/** Upper bounds of the latency buckets, in seconds (the last bucket is everything above). */
export const LATENCY_BOUNDS: readonly number[] = [5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 1];
const BOUNDS_MS = LATENCY_BOUNDS.map((s) => s * 1000);
const BUCKETS = LATENCY_BOUNDS.length + 1;

/** One request in this many is timed (a power of two). */
export const TIME_EVERY = 16;

/** The label an op is reported under. */
export function opLabel(slot: number): string {
  return slot === UNKNOWN_OP ? "unknown" : opName(slot);
}

export class RequestCounters {
  /** Requests by [op * RESULT_SLOTS + result]. */
  readonly byOpResult = new Float64Array(OP_SLOTS * RESULT_SLOTS);
  /** Measure requests' processing time (a clock read before and after one in TIME_EVERY): off unless someone reports it. */
  timing = false;
  /** Requests seen while timing; the ones where it reaches a multiple of TIME_EVERY are timed. */
  private tick = 0;
  /** Latency histogram counts by [op * BUCKETS + bucket] (not cumulative), and the sum of seconds by op. */
  readonly latency = new Float64Array(OP_SLOTS * BUCKETS);
  readonly latencySum = new Float64Array(OP_SLOTS);

  /** Is this request to be timed? (timing on, and its turn) */
  sample(): boolean {
    return this.timing && ((++this.tick & (TIME_EVERY - 1)) === 0);
  }

  /** Count one request of type `type` answered with `errno` (null: success). */
  count(type: number, errno: XsErrno | null): void {
    const op = type >= 0 && type < UNKNOWN_OP ? type : UNKNOWN_OP;
    this.byOpResult[op * RESULT_SLOTS + (errno === null ? 0 : RESULT_INDEX[errno]!)]!++;
  }

  /** Record the `ms` a request of type `type` took. */
  time(type: number, ms: number): void {
    const op = type >= 0 && type < UNKNOWN_OP ? type : UNKNOWN_OP;
    let b = 0;
    while (b < BOUNDS_MS.length && ms > BOUNDS_MS[b]!) b++;
    this.latency[op * BUCKETS + b]!++;
    this.latencySum[op]! += ms / 1000;
  }

  /** Each (op, result) counted so far, with its count. */
  *requests(): Generator<{ op: string; result: string; count: number }> {
    for (let op = 0; op < OP_SLOTS; op++) {
      for (let r = 0; r < RESULT_SLOTS; r++) {
        const count = this.byOpResult[op * RESULT_SLOTS + r]!;
        if (count > 0) yield { op: opLabel(op), result: RESULTS[r]!, count };
      }
    }
  }

  /** Each op timed so far: its bucket counts (not cumulative; one more than LATENCY_BOUNDS), count and sum of seconds. */
  *latencies(): Generator<{ op: string; buckets: number[]; count: number; sum: number }> {
    for (let op = 0; op < OP_SLOTS; op++) {
      const buckets = Array.from(this.latency.subarray(op * BUCKETS, (op + 1) * BUCKETS));
      const count = buckets.reduce((a, b) => a + b, 0);
      if (count > 0) yield { op: opLabel(op), buckets, count, sum: this.latencySum[op]! };
    }
  }
}
