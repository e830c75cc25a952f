import { HEADER_SIZE, type Packet } from "./messages.js";

/** Frame one packet: 16-byte little-endian header followed by the payload. */
export function encodePacket(type: number, reqId: number, txId: number, payload: Buffer | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "latin1") : payload;
  const out = Buffer.allocUnsafe(HEADER_SIZE + body.length);
  out.writeUInt32LE(type >>> 0, 0);
  out.writeUInt32LE(reqId >>> 0, 4);
  out.writeUInt32LE(txId >>> 0, 8);
  out.writeUInt32LE(body.length, 12);
  body.copy(out, HEADER_SIZE);
  return out;
}

export function encode(packet: Packet): Buffer {
  return encodePacket(packet.type, packet.reqId, packet.txId, packet.payload);
}

/** NUL-terminate each string and concatenate: the `<a>|<b>|` payload form. */
export function joinStrings(parts: readonly (string | Buffer)[]): Buffer {
  const bufs: Buffer[] = [];
  for (const p of parts) {
    bufs.push(typeof p === "string" ? Buffer.from(p, "latin1") : p, NUL);
  }
  return Buffer.concat(bufs);
}

const NUL = Buffer.from([0]);
