/**
 * Where an operator's listener (`--inspect`, `--metrics`) may listen: a
 * Unix socket path (the argument contains "/"), or HOST:PORT with HOST a
 * loopback address only (127.0.0.1, ::1 or [::1], localhost). What they
 * serve describes the whole store, so it is never offered beyond this host.
 */
import { resolve } from "node:path";

export type LoopbackAddress =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: "127.0.0.1" | "::1"; readonly port: number };

/** Why an argument is not such an address. */
export type AddressProblem =
  | { readonly kind: "not-host-port" }
  | { readonly kind: "not-loopback"; readonly host: string }
  | { readonly kind: "bad-port"; readonly port: string };

const LOOPBACK: Record<string, "127.0.0.1" | "::1"> = {
  "127.0.0.1": "127.0.0.1",
  localhost: "127.0.0.1",
  "::1": "::1",
  "[::1]": "::1",
};

export function parseLoopbackAddress(addr: string): LoopbackAddress | AddressProblem {
  if (addr.includes("/")) return { kind: "unix", path: resolve(addr) };
  const colon = addr.lastIndexOf(":");
  if (colon < 0) return { kind: "not-host-port" };
  const host = addr.slice(0, colon);
  const port = addr.slice(colon + 1);
  const loopback = Object.hasOwn(LOOPBACK, host) ? LOOPBACK[host] : undefined;
  if (!loopback) return { kind: "not-loopback", host: host.replace(/^\[(.*)\]$/, "$1") };
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return { kind: "bad-port", port };
  return { kind: "tcp", host: loopback, port: Number(port) };
}

export function isAddress(a: LoopbackAddress | AddressProblem): a is LoopbackAddress {
  return a.kind === "unix" || a.kind === "tcp";
}

/** How the address is shown: a URL (with `path`) for TCP, `unix:` and the socket path otherwise. */
export function describeAddress(a: LoopbackAddress, path = "/"): string {
  if (a.kind === "unix") return `unix:${a.path}`;
  return `http://${a.host === "::1" ? "[::1]" : a.host}:${a.port}${path}`;
}
