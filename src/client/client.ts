/**
 * A typed xenstore client for Node: pipelined requests matched by req_id,
 * transactions with automatic retry on EAGAIN, and watches as async
 * iterators. Talks to any xenstored over its Unix socket.
 */
import { createConnection, type Socket } from "node:net";
import { Op, XsError, isXsErrno, type Packet } from "../protocol/messages.js";
import { PacketParser } from "../protocol/parser.js";
import { encodePacket, joinStrings } from "../protocol/serializer.js";
import { splitStrings } from "../protocol/payload.js";

/** Where libxenstore looks: $XENSTORED_PATH, else $XENSTORED_RUNDIR/socket. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.XENSTORED_PATH || `${env.XENSTORED_RUNDIR || "/var/run/xenstored"}/socket`;
}

export interface Permission {
  domid: number;
  read: boolean;
  write: boolean;
}

export interface WatchEvent {
  path: string;
  token: string;
}

/** An active watch: iterate its events; `close()` unwatches. */
export interface Watcher extends AsyncIterable<WatchEvent> {
  readonly path: string;
  readonly token: string;
  /** Wait for the next event. */
  next(): Promise<WatchEvent>;
  close(): Promise<void>;
}

type Payload = Buffer | string | readonly (string | Buffer)[];

function toPayload(p: Payload): Buffer {
  if (Buffer.isBuffer(p)) return p;
  if (typeof p === "string") return Buffer.from(p, "latin1");
  return joinStrings(p);
}

export function formatPerms(perms: readonly Permission[]): string[] {
  return perms.map((p) => `${p.read ? (p.write ? "b" : "r") : p.write ? "w" : "n"}${p.domid}`);
}

export function parsePerms(strings: readonly string[]): Permission[] {
  return strings.map((s) => ({ domid: Number(s.slice(1)), read: s[0] === "r" || s[0] === "b", write: s[0] === "w" || s[0] === "b" }));
}

/** Read/write operations, outside or inside a transaction. */
export class Operations {
  constructor(
    private readonly owner: XenStoreClient | null,
    readonly txId: number,
  ) {}

  /** The connection requests go through (a client is its own). */
  protected get client(): XenStoreClient {
    return this.owner ?? (this as unknown as XenStoreClient);
  }

  async read(path: string): Promise<Buffer> {
    return this.client.request(Op.READ, [path], this.txId);
  }

  async readString(path: string): Promise<string> {
    return (await this.read(path)).toString("utf8");
  }

  /** READ that answers null instead of throwing ENOENT. */
  async tryRead(path: string): Promise<string | null> {
    try {
      return await this.readString(path);
    } catch (e) {
      if (e instanceof XsError && e.errno === "ENOENT") return null;
      throw e;
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.read(path);
      return true;
    } catch (e) {
      if (e instanceof XsError && e.errno === "ENOENT") return false;
      throw e;
    }
  }

  async write(path: string, value: string | Buffer): Promise<void> {
    const v = typeof value === "string" ? Buffer.from(value, "utf8") : value;
    await this.client.request(Op.WRITE, Buffer.concat([Buffer.from(`${path}\0`, "latin1"), v]), this.txId);
  }

  async mkdir(path: string): Promise<void> {
    await this.client.request(Op.MKDIR, [path], this.txId);
  }

  async rm(path: string): Promise<void> {
    await this.client.request(Op.RM, [path], this.txId);
  }

  /** Child names in the server's order. */
  async list(path: string): Promise<string[]> {
    return splitStrings(await this.client.request(Op.DIRECTORY, [path], this.txId));
  }

  async getPerms(path: string): Promise<Permission[]> {
    return parsePerms(splitStrings(await this.client.request(Op.GET_PERMS, [path], this.txId)));
  }

  async setPerms(path: string, perms: readonly Permission[] | readonly string[]): Promise<void> {
    const strings = typeof perms[0] === "string" ? (perms as string[]) : formatPerms(perms as Permission[]);
    await this.client.request(Op.SET_PERMS, [path, ...strings], this.txId);
  }
}

/** A transaction in progress (see `XenStoreClient.transaction`). */
export class Transaction extends Operations {
  /** Commit (true) or abort; resolves false when the commit met a conflict (EAGAIN). */
  async end(commit: boolean): Promise<boolean> {
    try {
      await this.client.request(Op.TRANSACTION_END, [commit ? "T" : "F"], this.txId);
      return true;
    } catch (e) {
      if (commit && e instanceof XsError && e.errno === "EAGAIN") return false;
      throw e;
    }
  }
}

interface Pending {
  resolve(p: Packet): void;
  reject(e: Error): void;
}

export class XenStoreClient extends Operations {
  private readonly socket: Socket;
  private readonly parser = new PacketParser();
  private readonly pending = new Map<number, Pending>();
  private readonly watchers = new Map<string, WatchQueue>();
  private nextReqId = 1;
  private nextToken = 1;
  private closedError: Error | null = null;
  /** Events for tokens with no watcher registered here (e.g. watches set with `request`). */
  readonly unclaimedEvents: WatchEvent[] = [];

  private constructor(socket: Socket) {
    super(null, 0);
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("close", () => this.fail(new Error("connection to xenstored closed")));
    socket.on("error", (e) => this.fail(e));
  }

