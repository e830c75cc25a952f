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
  /** The owner: entry 0's id. */
  readonly owner: number;
  /** Entry 0's letter bits, | IGNORED when it is ignored. */
  private readonly ownerBits: number;
  /**
   * The entries after the owner's, two numbers each: the id, then the
   * letter bits | IGNORED; null when there are none. Numbers rather than
   * an object per entry: a host has ACLs naming each of its guests
   * (measured: 30,000 ACLs at 10,000 guests, 80 bytes less each).
   */
  readonly rest: readonly number[] | null;
  /**
   * The ACL as GET_PERMS shows it (ignored entries look like the others).
   * Marking a dead domain's entries ignored changes no living caller's
   * access, so transactions compare ACLs by this.
   */
  readonly visible: string;
  private refsCache: readonly number[] | null = null;

  private constructor(
    entries: readonly PermEntry[],
    /** Canonical text, also the interning key. */
    readonly key: string,
    /** Its number among the interned ACLs (how a frozen subtree names it). */
    readonly index: number,
  ) {
    const first = entries[0]!;
    this.owner = first.id;
    this.ownerBits = (first.perm & 3) | (first.ignored ? IGNORED : 0);
    this.rest = entries.length === 1 ? null : packRest(entries);
    // The same string when nothing is ignored (almost always): one string less per ACL.
    this.visible = key.includes("!") ? key.replace(/!/g, "") : key;
  }

  /** Number of entries, the owner's included. */
  get count(): number {
    return this.rest === null ? 1 : 1 + this.rest.length / 2;
  }

  /** The entries, owner's first (made on each call: for the few callers that need them). */
  get entries(): readonly PermEntry[] {
    const out: PermEntry[] = [entry(this.owner, this.ownerBits)];
    const r = this.rest;
    if (r !== null) for (let i = 0; i < r.length; i += 2) out.push(entry(r[i]!, r[i + 1]!));
    return out;
  }

  /** The owner entry's letter: everyone's access not listed after it. */
  get ownerPerm(): number {
    return this.ownerBits & 3;
  }

  /** Is the owner entry ignored (it named a domain that did not exist)? */
  get ownerIgnored(): boolean {
    return (this.ownerBits & IGNORED) !== 0;
  }

  /** Domains this ACL grants or denies something (entries after the owner's, not ignored), once each. */
  get referenced(): readonly number[] {
    if (this.refsCache !== null) return this.refsCache;
    const r = this.rest;
    const ids = new Set<number>();
    if (r !== null) for (let i = 0; i < r.length; i += 2) if ((r[i + 1]! & IGNORED) === 0) ids.add(r[i]!);
    return (this.refsCache = ids.size === 0 ? NO_REFERENCES : [...ids]);
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
      p = new Perms(entries, key, Perms.numbered.length);
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
    const entries = this.entries;
    return Perms.of([{ ...entries[0]!, id: owner }, ...entries.slice(1)]);
  }

  /**
   * Entries naming `domid` (besides the owner's) stop matching: the domain
   * is gone and a successor reusing its id must not inherit them. They stay
   * visible, as cx shows its ignored entries.
   */
  ignoring(domid: number): Perms {
    const entries = this.entries;
    if (!entries.some((e, i) => i > 0 && e.id === domid && !e.ignored)) return this;
    return Perms.of(entries.map((e, i) => (i > 0 && e.id === domid ? { ...e, ignored: true } : e)));
  }

  /** cx `remove_domid_from_perm`: drop `domid`'s entries, hand its ownership to `heir`. */
  withoutDomain(domid: number, heir: number): Perms {
    const entries = this.entries;
    const rest = entries.slice(1).filter((e) => e.id !== domid);
    const owner = entries[0]!.id === domid ? { ...entries[0]!, id: heir } : entries[0]!;
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

/** Set in an entry's letter bits when it is ignored. */
const IGNORED = 4;

/** Perms.rest of `entries`, in an array of exactly its size (a growing one keeps spare room). */
function packRest(entries: readonly PermEntry[]): number[] {
  const rest = new Array<number>(2 * (entries.length - 1));
  for (let i = 1; i < entries.length; i++) {
    const e = entries[i]!;
    rest[2 * i - 2] = e.id;
    rest[2 * i - 1] = (e.perm & 3) | (e.ignored ? IGNORED : 0);
  }
  return rest;
}

function entry(id: number, bits: number): PermEntry {
  return { id, perm: bits & 3, ignored: (bits & IGNORED) !== 0 };
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
  if (who.privileged || names(who, perms.owner)) return PERM_ALL;
  const r = perms.rest;
  if (r !== null) {
    for (let i = 0; i < r.length; i += 2) {
      const bits = r[i + 1]!;
      if ((bits & IGNORED) === 0 && names(who, r[i]!)) return bits;
    }
  }
  return perms.ownerPerm;
}
