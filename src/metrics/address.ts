/**
 * Where the metrics listen (`--metrics ADDR`): a Unix socket path or a
 * loopback HOST:PORT (src/util/loopback-address.ts). Apart from the HTTP
 * server, so that parsing the command line does not load it.
 */
import { describeAddress as describeLoopback, isAddress, parseLoopbackAddress, type LoopbackAddress } from "../util/loopback-address.js";

export type MetricsAddress = LoopbackAddress;

export class MetricsAddressError extends Error {}

/** Parse `--metrics`' argument; throws MetricsAddressError saying what is wrong. */
export function parseMetricsAddress(addr: string): MetricsAddress {
  const a = parseLoopbackAddress(addr);
  if (isAddress(a)) return a;
  switch (a.kind) {
    case "not-host-port":
      throw new MetricsAddressError(`--metrics ${addr}: expected a Unix socket path (containing /) or HOST:PORT on loopback (127.0.0.1, ::1, localhost)`);
    case "not-loopback":
      throw new MetricsAddressError(`--metrics ${addr}: the host must be loopback (127.0.0.1, ::1 or localhost), not "${a.host}"`);
    case "bad-port":
      throw new MetricsAddressError(`--metrics ${addr}: bad port "${a.port}"`);
  }
}

/** Where it listens, as a URL (the actual port when 0 was asked). */
export function describeAddress(a: MetricsAddress): string {
  return describeLoopback(a, "/metrics");
}