  /**
   * Connect to the daemon's socket. A full listen queue (EAGAIN: cx
   * listens with a backlog of one) is waited out, for up to about a second.
   */
  static async connect(path: string = defaultSocketPath()): Promise<XenStoreClient> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await XenStoreClient.connectOnce(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN" || attempt >= 200) throw e;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  private static connectOnce(path: string): Promise<XenStoreClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ path }, () => {
        s.off("error", reject);
        resolve(new XenStoreClient(s));
      });
      s.once("error", reject);
    });
  }

  private onData(chunk: Buffer): void {
    let packets: Packet[];
    try {
      packets = this.parser.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      this.socket.destroy();
      return;
    }
    for (const p of packets) {
      if (p.type === Op.WATCH_EVENT) {
        const [path = "", token = ""] = splitStrings(p.payload);
        const w = this.watchers.get(token);
        if (w) w.push({ path, token });
        else this.unclaimedEvents.push({ path, token });
        continue;
      }
      const waiter = this.pending.get(p.reqId);
      if (!waiter) continue;
      this.pending.delete(p.reqId);
      waiter.resolve(p);
    }
  }

  private fail(e: Error): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const w of this.pending.values()) w.reject(e);
    this.pending.clear();
    for (const w of this.watchers.values()) w.end(e);
  }

  /** Send one request; resolves with the reply payload, rejects with XsError. */
  async request(type: Op | number, payload: Payload = Buffer.alloc(0), txId = 0): Promise<Buffer> {
    const p = await this.requestPacket(type, payload, txId);
    if (p.type === Op.ERROR) {
      const name = p.payload.toString("latin1").replace(/\0$/, "");
      throw new XsError(isXsErrno(name) ? name : "EINVAL", name);
    }
    return p.payload;
  }

  /** Send one request and return the raw reply packet (errors included). */
  requestPacket(type: number, payload: Payload = Buffer.alloc(0), txId = 0): Promise<Packet> {
    if (this.closedError) return Promise.reject(this.closedError);
    const reqId = this.nextReqId;
    this.nextReqId = (this.nextReqId + 1) >>> 0 || 1;
    return new Promise<Packet>((resolve, reject) => {
      this.pending.set(reqId, { resolve, reject });
      this.socket.write(encodePacket(type, reqId, txId, toPayload(payload)));
    });
  }

  async startTransaction(): Promise<Transaction> {
    const id = Number(splitStrings(await this.request(Op.TRANSACTION_START, [""]))[0]);
    return new Transaction(this, id);
  }

  /**
   * Run `body` in a transaction and commit it, starting over on EAGAIN (up
   * to `retries` times). An exception from `body` aborts the transaction.
   * Retries after the first wait a random, growing delay: clients retrying
   * in lockstep would otherwise let the same one win every round.
   */
  async transaction<T>(body: (tx: Transaction) => Promise<T>, retries = 1000): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const tx = await this.startTransaction();
      let result: T;
      try {
        result = await body(tx);
      } catch (e) {
        await tx.end(false).catch(() => undefined);
        throw e;
      }
      if (await tx.end(true)) return result;
      if (attempt >= retries) throw new XsError("EAGAIN", `transaction still conflicting after ${retries} retries`);
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(2 ** attempt, 50)));
    }
  }

  /** Watch `path` (and its subtree, or `depth` levels of it). The first event arrives at once. */
  async watch(path: string, opts: { token?: string; depth?: number } = {}): Promise<Watcher> {
    const token = opts.token ?? `tsxs-${process.pid}-${this.nextToken++}`;
    if (this.watchers.has(token)) throw new Error(`token ${token} already used on this connection`);
    const q = new WatchQueue(path, token, () => this.unwatchToken(path, token));
    this.watchers.set(token, q);
    const args = opts.depth === undefined ? [path, token] : [path, token, String(opts.depth)];
    try {
      await this.request(Op.WATCH, args);
    } catch (e) {
      this.watchers.delete(token);
      throw e;
    }
    return q;
  }

  private async unwatchToken(path: string, token: string): Promise<void> {
    this.watchers.delete(token);
    if (!this.closedError) await this.request(Op.UNWATCH, [path, token]);
  }

  async getDomainPath(domid: number): Promise<string> {
    return splitStrings(await this.request(Op.GET_DOMAIN_PATH, [String(domid)]))[0]!;
  }

  async introduce(domid: number, mfn: number | string, port: number): Promise<void> {
    await this.request(Op.INTRODUCE, [String(domid), String(mfn), String(port)]);
  }

  async release(domid: number): Promise<void> {
    await this.request(Op.RELEASE, [String(domid)]);
  }

  async isDomainIntroduced(domid: number): Promise<boolean> {
    return splitStrings(await this.request(Op.IS_DOMAIN_INTRODUCED, [String(domid)]))[0] === "T";
  }

  /** XS_CONTROL: e.g. `control("quota")`; returns the reply text. */
  async control(command: string, ...args: string[]): Promise<string> {
    return (await this.request(Op.CONTROL, [command, ...args])).toString("latin1").replace(/\0$/, "");
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

class WatchQueue implements Watcher {
  private readonly events: WatchEvent[] = [];
  private readonly waiters: { resolve(e: WatchEvent): void; reject(e: Error): void }[] = [];
  private error: Error | null = null;

  constructor(
    readonly path: string,
    readonly token: string,
    private readonly onClose: () => Promise<void>,
  ) {}

  push(e: WatchEvent): void {
    const w = this.waiters.shift();
    if (w) w.resolve(e);
    else this.events.push(e);
  }

  end(err: Error): void {
    this.error = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  next(): Promise<WatchEvent> {
    const e = this.events.shift();
    if (e) return Promise.resolve(e);
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async close(): Promise<void> {
    this.end(new Error("watch closed"));
    await this.onClose();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    for (;;) {
      try {
        yield await this.next();
      } catch {
        return;
      }
    }
  }
}
