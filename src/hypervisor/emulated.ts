/**
 * What the daemon asks the hypervisor: does a domain exist? With no Xen
 * underneath, the answer comes from an emulated domain table: by default
 * every ordinary domid exists; `--domains` restricts it to a list, and
 * `--domains-file` re-reads a file on every question (the same syntax as
 * the upstream peers' fake hypervisor, so both can share one file).
 */
import { readFileSync } from "node:fs";
import { DOMID_FIRST_RESERVED } from "../protocol/messages.js";

export interface Hypervisor {
  domainExists(domid: number): boolean;
}

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

export class EmulatedHypervisor implements Hypervisor {
  private readonly fixed: (domid: number) => boolean;

  constructor(
    spec: string | null = null,
    private readonly file: string | null = null,
  ) {
    this.fixed = spec === null ? (d) => d < DOMID_FIRST_RESERVED : parseDomainSpec(spec);
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
