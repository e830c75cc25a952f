/**
 * C number parsing as glibc does it, for arguments C xenstored reads with
 * `strtol`, `atoi` or `strtoul`: the exact results, including leading
 * whitespace, signs, prefixes, saturation and truncation, are observable in
 * replies.
 */

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

/** A count as C xenstored's option parsing takes it: decimal digits only, at most INT_MAX; else null. */
export function parseCount(text: string): number | null {
  if (!/^\d+$/.test(text) || Number(text) > 0x7fffffff) return null;
  return Number(text);
}
