/**
 * Option parsing as the upstream xenstore tools do it (glibc getopt_long):
 * options may follow operands (permutation) until `--`; short options
 * cluster (`-fp`) and take their argument attached or as the next word
 * (`-n1`, `-n 1`); long options take `=value` or the next word and may be
 * abbreviated to a unique prefix (`--pre` is `--prefix`). An unknown option
 * is reported (the same words as getopt) and skipped, as upstream does; a
 * known one the verb does not take is the caller's usage error.
 */

export interface OptionTable {
  /** Short letters; a letter followed by `:` takes an argument. */
  short: string;
  /** Long names and the letter each stands for. */
  long: Record<string, string>;
}

export interface Getopt {
  /** Options in the order given, as their letters (long ones too). */
  options: { letter: string; value?: string }[];
  positionals: string[];
  /** What getopt would have printed to stderr (without the program name). */
  warnings: string[];
}

function takesArg(table: OptionTable, letter: string): boolean | null {
  const i = table.short.indexOf(letter);
  if (i < 0 || letter === ":") return null;
  return table.short[i + 1] === ":";
}

export function getopt(argv: readonly string[], table: OptionTable): Getopt {
  const out: Getopt = { options: [], positionals: [], warnings: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const exact = Object.hasOwn(table.long, name) ? [name] : [];
      const matches = exact.length ? exact : Object.keys(table.long).filter((l) => l.startsWith(name));
      if (matches.length === 0) {
        out.warnings.push(`unrecognized option '--${name}'`);
        continue;
      }
      if (matches.length > 1) {
        out.warnings.push(`option '--${name}' is ambiguous; possibilities:${matches.map((m) => ` '--${m}'`).join("")}`);
        continue;
      }
      const long = matches[0]!;
      const letter = table.long[long]!;
      if (takesArg(table, letter)) {
        if (eq >= 0) out.options.push({ letter, value: arg.slice(eq + 1) });
        else if (i + 1 < argv.length) out.options.push({ letter, value: argv[++i]! });
        else out.warnings.push(`option '--${long}' requires an argument`);
      } else if (eq >= 0) out.warnings.push(`option '--${long}' doesn't allow an argument`);
      else out.options.push({ letter });
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const wants = takesArg(table, letter);
        if (wants === null) {
          out.warnings.push(`invalid option -- '${letter}'`);
        } else if (!wants) {
          out.options.push({ letter });
        } else {
          if (j + 1 < arg.length) out.options.push({ letter, value: arg.slice(j + 1) });
          else if (i + 1 < argv.length) out.options.push({ letter, value: argv[++i]! });
          else out.warnings.push(`option requires an argument -- '${letter}'`);
          break;
        }
      }
      continue;
    }
    out.positionals.push(arg);
  }
  return out;
}
