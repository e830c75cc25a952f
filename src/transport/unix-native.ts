/**
 * The Unix socket listeners served by native/unix-stream.c: the same
 * contract as `NodeUnixListener` (src/transport/unix.ts), without node:net's
 * streams. Every event-loop turn brings one callback with all that arrived
 * on every connection; replies are written with a plain system call. What
 * this saves per request, and why Node.js cannot do it itself, is in
 * docs/design.md ("The socket transport").
 */
import { getSystemErrorName } from "node:util";
import { addonLoader } from "../util/addon.js";
import type { Peer } from "./transport.js";
import { LINGER_MS, UnixListenerBase } from "./unix.js";

/** native/unix-stream.c's functions (each documented there). */
export interface StreamAddon {
  start(onEvents: (quads: Int32Array, count: number, input: Buffer) => void): number;
  bindListen(path: string, backlog: number): number;
  serve(fd: number, tag: number): number;
  write(id: number, data: Buffer, force: boolean): number;
  pending(id: number): number;
  receive(id: number, on: number): number;
  endAfterFlush(id: number): number;
  close(id: number): number;
  isUnixListener(fd: number): boolean;
}

const addon = addonLoader<StreamAddon>("tsxs_stream");

/** Whether the native transport can be used (its addon built). */
export function nativeStreamsAvailable(): boolean {
  return addon() !== null;
}

const EV_DATA = 1;
const EV_DRAINED = 2;
const EV_CLOSED = 3;
const EV_ACCEPTED = 4;

/** One accepted connection, as the listener that took it tracks it. */
interface Conn {
  readonly id: number;
  readonly owner: NativeUnixListener;
  /** The daemon's side; replaced by a sink while shutting down. */
  peer: Peer;
  /** close() was asked for (no more input is handed on). */
  closing: boolean;
  onClosed: (() => void) | null;
}

/** The one native event source of this process, shared by all listeners. */
class Streams {
  private readonly conns = new Map<number, Conn>();
  private readonly listeners = new Map<number, NativeUnixListener>();
  private nextTag = 1;

  constructor(readonly native: StreamAddon) {
    const rc = native.start((quads, count, input) => this.deliver(quads, count * 4, input));
    if (rc !== 0) throw new Error(`native streams: start failed (errno ${-rc})`);
  }

  addListener(l: NativeUnixListener): number {
    const tag = this.nextTag++;
    this.listeners.set(tag, l);
    return tag;
  }

  removeListener(tag: number): void {
    this.listeners.delete(tag);
  }

  track(c: Conn): void {
    this.conns.set(c.id, c);
  }

  private deliver(quads: Int32Array, end: number, input: Buffer): void {
    for (let i = 0; i < end; i += 4) {
      const id = quads[i + 1]!;
      switch (quads[i]) {
        case EV_DATA: {
          const c = this.conns.get(id);
          if (c && !c.closing) c.peer.received(input.subarray(quads[i + 2]!, quads[i + 2]! + quads[i + 3]!));
          break;
        }
        case EV_DRAINED: {
          const c = this.conns.get(id);
          if (c && !c.closing) c.peer.drained();
          break;
        }
        case EV_CLOSED: {
          const c = this.conns.get(id);
          if (c) {
            this.conns.delete(id);
            c.owner.forget(c);
            c.peer.closed();
            c.onClosed?.();
          }
          break;
        }
        case EV_ACCEPTED: {
          const l = this.listeners.get(quads[i + 2]!);
          if (l) l.accept(id);
          else this.native.close(id);
          break;
        }
      }
    }
  }
}

let streams: Streams | null = null;
function nativeStreams(): Streams {
  if (streams) return streams;
  const native = addon();
  if (!native) throw new Error("the native socket transport (tsxs_stream) is not built");
  streams = new Streams(native);
  return streams;
}

/** Listens on a Unix socket (or serves an inherited one) through native/unix-stream.c. */
export class NativeUnixListener extends UnixListenerBase {
  private readonly streams = nativeStreams();
  private readonly native = this.streams.native;
  private readonly conns = new Set<Conn>();
  private tag = 0;
  private listenerId = -1;

  protected async bindAt(path: string): Promise<void> {
    const fd = this.native.bindListen(path, 511);
    if (fd < 0) throw new Error(`listen on ${path}: ${getSystemErrorName(fd)}`);
    this.serve(fd);
  }

  async adopt(fd: number): Promise<void> {
    if (!this.native.isUnixListener(fd)) throw new Error(`inherited fd ${fd} is not a listening Unix stream socket`);
    this.serve(fd);
  }

  private serve(fd: number): void {
    this.tag = this.streams.addListener(this);
    const id = this.native.serve(fd, this.tag);
    if (id < 0) throw new Error(`serve fd ${fd}: ${getSystemErrorName(id)}`);
    this.listenerId = id;
  }

  /** A connection the native side accepted on this listener. */
  accept(id: number): void {
    if (this.closing) {
      this.native.close(id);
      return;
    }
    const native = this.native;
    const conn: Conn = { id, owner: this, peer: NO_PEER, closing: false, onClosed: null };
    this.conns.add(conn);
    this.streams.track(conn);
    conn.peer = this.endpoint.connect(
      { kind: "socket", domid: 0, readonly: this.opts.readonly },
      {
        write: (data) => {
          // Shutting down: everything goes to the socket, however full.
          const n = native.write(id, data, this.closing);
          return n < 0 ? data.length : n;
        },
        // The native side sends or copies what write takes: the daemon's buffer is free at once.
        writesDone: () => true,
        setReceiving: (on) => {
          if (this.closing || conn.closing) return;
          native.receive(id, on ? 1 : 0);
        },
        close: () => {
          if (conn.closing) return;
          conn.closing = true;
          native.close(id);
        },
      },
    );
  }

  /** The native side closed a connection (its `closed` is delivered to the daemon by the caller). */
  forget(c: Conn): void {
    this.conns.delete(c);
  }

  async close(graceMs = 2000): Promise<void> {
    this.closing = true;
    if (this.listenerId >= 0) {
      this.native.close(this.listenerId);
      this.listenerId = -1;
    }
    this.streams.removeListener(this.tag);
    const conns = [...this.conns];
    await UnixListenerBase.farewell(
      conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            // FIN once everything written so far is flushed (`drained` says when, if anything was
            // still pending), then a short wait still reads (and drops) what the client sends, as
            // closing with unread input would reset its connection.
            const linger = (): void => void setTimeout(resolve, LINGER_MS).unref();
            const daemonSide = c.peer;
            c.peer = { received: () => {}, drained: linger, closed: () => daemonSide.closed() };
            c.onClosed = resolve;
            this.native.receive(c.id, 1);
            this.native.endAfterFlush(c.id);
            if (this.native.pending(c.id) <= 0) linger();
          }),
      ),
      graceMs,
    );
    for (const c of conns) {
      if (!c.closing) {
        c.closing = true;
        this.native.close(c.id);
      }
    }
    this.removeOwnSocket();
  }
}

const NO_PEER: Peer = { received: () => {}, drained: () => {}, closed: () => {} };
