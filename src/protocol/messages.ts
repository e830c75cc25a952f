/**
 * Wire-level vocabulary of the xenstore protocol (xs_wire.h): message types,
 * error names and the limits every peer agrees on.
 */

export enum Op {
  CONTROL = 0,
  DIRECTORY = 1,
  READ = 2,
  GET_PERMS = 3,
  WATCH = 4,
  UNWATCH = 5,
  TRANSACTION_START = 6,
  TRANSACTION_END = 7,
  INTRODUCE = 8,
  RELEASE = 9,
  GET_DOMAIN_PATH = 10,
  WRITE = 11,
  MKDIR = 12,
  RM = 13,
  SET_PERMS = 14,
  WATCH_EVENT = 15,
  ERROR = 16,
  IS_DOMAIN_INTRODUCED = 17,
  RESUME = 18,
  SET_TARGET = 19,
  /** 20 was XS_RESTRICT, removed upstream; always ENOSYS. */
  RESET_WATCHES = 21,
  DIRECTORY_PART = 22,
  GET_FEATURE = 23,
  SET_FEATURE = 24,
  GET_QUOTA = 25,
  SET_QUOTA = 26,
  INVALID = 0xffff,
}

const opNames: Record<number, string> = {};
for (const [name, value] of Object.entries(Op)) {
  if (typeof value === "number") opNames[value] = name;
}

/** The upstream spelling of a message type, as used in traces. */
export function opName(type: number): string {
  return opNames[type] ?? "**UNKNOWN**";
}

/**
 * Error names in xs_wire.h order. The order is part of the ABI: new errors
 * are only ever appended upstream.
 */
export const ERROR_NAMES = [
  "EINVAL",
  "EACCES",
  "EEXIST",
  "EISDIR",
  "ENOENT",
  "ENOMEM",
  "ENOSPC",
  "EIO",
  "ENOTEMPTY",
  "ENOSYS",
  "EROFS",
  "EBUSY",
  "EAGAIN",
  "EISCONN",
  "E2BIG",
  "EPERM",
] as const;

export type XsErrno = (typeof ERROR_NAMES)[number];

export function isXsErrno(name: string): name is XsErrno {
  return (ERROR_NAMES as readonly string[]).includes(name);
}

/**
 * An error that becomes an XS_ERROR reply carrying its errno name. These
 * are ordinary answers (ENOENT, EAGAIN...), thrown on hot paths, so no
 * stack trace is captured.
 */
export class XsError extends Error {
  constructor(readonly errno: XsErrno, message?: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message ?? errno);
    Error.stackTraceLimit = limit;
    this.name = "XsError";
  }
}

export const HEADER_SIZE = 16;
/** Maximum payload in either direction; a larger request kills the connection. */
export const PAYLOAD_MAX = 4096;
export const REL_PATH_MAX = 2048;

/** Server feature bits (ring `server_features`, GET_FEATURE). */
export const FEATURE_RECONNECTION = 1;
export const FEATURE_ERROR = 2;
export const FEATURE_WATCHDEPTH = 4;
export const FEATURE_DOMID_ANY = 8;

/** Domain ids with special meaning (xen/include/public/xen.h). */
export const DOMID_FIRST_RESERVED = 0x7ff0;
export const DOMID_SELF = 0x7ff0;
export const DOMID_ANY = 0x7ff5;

/** One framed message: header fields plus the raw payload. */
export interface Packet {
  type: number;
  reqId: number;
  txId: number;
  payload: Buffer;
}
