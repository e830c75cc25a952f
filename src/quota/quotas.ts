/**
 * Per-domain resource limits with C xenstored's names and defaults
 * (tools/xenstored/domain.c `quota_adm`/`quotas`). Limits apply only to
 * unprivileged domains; a value of 0 means "no limit". Each domain may
 * override a limit (SET_QUOTA <domid>), otherwise the global value applies.
 */
import { REL_PATH_MAX } from "../protocol/messages.js";

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

export const QUOTA_DESCRIPTIONS: Record<QuotaName, string> = {
  nodes: "Nodes per domain",
  watches: "Watches per domain",
  outstanding: "Outstanding requests per domain",
  memory: "Total Xenstore memory per domain",
  transactions: "Active transactions per domain",
  "transaction-nodes": "Max. number of accessed nodes per transaction",
  "node-permissions": "Max. number of permissions per node",
  "path-max": "Max. length of a node path",
  "node-size": "Max. size of a node",
};

export const DEFAULT_HARD: Readonly<Record<QuotaName, number>> = {
  nodes: 1000,
  watches: 128,
  outstanding: 20,
  memory: 2 * 1024 * 1024 + 512 * 1024,
  transactions: 10,
  "transaction-nodes": 1024,
  "node-permissions": 5,
  "path-max": REL_PATH_MAX,
  "node-size": 2048,
};

/** Soft limits only warn; only `memory` has one by default. */
export const DEFAULT_SOFT: Readonly<Partial<Record<QuotaName, number>>> = {
  memory: 2 * 1024 * 1024,
};

export function isQuotaName(name: string): name is QuotaName {
  return (QUOTA_NAMES as readonly string[]).includes(name);
}

export type QuotaKind = "hard" | "soft";

interface Overrides {
  hard: Partial<Record<QuotaName, number>>;
  soft: Partial<Record<QuotaName, number>>;
}

export class Quotas {
  readonly hard: Record<QuotaName, number> = { ...DEFAULT_HARD };
  readonly soft: Partial<Record<QuotaName, number>> = { ...DEFAULT_SOFT };
  private readonly perDomain = new Map<number, Overrides>();

  /** Does this quota exist in that kind (soft quotas exist only for memory)? */
  exists(name: QuotaName, kind: QuotaKind): boolean {
    return kind === "hard" || this.soft[name] !== undefined;
  }

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
    let o = this.perDomain.get(domid);
    if (!o) {
      o = { hard: {}, soft: {} };
      this.perDomain.set(domid, o);
    }
    o[kind][name] = value;
  }

  /**
   * A domain comes into existence: it keeps the global limits of this
   * moment, so a later global change only affects domains created after it
   * (Xen 4.22 semantics of SET_QUOTA without a domid).
   */
  snapshot(domid: number): void {
    let o = this.perDomain.get(domid);
    if (!o) {
      o = { hard: {}, soft: {} };
      this.perDomain.set(domid, o);
    }
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

  /**
   * Parse `-Q name=value` / `-q name=value` (also `soft-name`): returns an
   * error message, or null after applying it.
   */
  applyOption(arg: string, kind: QuotaKind): string | null {
    const eq = arg.indexOf("=");
    if (eq < 0) return "quotas must be specified via <what>=<nb>";
    let name = arg.slice(0, eq);
    const text = arg.slice(eq + 1);
    let k = kind;
    if (name.startsWith("soft-")) {
      name = name.slice(5);
      k = "soft";
    }
    if (name === "permissions") name = "node-permissions";
    if (!isQuotaName(name) || !this.exists(name, k)) return `unknown quota "${arg.slice(0, eq)}"`;
    if (!/^\d+$/.test(text) || Number(text) > 0x7fffffff) return `invalid parameter value "${text}"`;
    this.set(name, Number(text), null, k);
    return null;
  }
}
