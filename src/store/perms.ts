/**
 * Node permissions: an ordered ACL whose first entry names the owner and the
 * default access for everyone not listed (xenstore.txt "Permissions").
 */
import { DOMID_ANY } from "../protocol/messages.js";
import { strtol } from "../util/cparse.js";

export const PERM_NONE = 0;
export const PERM_READ = 1;
export const PERM_WRITE = 2;
/** Granted only to the owner (or a privileged caller): may change the ACL. */
export const PERM_OWNER = 8;
export const PERM_ALL = PERM_READ | PERM_WRITE | PERM_OWNER;

export interface PermEntry {
  readonly id: number;
  /** PERM_READ / PERM_WRITE bits. */
  readonly perm: number;
  /**
   * Entry names a domain that did not exist when it was set (cx
   * XS_PERM_IGNORE): shown by GET_PERMS but never matched.
   */
  readonly ignored: boolean;
}

/** An interned, immutable ACL: equal lists are the same object. */
export class Perms {
  private constructor(
    readonly entries: readonly PermEntry[],
    /** Canonical text, also the interning key. */
    readonly key: string,
    /** Its number among the interned ACLs (how a frozen subtree names it). */
    readonly index: number,
  ) {
    // The same string when nothing is ignored (almost always): one string less per ACL.
    this.visible = key.includes("!") ? key.replace(/!/g, "") : key;
  }

  /**
   * The ACL as GET_PERMS shows it (ignored entries look like the others).
   * Marking a dead domain's entries ignored changes no living caller's
   * access, so transactions compare ACLs by this.
   */
  readonly visible: string;

  get owner(): number {
    return this.entries[0]!.id;
  }

  private refsCache: readonly number[] | null = null;

  /** Domains this ACL grants or denies something (entries after the owner's, not ignored), once each. */
  get referenced(): readonly number[] {
    return (this.refsCache ??= this.entries.length === 1 ? NO_REFERENCES : [...new Set(this.entries.slice(1).filter((e) => !e.ignored).map((e) => e.id))]);
  }

  private static readonly interned = new Map<string, Perms>();
  private static readonly numbered: Perms[] = [];

  /** The interned ACL numbered `index` (see `index`). */
  static byIndex(index: number): Perms {
    const p = Perms.numbered[index];
    if (!p) throw new RangeError(`no ACL numbered ${index}`);
    return p;
  }

  static of(entries: readonly PermEntry[]): Perms {
    if (entries.length === 0) throw new RangeError("an ACL needs at least the owner entry");
    const key = entries.map((e) => `${LETTERS[e.perm & 3]}${e.id}${e.ignored ? "!" : ""}`).join(",");
    let p = Perms.interned.get(key);
    if (!p) {
      p = new Perms(Object.freeze(entries.map(entryOf)), key, Perms.numbered.length);
      Perms.interned.set(key, p);
      Perms.numbered.push(p);
    }
    return p;
  }

  /** The ACL whose canonical text is `key` (state restore); null if `key` is not one. */
  static fromKey(key: string): Perms | null {
    const have = Perms.interned.get(key);
    if (have) return have;
    const entries: PermEntry[] = [];
    for (const part of key.split(",")) {
      const m = /^([nrwb])(\d{1,10})(!?)$/.exec(part);
      if (!m || Number(m[2]) > 0xffffffff) return null;
      entries.push({ id: Number(m[2]), perm: LETTERS.indexOf(m[1] as (typeof LETTERS)[number]), ignored: m[3] === "!" });
    }
    return Perms.of(entries);
  }

  /** Single-entry ACL `n<owner>`-style. */
  static owned(owner: number, perm = PERM_NONE): Perms {
    return Perms.of([{ id: owner, perm, ignored: false }]);
  }

  /** The same ACL with a different owner (entry 0's id), letter kept. */
  withOwner(owner: number): Perms {
    if (this.owner === owner) return this;
    return Perms.of([{ ...this.entries[0]!, id: owner }, ...this.entries.slice(1)]);
  }

