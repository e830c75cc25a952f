/**
 * Where the inspector listens (`--inspect ADDR`): a Unix socket path (ADDR
 * contains "/"), or HOST:PORT with HOST a loopback address only
 * (127.0.0.1, ::1 or [::1], localhost). The page shows the whole store, so
 * it is never offered beyond this host.
 */
import { resolve } from "node:path";

export type InspectAddress =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: "127.0.0.1" | "::1"; readonly port: number };

const LOOPBACK: Record<string, "127.0.0.1" | "::1"> = {
  "127.0.0.1": "127.0.0.1",
  localhost: "127.0.0.1",
  "::1": "::1",
  "[::1]": "::1",
};

/** Parse ADDR; a string says why it is not acceptable. */
export function parseInspectAddress(addr: string): InspectAddress | string {
  if (addr.includes("/")) return { kind: "unix", path: resolve(addr) };
  const colon = addr.lastIndexOf(":");
  if (colon < 0) return `"${addr}" is neither a socket path (with a "/") nor HOST:PORT`;
  const host = addr.slice(0, colon);
  const port = addr.slice(colon + 1);
  const loopback = LOOPBACK[host];
  if (!loopback) return `"${host}" is not a loopback address: the inspector listens only on 127.0.0.1, ::1, localhost or a Unix socket`;
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return `"${port}" is not a port (0 to 65535; 0 picks a free one)`;
  return { kind: "tcp", host: loopback, port: Number(port) };
}

/** How the address is shown: a URL for TCP, the socket path otherwise. */
export function describeAddress(a: InspectAddress): string {
  if (a.kind === "unix") return `unix:${a.path}`;
  return `http://${a.host === "::1" ? "[::1]" : a.host}:${a.port}/`;
}
