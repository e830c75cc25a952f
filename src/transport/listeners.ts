/**
 * Which Unix socket transport serves the dom0 sockets: the native one
 * (src/transport/unix-native.ts) where its addon is built, else node:net's
 * (src/transport/unix.ts). `--socket-io node` keeps node:net's.
 */
import type { Endpoint } from "./transport.js";
import { NodeUnixListener, type ListenerOptions, type SocketListener } from "./unix.js";
import { NativeUnixListener, nativeStreamsAvailable } from "./unix-native.js";

export type SocketIo = "native" | "node";

/** A listener on the transport `io` names, or on node:net's where the native one is not built. */
export function createUnixListener(endpoint: Endpoint, path: string | null, opts: ListenerOptions, io: SocketIo): SocketListener {
  return io === "native" && nativeStreamsAvailable() ? new NativeUnixListener(endpoint, path, opts) : new NodeUnixListener(endpoint, path, opts);
}
