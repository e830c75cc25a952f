/**
 * The smallest Node.js server that speaks the xenstore framing: the floor of
 * this transport in Node on this machine, next to bench/echo.c. Every request
 * (16-byte little-endian header + payload) is answered with a reply of the
 * same type, req_id and tx_id whose payload is "OK\0"; the replies to all
 * complete requests of one read go out in one write.
 *
 *   node dist/bench/echo-server.js SOCKET
 */
import { createServer, type Socket } from "node:net";
import { unlinkSync } from "node:fs";

const HEADER = 16;
const OK = Buffer.from("OK\0", "latin1");

function serve(sock: Socket): void {
  let pending: Buffer = Buffer.alloc(0);
  sock.on("data", (chunk: Buffer) => {
    const buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let off = 0;
    let count = 0;
    // First pass: count complete requests, so the reply buffer is allocated once.
    for (let o = 0; buf.length - o >= HEADER; ) {
      const len = buf.readUInt32LE(o + 12);
      if (buf.length - o < HEADER + len) break;
      o += HEADER + len;
      count++;
    }
    if (count) {
      const out = Buffer.allocUnsafe(count * (HEADER + OK.length));
      let w = 0;
      for (let i = 0; i < count; i++) {
        const len = buf.readUInt32LE(off + 12);
        buf.copy(out, w, off, off + 12); // type, req_id, tx_id
        out.writeUInt32LE(OK.length, w + 12);
        OK.copy(out, w + HEADER);
        w += HEADER + OK.length;
        off += HEADER + len;
      }
      sock.write(out);
    }
    pending = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
  });
  sock.on("error", () => sock.destroy());
}

const path = process.argv[2];
if (!path) {
  process.stderr.write("usage: echo-server SOCKET\n");
  process.exit(2);
}
try {
  unlinkSync(path);
} catch {
  // not there
}
const server = createServer(serve);
server.listen(path);
const stop = (): void => {
  server.close();
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
