/**
 * The seam between transports (Unix sockets, guest rings) and the daemon,
 * owned by the transport layer so that transports never see the daemon: a
 * transport offers a byte pipe to one peer (`Transport`) and reports what
 * happens on it (`Peer`); the daemon's `Endpoint` pairs the two.
 */

/** One peer's byte pipe, as the daemon drives it. */
export interface Transport {
  /**
   * Hand over bytes for the peer; returns how many it took. Taking fewer
   * than offered means it is full: the rest waits in the daemon until the
   * transport reports `drained`.
   */
  write(data: Buffer): number;
  /**
   * Whether nothing handed over by `write` is still to be read (all sent,
   * or copied): the daemon may then write into the memory that held it
   * again. Without it, the daemon never does.
   */
  writesDone?(): boolean;
  /** Stop (false) or resume (true) delivering input: the daemon is not serving this peer for now. */
  setReceiving?(on: boolean): void;
  /**
   * The daemon dropped this peer's connection: for a protocol violation or
   * a client far behind on its output (`reason`), or because the peer is
   * gone (release, shutdown).
   */
  close(reason?: CloseReason): void;
}

/** Why the daemon cut a connection off. */
export type CloseReason = "protocol" | "overrun";

/** What a transport reports about its peer. */
export interface Peer {
  /** Bytes arrived. */
  received(chunk: Buffer): void;
  /** The transport can take output again after a short `write`. */
  drained(): void;
  /** The peer is gone. */
  closed(): void;
}

export interface PeerInfo {
  readonly kind: "socket" | "domain";
  readonly domid: number;
  /** The read-only socket: modifying requests are refused. */
  readonly readonly: boolean;
}

/** The daemon, as transports see it. */
export interface Endpoint {
  connect(info: PeerInfo, transport: Transport): Peer;
  /** Diagnostics. */
  log(line: string): void;
}
