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

/**
 * C `strtol` semantics on a latin1 string: leading whitespace, sign, and with
 * base 0 a `0x` (hex) or `0` (octal) prefix; the value saturates at the
 * 64-bit `long` range. Returns the value and the index where parsing stopped
 * (equal to the start when no digits were found, as `endptr` would be).
 */
export function strtol(s: string, base: 0 | 10 = 10): { value: bigint; end: number } {
  let i = 0;
  while (i < s.length && " \t\n\v\f\r".includes(s[i]!)) i++;
  let neg = false;
  if (s[i] === "+" || s[i] === "-") {
    neg = s[i] === "-";
    i++;
  }
  let radix = 10;
  if (base === 0) {
    if (s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X") && /[0-9a-fA-F]/.test(s[i + 2] ?? "")) {
      radix = 16;
      i += 2;
    } else if (s[i] === "0") {
      radix = 8;
    }
  }
  const digits = radix === 16 ? /[0-9a-fA-F]/ : radix === 8 ? /[0-7]/ : /[0-9]/;
  const begin = i;
  let v = 0n;
  const r = BigInt(radix);
  while (i < s.length && digits.test(s[i]!)) {
    v = v * r + BigInt(Number.parseInt(s[i]!, radix));
    i++;
  }
  if (i === begin) return { value: 0n, end: 0 };
  if (neg) v = -v;
  const max = (1n << 63n) - 1n;
  if (v > max) v = max;
  if (v < -max - 1n) v = -max - 1n;
  return { value: v, end: i };
}

/** C `atoi` as glibc does it: `(int) strtol(s, NULL, 10)`. */
export function atoi(s: string): number {
  return Number(BigInt.asIntN(32, strtol(s, 10).value));
}

/** `atoi` result stored into an `unsigned int`. */
export function atou(s: string): number {
  return atoi(s) >>> 0;
}
