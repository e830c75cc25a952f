import { HEADER_SIZE, PAYLOAD_MAX, type Packet } from "./messages.js";

/** Raised when a peer announces a payload larger than PAYLOAD_MAX. */
export class OversizePacketError extends Error {
  constructor(
    readonly length: number,
    /** Complete packets that came before the bad header in the same input. */
    readonly parsed: Packet[] = [],
  ) {
    super(`packet payload of ${length} bytes exceeds ${PAYLOAD_MAX}`);
    this.name = "OversizePacketError";
  }
}

/**
 * Incremental framer: feed it whatever a read returned (partial headers,
 * several packets at once) and it hands back every complete packet.
 * Headers are little-endian, the only byte order of x86 and Arm hosts.
 */
export class PacketParser {
  private pending: Buffer | null = null;
  private maxPayload: number;

  constructor(maxPayload = PAYLOAD_MAX) {
    this.maxPayload = maxPayload;
  }

  /** Bytes received but not yet part of a complete packet. */
  get buffered(): number {
    return this.pending ? this.pending.length : 0;
  }

  /** Those bytes themselves (state dump). */
  pendingBytes(): Buffer {
    return this.pending ? Buffer.from(this.pending) : Buffer.alloc(0);
  }

  /**
   * Parse as many packets as `chunk` completes. Throws OversizePacketError
   * (carrying the packets before it) as soon as a header announces too
   * large a payload; the caller is then expected to drop the connection,
   * since the stream cannot be resynced.
   */
  push(chunk: Buffer): Packet[] {
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    const out: Packet[] = [];
    let off = 0;
    while (data.length - off >= HEADER_SIZE) {
      const len = data.readUInt32LE(off + 12);
      if (len > this.maxPayload) throw new OversizePacketError(len, out);
      if (data.length - off < HEADER_SIZE + len) break;
      out.push({
        type: data.readUInt32LE(off),
        reqId: data.readUInt32LE(off + 4),
        txId: data.readUInt32LE(off + 8),
        // A view, not a copy: every read delivers a fresh buffer, and
        // nothing keeps a payload beyond its request (values are stored as
        // strings).
        payload: data.subarray(off + HEADER_SIZE, off + HEADER_SIZE + len),
      });
      off += HEADER_SIZE + len;
    }
    if (off < data.length) this.pending = Buffer.from(data.subarray(off));
    return out;
  }
}
