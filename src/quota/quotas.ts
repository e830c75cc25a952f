/**
 * Per-domain resource limits with C xenstored's names and defaults
 * (tools/xenstored/domain.c `quota_adm`/`quotas`). Limits apply only to
 * unprivileged domains; a value of 0 means "no limit". Each domain may
 * override a limit (SET_QUOTA <domid>), otherwise the global value applies.
 */
import { REL_PATH_MAX } from "../protocol/messages.js";
import { RecordType, type QuotaRecord } from "../state/stream.js";
import type { Effect } from "../store/store.js";

/** In cx's `enum accitem` order, which GET_QUOTA's listing follows. */
export const QUOTA_NAMES = [
  "nodes",
  "watches",
  "outstanding",
  "memory",
  "transactions",
  "transaction-nodes",
  "node-permissions",
  "path-max",
  "node-size",
] as const;

export type QuotaName = (typeof QUOTA_NAMES)[number];
export type QuotaKind = "hard" | "soft";

interface QuotaSpec {
  /** What `xenstore-control quota` calls it (cx 4.17's names). */
  readonly label: string;
  readonly description: string;
  readonly hard: number;
  /** Soft limits only warn; only `memory` has one. */
  readonly soft?: number;
}

/** The one table of quotas: defaults, names and descriptions. */
export const QUOTAS: Readonly<Record<QuotaName, QuotaSpec>> = {
  nodes: { label: "nodes", description: "Nodes per domain", hard: 1000 },
  watches: { label: "watches", description: "Watches per domain", hard: 128 },
  outstanding: { label: "outstanding", description: "Outstanding requests per domain", hard: 20 },
  memory: { label: "memory", description: "Total Xenstore memory per domain", hard: 2 * 1024 * 1024 + 512 * 1024, soft: 2 * 1024 * 1024 },
  transactions: { label: "transactions", description: "Transactions per domain", hard: 10 },
  "transaction-nodes": { label: "transaction-nodes", description: "Max. number of accessed nodes per transaction", hard: 1024 },
  "node-permissions": { label: "permissions", description: "Max. number of permissions per node", hard: 5 },
  "path-max": { label: "path-max", description: "Max. length of a node path", hard: REL_PATH_MAX },
  "node-size": { label: "node-size", description: "Max. size of a node", hard: 2048 },
};

/** The order `xenstore-control quota` lists them in (cx 4.17 control.c). */
export const CONTROL_ORDER: readonly QuotaName[] = [
  "nodes",
  "watches",
  "transactions",
  "outstanding",
  "transaction-nodes",
  "memory",
  "node-size",
  "path-max",
  "node-permissions",
];

export function isQuotaName(name: string): name is QuotaName {
  return Object.hasOwn(QUOTAS, name);
}

/** Does this quota exist in that kind (soft quotas exist only for memory)? */
export function quotaExists(name: QuotaName, kind: QuotaKind): boolean {
  return kind === "hard" || QUOTAS[name].soft !== undefined;
}

/**
 * A quota named on the wire or the command line: `soft-` selects the soft
 * limit; `aliases` also accepts the control labels (`permissions`), as
 * `-Q` does. Null for an unknown name.
 */
export function parseQuotaName(raw: string, kind: QuotaKind = "hard", aliases = false): { name: QuotaName; kind: QuotaKind } | null {
  let name = raw;
  let k = kind;
  if (name.startsWith("soft-")) {
    name = name.slice(5);
    k = "soft";
  }
  if (aliases) name = Object.entries(QUOTAS).find(([, q]) => q.label === name)?.[0] ?? name;
  if (!isQuotaName(name) || !quotaExists(name, k)) return null;
  return { name, kind: k };
}

type Limits = Partial<Record<QuotaName, number>>;

interface Overrides {
  hard: Limits;
  soft: Limits;
}

function defaults(kind: QuotaKind): Limits {
  const out: Limits = {};
  for (const n of QUOTA_NAMES) {
    const v = kind === "hard" ? QUOTAS[n].hard : QUOTAS[n].soft;
    if (v !== undefined) out[n] = v;
  }
  return out;
}

export class Quotas {
  readonly hard = defaults("hard") as Record<QuotaName, number>;
  readonly soft: Limits = defaults("soft");
  private readonly perDomain = new Map<number, Overrides>();

  /** Effective limit for a domain (0: unlimited). */
  limit(name: QuotaName, domid: number | null = null, kind: QuotaKind = "hard"): number {
    if (domid !== null) {
      const v = this.perDomain.get(domid)?.[kind][name];
      if (v !== undefined) return v;
    }
    return (kind === "hard" ? this.hard[name] : this.soft[name]) ?? 0;
  }

  set(name: QuotaName, value: number, domid: number | null = null, kind: QuotaKind = "hard"): void {
    if (domid === null) {
      if (kind === "hard") this.hard[name] = value;
      else this.soft[name] = value;
      return;
    }
    this.overrides(domid)[kind][name] = value;
  }

  private overrides(domid: number): Overrides {
    let o = this.perDomain.get(domid);
    if (!o) {
      o = { hard: {}, soft: {} };
      this.perDomain.set(domid, o);
    }
    return o;
  }

  /**
   * A domain comes into existence: it keeps the global limits of this
   * moment, so a later global change only affects domains created after it
   * (Xen 4.22 semantics of SET_QUOTA without a domid).
   */
  snapshot(domid: number): void {
    const o = this.overrides(domid);
    for (const n of QUOTA_NAMES) {
      o.hard[n] ??= this.hard[n];
      const soft = this.soft[n];
      if (soft !== undefined) o.soft[n] ??= soft;
    }
  }

  /** Forget a domain's overrides (it was destroyed; its successor starts fresh). */
  forget(domid: number): void {
    this.perDomain.delete(domid);
  }

  /** Is `value` at or beyond the limit? (cx `domain_quota_val_exceeds`) */
  reached(name: QuotaName, domid: number, value: number): boolean {
    const q = this.limit(name, domid);
    return q !== 0 && value >= q;
  }

  /** Is `value` strictly beyond the limit? (cx checks of maxima such as perms per node) */
  exceeded(name: QuotaName, domid: number, value: number): boolean {
    const q = this.limit(name, domid);
    return q !== 0 && value > q;
  }

  /** Apply a committed quota change (an unknown name has no effect, as in cx's migration stream). */
  apply(e: Extract<Effect, { kind: "quota" }>): void {
    if (!isQuotaName(e.name) || !quotaExists(e.name, e.level)) return;
    this.set(e.name, e.value, e.domid, e.level);
  }

  /** Every setting, global then per domain, as state records. */
  dump(): QuotaRecord[] {
    const out: QuotaRecord[] = [];
    const add = (domid: number | null, level: QuotaKind, limits: Limits): void => {
      for (const n of QUOTA_NAMES) {
        const value = limits[n];
        if (value !== undefined) out.push({ type: RecordType.Quota, domid, level, name: n, value });
      }
    };
    add(null, "hard", this.hard);
    add(null, "soft", this.soft);
    for (const [domid, o] of this.perDomain) {
      add(domid, "hard", o.hard);
      add(domid, "soft", o.soft);
    }
    return out;
  }

  /** Replace every setting from dumped records (unknown names are ignored). */
  restore(records: readonly QuotaRecord[]): void {
    Object.assign(this.hard, defaults("hard"));
    for (const n of QUOTA_NAMES) delete this.soft[n];
    this.perDomain.clear();
    for (const r of records) {
      if (!isQuotaName(r.name) || !quotaExists(r.name, r.level)) continue;
      this.set(r.name, r.value, r.domid, r.level);
    }
  }
}
