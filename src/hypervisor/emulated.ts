/**
 * No hypervisor underneath: the domain table is emulated and there are no
 * rings (clients use the socket). By default every ordinary domid exists;
 * `--domains` restricts it to a list, and `--domains-file` re-reads a file
 * on every question (the same syntax as the upstream peers' fake
 * hypervisor, so both can share one file).
 */
import { readFileSync } from "node:fs";
import { DOMID_FIRST_RESERVED } from "../protocol/messages.js";
import type { DomainState, Hypervisor } from "./hypervisor.js";

/** Parse `0-1023, 5 7-9` style lists into a predicate. */
function parseDomainSpec(spec: string): (domid: number) => boolean {
  const ranges: [number, number][] = [];
  for (const tok of spec.split(/[\s,]+/).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(tok);
    if (!m) throw new Error(`bad domain list entry "${tok}"`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    ranges.push([Math.min(a, b), Math.max(a, b)]);
  }
  return (d) => ranges.some(([a, b]) => d >= a && d <= b);
}

const RUNNING: DomainState = { shutdown: false, dying: false };

export class EmulatedHypervisor implements Hypervisor {
  private readonly fixed: (domid: number) => boolean;
  readonly rings = null;
  readonly description: string;

  constructor(
    spec: string | null = null,
    private readonly file: string | null = null,
  ) {
    this.fixed = spec === null ? (d) => d < DOMID_FIRST_RESERVED : parseDomainSpec(spec);
    this.description = `no hypervisor: domains emulated (${file ? `listed in ${file}` : (spec ?? "every domid")}), no rings`;
  }

  domainState(domid: number): DomainState | null {
    return this.domainExists(domid) ? RUNNING : null;
  }

  domainExists(domid: number): boolean {
    if (domid === 0) return true;
    // DOMID_SELF, DOMID_ANY and the other reserved ids are never domains.
    if (domid >= DOMID_FIRST_RESERVED) return false;
    if (this.file) {
      try {
        return parseDomainSpec(readFileSync(this.file, "latin1"))(domid);
      } catch {
        return false;
      }
    }
    return this.fixed(domid);
  }
}
