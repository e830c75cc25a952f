/**
 * Each request's arguments, decoded once into a typed value per message
 * type (as pg-protocol decodes each message): handlers and the pipeline
 * read these values and never split a payload again. The counting rules
 * are C xenstored's: only NUL-terminated strings are arguments, so bytes
 * after the last NUL never form one (`get_strings`), and a one-argument
 * request needs exactly one NUL, at its end (`onearg`).
 */
import { Op } from "./messages.js";
import { oneArg, splitFirst, splitStrings } from "./payload.js";

/** One argument, or null when the payload is not exactly one string (EINVAL where used). */
export type OneArg = string | null;
/** Every complete string of the payload, in order. */
export type Strings = readonly string[];
/** WRITE `<path>|<value>`: the value is the raw rest (it may hold NULs); null without a NUL. */
export type WriteArgs = { readonly path: string; readonly value: string } | null;
/** The payload is not looked at. */
export type NoArgs = null;

/** The decoded arguments of every request type a server answers. */
export interface RequestArgs {
  [Op.CONTROL]: Strings;
  [Op.DIRECTORY]: OneArg;
  [Op.READ]: OneArg;
  [Op.GET_PERMS]: OneArg;
  [Op.WATCH]: Strings;
  [Op.UNWATCH]: Strings;
  [Op.TRANSACTION_START]: NoArgs;
  [Op.TRANSACTION_END]: OneArg;
  [Op.INTRODUCE]: Strings;
  [Op.RELEASE]: OneArg;
  [Op.GET_DOMAIN_PATH]: OneArg;
  [Op.WRITE]: WriteArgs;
  [Op.MKDIR]: OneArg;
  [Op.RM]: OneArg;
  [Op.SET_PERMS]: Strings;
  [Op.IS_DOMAIN_INTRODUCED]: OneArg;
  [Op.RESUME]: OneArg;
  [Op.SET_TARGET]: Strings;
  [Op.RESET_WATCHES]: NoArgs;
  [Op.DIRECTORY_PART]: Strings;
  [Op.GET_FEATURE]: Strings;
  [Op.SET_FEATURE]: Strings;
  [Op.GET_QUOTA]: Strings;
  [Op.SET_QUOTA]: Strings;
}

export type RequestOp = keyof RequestArgs;

const one = (p: Buffer): OneArg => oneArg(p);
const strings = (p: Buffer): Strings => splitStrings(p);
const none = (): NoArgs => null;
const write = (p: Buffer): WriteArgs => {
  const split = splitFirst(p);
  return split ? { path: split.first, value: split.rest.toString("latin1") } : null;
};

const DECODERS: { readonly [K in RequestOp]: (payload: Buffer) => RequestArgs[K] } = {
  [Op.CONTROL]: strings,
  [Op.DIRECTORY]: one,
  [Op.READ]: one,
  [Op.GET_PERMS]: one,
  [Op.WATCH]: strings,
  [Op.UNWATCH]: strings,
  [Op.TRANSACTION_START]: none,
  [Op.TRANSACTION_END]: one,
  [Op.INTRODUCE]: strings,
  [Op.RELEASE]: one,
  [Op.GET_DOMAIN_PATH]: one,
  [Op.WRITE]: write,
  [Op.MKDIR]: one,
  [Op.RM]: one,
  [Op.SET_PERMS]: strings,
  [Op.IS_DOMAIN_INTRODUCED]: one,
  [Op.RESUME]: one,
  [Op.SET_TARGET]: strings,
  [Op.RESET_WATCHES]: none,
  [Op.DIRECTORY_PART]: strings,
  [Op.GET_FEATURE]: strings,
  [Op.SET_FEATURE]: strings,
  [Op.GET_QUOTA]: strings,
  [Op.SET_QUOTA]: strings,
};

/** Is `type` a request this server decodes (anything else is ENOSYS)? */
export function isRequestOp(type: number): type is RequestOp {
  return Object.hasOwn(DECODERS, type);
}

export function decodeArgs<K extends RequestOp>(op: K, payload: Buffer): RequestArgs[K] {
  return DECODERS[op](payload);
}
