/**
 * Loader for the small Node-API addon (native/tsxs_native.c), built by
 * `npm ci`. Everything that uses it degrades gracefully when it is missing.
 */
import { addonLoader } from "../util/addon.js";

export interface SocketInfo {
  family: "unix" | "inet" | "inet6" | "other";
  type: "stream" | "dgram" | "seqpacket" | "other";
  listening: boolean;
}

export interface NativeHelpers {
  /** Send one datagram to a Unix socket path or `@abstract` name; 0 or an errno value. */
  notify(socketPath: string, message: string): number;
  /** What kind of socket `fd` is, or null if it is not a socket. */
  socketInfo(fd: number): SocketInfo | null;
  /** flock(fd, LOCK_EX | LOCK_NB): 0, or an errno value (EWOULDBLOCK when held elsewhere). */
  lockExclusive(fd: number): number;
}

export const native = addonLoader<NativeHelpers>("tsxs_native");
