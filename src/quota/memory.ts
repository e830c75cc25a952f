/**
 * C xenstored's per-domain memory accounting (4.17+, the `memory` quota):
 * the nodes a domain owns (each record's size plus its path, tallied by
 * the store from each commit), its watches (path and token), and its
 * replies and events waiting to go out (each with its 16-byte header).
 */
import type { Tallies } from "../store/tallies.js";

export interface ConnectionUsage {
  usage(domid: number): { watches: number; output: number };
}

export class DomainMemory {
  constructor(
    private readonly tallies: Tallies,
    private readonly connections: ConnectionUsage,
  ) {}

  /** A domain's accounted bytes, as `xenstore-control quota <domid>` shows them. */
  of(domid: number): number {
    const u = this.connections.usage(domid);
    return this.tallies.bytesOf(domid) + u.watches + u.output;
  }
}
