/**
 * What the `tsxs` verbs share: finding and reaching the daemon as
 * libxenstore does, error texts as the C library prints them (strerror),
 * the JSON form of a value, and raw requests with the reply split into
 * strings.
 */
import { isUtf8 } from "node:buffer";
import { defaultSocketPath, XenStoreClient } from "../client/client.js";
import { Op, XsError } from "../protocol/messages.js";
import { splitStrings } from "../protocol/payload.js";

/** glibc's strerror texts for the errors xenstore and sockets report. */
const STRERROR: Record<string, string> = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  EIO: "Input/output error",
  E2BIG: "Argument list too long",
  EAGAIN: "Resource temporarily unavailable",
  ENOMEM: "Cannot allocate memory",
  EACCES: "Permission denied",
  EBUSY: "Device or resource busy",
  EEXIST: "File exists",
  ENOTDIR: "Not a directory",
  EISDIR: "Is a directory",
  EINVAL: "Invalid argument",
  ENOSPC: "No space left on device",
  EROFS: "Read-only file system",
  EPIPE: "Broken pipe",
  ENOSYS: "Function not implemented",
  ENOTEMPTY: "Directory not empty",
  EISCONN: "Transport endpoint is already connected",
  ECONNREFUSED: "Connection refused",
  ECONNRESET: "Connection reset by peer",
  ENOTSOCK: "Socket operation on non-socket",
  EDQUOT: "Disk quota exceeded",
  ETIMEDOUT: "Connection timed out",
};

/** The errno name of an error (an XsError's, a system error's code), or EIO. */
export function errnoOf(e: unknown): string {
  if (e instanceof XsError) return e.errno;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : "EIO";
}

/** strerror(errno) for an error, as libxenstore's callers print it. */
export function strerror(e: unknown): string {
  const name = errnoOf(e);
  return STRERROR[name] ?? name;
}

/** The JSON form of a value: a string when it is valid UTF-8, else base64 with `encoding`. */
export interface JsonValue {
  value: string;
  encoding?: "base64";
}

export function jsonValue(v: Buffer): JsonValue {
  return isUtf8(v) ? { value: v.toString("utf8") } : { value: v.toString("base64"), encoding: "base64" };
}

export function jsonError(path: string | null, e: unknown, message: string): { path?: string; errno: string; message: string } {
  return path === null ? { errno: errnoOf(e), message } : { path, errno: errnoOf(e), message };
}

/** Where output goes; tests and the dispatcher can swap it. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export const processIo = (): Io => ({ stdout: process.stdout, stderr: process.stderr });

/** Connect as libxenstore does, or say why not (`NAME: xs_open: ...`) and return null. */
export async function openDaemon(name: string, io: Io): Promise<XenStoreClient | null> {
  try {
    return await XenStoreClient.connect(defaultSocketPath());
  } catch (e) {
    io.stderr.write(`${name}: xs_open: ${strerror(e)}\n`);
    return null;
  }
}

/** Connect as libxenstore does, or say where nothing answered (`tsxs: cannot reach xenstored at PATH: ...`) and return null. */
export async function reachDaemon(io: Io = processIo()): Promise<XenStoreClient | null> {
  try {
    return await XenStoreClient.connect(defaultSocketPath());
  } catch (e) {
    io.stderr.write(`tsxs: cannot reach xenstored at ${defaultSocketPath()}: ${(e as Error).message}\n`);
    return null;
  }
}

/** A request in transaction `tx` (0: none) whose reply is NUL-separated strings. */
export async function requestStrings(client: XenStoreClient, op: Op, args: readonly string[], tx = 0): Promise<string[]> {
  return splitStrings(await client.request(op, args, tx));
}

/**
 * DIRECTORY in `tx`: the child names. A listing too big for one reply
 * (E2BIG) is fetched in parts with DIRECTORY_PART, as libxenstore does,
 * starting over if the directory changes between parts.
 */
export async function listChildren(client: XenStoreClient, path: string, tx = 0): Promise<string[]> {
  try {
    return await requestStrings(client, Op.DIRECTORY, [path], tx);
  } catch (e) {
    if (!(e instanceof XsError && e.errno === "E2BIG")) throw e;
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const names: Buffer[] = [];
    let generation: string | null = null;
    let offset = 0;
    for (;;) {
      const reply = await client.request(Op.DIRECTORY_PART, [path, String(offset)], tx);
      const nul = reply.indexOf(0);
      if (nul < 0) throw new XsError("EIO", "DIRECTORY_PART reply without a generation");
      const gen = reply.subarray(0, nul).toString("latin1");
      if (generation !== null && gen !== generation) break;
      generation = gen;
      const rest = reply.subarray(nul + 1);
      // The last part ends with an extra empty string.
      const last = rest.length === 1 || (rest.length >= 2 && rest[rest.length - 1] === 0 && rest[rest.length - 2] === 0);
      const data = last ? rest.subarray(0, rest.length - 1) : rest;
      names.push(data);
      offset += data.length;
      if (last) return splitStrings(Buffer.concat(names));
      if (data.length === 0) throw new XsError("EIO", "DIRECTORY_PART made no progress");
    }
  }
  throw new XsError("EAGAIN", `${path} kept changing while it was listed`);
}

/** READ in `tx`, the raw bytes. */
export function readRaw(client: XenStoreClient, path: string, tx = 0): Promise<Buffer> {
  return client.request(Op.READ, [path], tx);
}

/** WRITE in `tx` of raw bytes. */
export async function writeRaw(client: XenStoreClient, path: string, value: Buffer, tx = 0): Promise<void> {
  await client.request(Op.WRITE, Buffer.concat([Buffer.from(`${path}\0`, "latin1"), value]), tx);
}

/** The path of child `name` of `parent`, as the upstream tools join them ("/" + name at the root). */
export function joinPath(parent: string, name: string): string {
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

/**
 * Run `body` in a transaction, starting over when the commit answers
 * EAGAIN (only when the body succeeded, as upstream). `body` returns
 * whether it succeeded; a failed body's transaction is aborted. Throws when
 * the transaction cannot start or end for another reason.
 */
export async function withTransaction(client: XenStoreClient, body: (tx: number) => Promise<boolean>, retries = 100): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    const tx = Number((await requestStrings(client, Op.TRANSACTION_START, [""]))[0]);
    let ok: boolean;
    try {
      ok = await body(tx);
    } catch (e) {
      await client.request(Op.TRANSACTION_END, ["F"], tx).catch(() => undefined);
      throw e;
    }
    try {
      await client.request(Op.TRANSACTION_END, [ok ? "T" : "F"], tx);
      return ok;
    } catch (e) {
      if (!(ok && e instanceof XsError && e.errno === "EAGAIN" && attempt < retries)) throw e;
    }
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(2 ** attempt, 50)));
  }
}

/** At most `limit` promises of `run` running at once (requests kept in flight to the daemon). */
export class Limiter {
  private active = 0;
  /** Waiting tasks from `head` on (a queue without Array.shift, which is linear). */
  private queue: (() => void)[] = [];
  private head = 0;

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    // A finishing task hands its slot straight to the next one waiting.
    if (this.active < this.limit) this.active++;
    else await new Promise<void>((r) => this.queue.push(r));
    try {
      return await fn();
    } finally {
      this.next();
    }
  }

  private next(): void {
    if (this.head === this.queue.length) {
      this.active--;
      return;
    }
    const wake = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    wake();
  }
}
