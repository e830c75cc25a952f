/**
 * Splitting request payloads into their NUL-terminated arguments, with the
 * exact counting rules of C xenstored (bytes after the last NUL never form
 * an argument).
 */

/** Every NUL-terminated string in the payload, as latin1 (byte-preserving). */
export function splitStrings(payload: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const nul = payload.indexOf(0, start);
    if (nul < 0) break;
    out.push(payload.toString("latin1", start, nul));
    start = nul + 1;
  }
  return out;
}

/** Number of NUL bytes: the number of complete strings in the payload. */
export function countStrings(payload: Buffer): number {
  let n = 0;
  let i = payload.indexOf(0);
  while (i >= 0) {
    n++;
    i = payload.indexOf(0, i + 1);
  }
  return n;
}

/**
 * The single argument of a one-argument request, or null unless the payload
 * holds exactly one NUL, at its end (cx `onearg`).
 */
export function oneArg(payload: Buffer): string | null {
  if (payload.length === 0) return null;
  const nul = payload.indexOf(0);
  if (nul !== payload.length - 1) return null;
  return payload.toString("latin1", 0, nul);
}

/**
 * First string and the raw remainder after its NUL (WRITE's `path|value`).
 * Null when the payload has no NUL at all.
 */
export function splitFirst(payload: Buffer): { first: string; rest: Buffer } | null {
  const nul = payload.indexOf(0);
  if (nul < 0) return null;
  return { first: payload.toString("latin1", 0, nul), rest: payload.subarray(nul + 1) };
}
