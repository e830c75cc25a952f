/**
 * Where the inspector listens (`--inspect ADDR`): a Unix socket path or a
 * loopback HOST:PORT (src/util/loopback-address.ts).
 */
import { isAddress, parseLoopbackAddress, type LoopbackAddress } from "../util/loopback-address.js";

export type InspectAddress = LoopbackAddress;
export { describeAddress } from "../util/loopback-address.js";

/** Parse ADDR; a string says why it is not acceptable. */
export function parseInspectAddress(addr: string): InspectAddress | string {
  const a = parseLoopbackAddress(addr);
  if (isAddress(a)) return a;
  switch (a.kind) {
    case "not-host-port":
      return `"${addr}" is neither a socket path (with a "/") nor HOST:PORT`;
    case "not-loopback":
      return `"${addr.slice(0, addr.lastIndexOf(":"))}" is not a loopback address: the inspector listens only on 127.0.0.1, ::1, localhost or a Unix socket`;
    case "bad-port":
      return `"${a.port}" is not a port (0 to 65535; 0 picks a free one)`;
  }
}