  /**
   * Entries naming `domid` (besides the owner's) stop matching: the domain
   * is gone and a successor reusing its id must not inherit them. They stay
   * visible, as cx shows its ignored entries.
   */
  ignoring(domid: number): Perms {
    if (!this.entries.some((e, i) => i > 0 && e.id === domid && !e.ignored)) return this;
    return Perms.of(this.entries.map((e, i) => (i > 0 && e.id === domid ? { ...e, ignored: true } : e)));
  }

  /** cx `remove_domid_from_perm`: drop `domid`'s entries, hand its ownership to `heir`. */
  withoutDomain(domid: number, heir: number): Perms {
    const rest = this.entries.slice(1).filter((e) => e.id !== domid);
    const owner = this.entries[0]!.id === domid ? { ...this.entries[0]!, id: heir } : this.entries[0]!;
    return Perms.of([owner, ...rest]);
  }

  /** Wire form: each entry `<letter><domid>` NUL-terminated, as GET_PERMS sends it. */
  toStrings(): string[] {
    // cx prints the unsigned id with %i, so ids above INT_MAX show negative.
    return this.entries.map((e) => `${LETTERS[e.perm & 3]}${e.id | 0}`);
  }

  /** Size in bytes cx charges per entry (struct xs_permissions). */
  static readonly ENTRY_SIZE = 8;
}

const LETTERS = ["n", "r", "w", "b"] as const;
const NO_REFERENCES: readonly number[] = Object.freeze([]);

/**
 * A frozen copy of an entry, made with one literal so that every entry
 * shares one hidden class (a copy by spread, then frozen, got a hidden
 * class and descriptor array of its own: 160 bytes more per entry).
 */
function entryOf(e: PermEntry): PermEntry {
  return Object.freeze({ id: e.id, perm: e.perm, ignored: e.ignored });
}

/**
 * Parse the SET_PERMS argument strings exactly as cx `xs_strings_to_perms`:
 * a letter r/w/b/n then a number in C `strtol(.., 0)` syntax, nothing after.
 * Ids are truncated to 32 bits like cx's `unsigned int`. Returns null for
 * malformed input (EINVAL).
 */
export function parsePermStrings(strings: readonly string[]): { id: number; perm: number }[] | null {
  const out: { id: number; perm: number }[] = [];
  for (const s of strings) {
    const letter = s[0];
    const perm = letter === "r" ? PERM_READ : letter === "w" ? PERM_WRITE : letter === "b" ? PERM_READ | PERM_WRITE : letter === "n" ? PERM_NONE : -1;
    if (perm < 0) return null;
    const rest = s.slice(1);
    if (rest.length === 0) return null;
    const { value, end } = strtol(rest, 0);
    if (end !== rest.length) return null;
    out.push({ id: Number(BigInt.asUintN(32, value)), perm });
  }
  return out;
}

/** Who is asking: the identity permission checks are made against. */
export interface Principal {
  readonly domid: number;
  /** Control domain (dom0 or -p/--priv-domid) or a dom0 socket client. */
  readonly privileged: boolean;
  /** SET_TARGET: a stub device model acts with its target domain's rights. */
  readonly target: number | null;
}

/** cx `perm_allows_conn`: does this entry name the caller (or its target, or anyone)? */
function names(who: Principal, id: number): boolean {
  return id === who.domid || (who.target !== null && id === who.target) || id === DOMID_ANY;
}

/**
 * cx `perm_for_conn`: privileged callers and the owner (or its device
 * model) get everything; otherwise the first matching non-ignored entry
 * after the owner's, else the owner entry's letter as the default.
 */
export function permFor(who: Principal, perms: Perms): number {
  const e = perms.entries;
  if (who.privileged || names(who, e[0]!.id)) return PERM_ALL;
  for (let i = 1; i < e.length; i++) {
    const entry = e[i]!;
    if (!entry.ignored && names(who, entry.id)) return entry.perm;
  }
  return e[0]!.perm;
}
