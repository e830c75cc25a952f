/**
 * Value escapes of the upstream xenstore tools, worked out by running
 * Debian's xenstore-utils 4.17 on every byte value:
 *
 * - output (`xenstore-read`, `xenstore-ls`): printable ASCII as is, except
 *   `\` as `\\`; tab, newline and carriage return as `\t`, `\n`, `\r`;
 *   bytes 0 to 7 as three octal digits (`\000`); every other byte as
 *   `\x` and two lower-case hex digits (`\x08`, `\x7f`, `\xc3`).
 * - input (`xenstore-write` without `-R`): `\n`, `\t`, `\r`; `\x` with one
 *   or two hex digits (without any, an `x`); one to three octal digits
 *   (the low 8 bits); a backslash at the very end is a NUL; a backslash
 *   before anything else stands for that character (`\\`, `\a` is `a`).
 */

function octal(c: number): boolean {
  return c >= 0x30 && c <= 0x37;
}

function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** A value as the upstream tools print it (ASCII only). */
export function sanitise(value: Buffer): string {
  let out = "";
  for (const b of value) {
    if (b === 0x5c) out += "\\\\";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else if (b === 0x09) out += "\\t";
    else if (b === 0x0a) out += "\\n";
    else if (b === 0x0d) out += "\\r";
    else if (b < 8) out += `\\00${b}`;
    else out += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** The bytes `xenstore-write` stores for an argument (without `-R`). */
export function unsanitise(arg: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < arg.length; i++) {
    const c = arg[i]!;
    if (c !== 0x5c) {
      out.push(c);
      continue;
    }
    const n = arg[++i];
    if (n === undefined) {
      out.push(0);
      break;
    }
    if (n === 0x6e) out.push(0x0a);
    else if (n === 0x74) out.push(0x09);
    else if (n === 0x72) out.push(0x0d);
    else if (n === 0x78) {
      let v = 0;
      let digits = 0;
      while (digits < 2 && hexValue(arg[i + 1]) >= 0) {
        v = v * 16 + hexValue(arg[++i]);
        digits++;
      }
      out.push(digits ? v : 0x78);
    } else if (octal(n)) {
      let v = n - 0x30;
      for (let digits = 1; digits < 3 && arg[i + 1] !== undefined && octal(arg[i + 1]!); digits++) v = v * 8 + (arg[++i]! - 0x30);
      out.push(v & 0xff);
    } else out.push(n);
  }
  return Buffer.from(out);
}
