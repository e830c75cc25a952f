/**
 * Unix stream socket listeners: the read-write `socket` and the read-only
 * `socket_ro`. Every accepted client becomes a privileged dom0 connection,
 * as in C xenstored. A client that stops reading its replies is paused
 * (we stop reading it) instead of buffering without bound.
 */
import { chmodSync, mkdirSync, rmSync, statSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { Endpoint, Peer } from "./transport.js";

export interface ListenerOptions {
  readonly: boolean;
  /** File mode of the socket we create (0600 rw, 0660 ro). */
  mode: number;
}

/** A listening Unix socket whose clients become the daemon's dom0 connections. */
export interface SocketListener {
  readonly path: string | null;
  /** Bind our own socket at `path`, replacing a stale one, but never one a running daemon still answers on. */
  listen(): Promise<void>;
  /** Serve an already-listening socket inherited from systemd. */
  adopt(fd: number): Promise<void>;
  /** Stop accepting clients and serving input; output still goes out (the start of shutdown). */
  quiesce(): void;
  /**
   * Shut down: stop accepting, stop processing requests, let every reply
   * already produced reach its client, then close. Input that arrives
   * meanwhile is read and dropped, so that closing does not reset the
   * connection under the client's feet. Bounded by `graceMs`.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * What both listeners share: binding our own socket path (cleared of a
 * stale socket first, its mode set, removed again at shutdown), and the
 * start of shutdown.
 */
export abstract class UnixListenerBase implements SocketListener {
  /** We created the socket file (and so remove it on shutdown). */
  protected owned = false;
  /** Shutting down: no new clients, no more input served; output still goes out. */
  protected closing = false;

  constructor(
    protected readonly endpoint: Endpoint,
    readonly path: string | null,
    protected readonly opts: ListenerOptions,
  ) {}

  async listen(): Promise<void> {
    if (!this.path) throw new Error("no socket path");
    await clearSocketPath(this.path);
    await this.bindAt(this.path);
    this.owned = true;
    chmodSync(this.path, this.opts.mode);
  }

  /** Bind a listening socket at `path` (cleared already) and start accepting on it. */
  protected abstract bindAt(path: string): Promise<void>;

  abstract adopt(fd: number): Promise<void>;

  quiesce(): void {
    this.closing = true;
  }

  abstract close(graceMs?: number): Promise<void>;

  /** Wait for every client's goodbye, at most `graceMs` in all. */
  protected static async farewell(goodbyes: Promise<void>[], graceMs: number): Promise<void> {
    await Promise.race([Promise.all(goodbyes), new Promise((r) => setTimeout(r, graceMs).unref())]);
  }

  /** The socket file we made goes (the end of shutdown). */
  protected removeOwnSocket(): void {
    if (this.owned && this.path) rmSync(this.path, { force: true });
  }
}

/** The listener on node:net: where the native transport (src/transport/unix-native.ts) is not built, or not chosen. */
export class NodeUnixListener extends UnixListenerBase {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  protected bindAt(path: string): Promise<void> {
    return this.start({ path });
  }

  /** Serve an already-listening socket inherited from systemd. */
  async adopt(fd: number): Promise<void> {
    await this.start({ fd });
  }

  private start(where: { path: string } | { fd: number }): Promise<void> {
    const server = createServer({ allowHalfOpen: false, pauseOnConnect: false }, (s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(where, () => {
        server.off("error", reject);
        server.on("error", (e) => this.endpoint.log(`listener ${this.path ?? "fd"}: ${e.message}`));
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    // Node buffers what one write hands it; after a write that fills the
    // socket, we take nothing more until it drains (the daemon keeps it).
    let full = false;
    const peer: Peer = this.endpoint.connect(
      { kind: "socket", domid: 0, readonly: this.opts.readonly },
      {
        write: (data) => {
          if (socket.destroyed) return data.length;
          // Shutting down: everything goes to the socket, however full.
          if (full && !this.closing) return 0;
          if (!socket.write(data)) full = true;
          return data.length;
        },
        // Node keeps (and counts) what a write could not hand the kernel at once; the rest it is done with.
        writesDone: () => !socket.destroyed && socket.writableLength === 0,
        setReceiving: (on) => {
          if (this.closing || socket.destroyed) return;
          if (on) socket.resume();
          else socket.pause();
        },
        close: () => socket.destroy(),
      },
    );
    socket.on("data", (chunk: Buffer) => peer.received(chunk));
    socket.on("drain", () => {
      if (this.closing) return;
      full = false;
      peer.drained();
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      this.sockets.delete(socket);
      peer.closed();
    });
  }

  async close(graceMs = 2000): Promise<void> {
    this.closing = true;
    const server = this.server;
    this.server = null;
    const serverClosed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    const sockets = [...this.sockets];
    await UnixListenerBase.farewell(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            s.removeAllListeners("data");
            s.on("data", () => {});
            s.once("close", () => resolve());
            s.resume();
            // FIN once everything written so far is flushed. Then a short
            // wait still reads (and drops) what the client sends, as closing
            // with unread input would reset its connection; an idle client
            // does not hold the shutdown up.
            s.end(() => setTimeout(resolve, LINGER_MS).unref());
          }),
      ),
      graceMs,
    );
    for (const s of sockets) s.destroy();
    await serverClosed;
    this.removeOwnSocket();
  }
}

/** After our last byte is flushed, how long shutdown keeps reading a client's input. */
export const LINGER_MS = 50;

/**
 * Make way for a socket at `path`: its directories made, a stale socket
 * there removed, but never one a running daemon still answers on.
 */
export async function clearSocketPath(path: string): Promise<void> {
  makeDirs(dirname(path));
  let stale = false;
  try {
    stale = statSync(path).isSocket();
  } catch {
    /* not there */
  }
  if (stale) {
    if (await socketAnswers(path)) throw new Error(`${path} is in use: another xenstored is running`);
    rmSync(path, { force: true });
  }
}

function makeDirs(dir: string): void {
  const parts = dir.split("/").filter(Boolean);
  let cur = dir.startsWith("/") ? "" : ".";
  for (const p of parts) {
    cur = `${cur}/${p}`;
    try {
      mkdirSync(cur, { mode: 0o755 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
}

/** Whether something accepts connections on the Unix socket at PATH. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}
