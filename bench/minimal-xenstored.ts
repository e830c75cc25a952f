/**
 * The least a Node.js server must do to pass upstream test-xenstore: a map
 * of paths to values, child names per path, transactions as a snapshot of
 * the map that fails with EAGAIN if anything committed meanwhile. No
 * permissions, watches, quotas, journal or history. A yardstick for the
 * per-request cost of Node.js itself on this machine (docs/design.md "Idle
 * polling": unpinned, it was at 1.01x cxenstored where tsxenstored without
 * idle polling was at 1.62x). Not a xenstored.
 *
 *   node dist/bench/minimal-xenstored.js SOCKET
 *   XENSTORED_PATH=SOCKET test-xenstore -i 2000
 */
import { unlinkSync } from "node:fs";
import { createServer } from "node:net";

const HEADER = 16;
const ERROR = 16;
const OK = Buffer.from("OK\0", "latin1");

const values = new Map<string, string>([["", ""]]);
const children = new Map<string, Set<string>>([["", new Set()]]);
/** Bumped by every change: a transaction that saw another value fails. */
let generation = 0;
let nextTx = 1;
const transactions = new Map<number, { generation: number; writes: Map<string, string>; snapshot: Map<string, string> }>();

const parentOf = (p: string): string => p.slice(0, Math.max(0, p.lastIndexOf("/")));
const nameOf = (p: string): string => p.slice(p.lastIndexOf("/") + 1);

function put(p: string, v: string): void {
  if (!values.has(p)) {
    const parent = parentOf(p);
    if (!values.has(parent)) put(parent, "");
    children.get(parent)!.add(nameOf(p));
    children.set(p, new Set());
  }
  values.set(p, v);
  generation++;
}

function remove(p: string): boolean {
  if (!values.has(p)) return false;
  for (const k of children.get(p)!) remove(`${p}/${k}`);
  values.delete(p);
  children.delete(p);
  children.get(parentOf(p))?.delete(nameOf(p));
  generation++;
  return true;
}

function packet(type: number, reqId: number, txId: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(HEADER + payload.length);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(reqId, 4);
  b.writeUInt32LE(txId, 8);
  b.writeUInt32LE(payload.length, 12);
  payload.copy(b, HEADER);
  return b;
}

/** The reply's type and payload for one request. */
function answer(type: number, txId: number, body: Buffer): [number, Buffer] {
  const err = (e: string): [number, Buffer] => [ERROR, Buffer.from(`${e}\0`, "latin1")];
  const tx = txId ? transactions.get(txId) : undefined;
  if (txId && !tx) return err("ENOENT");
  const nul = body.indexOf(0);
  const path = (nul < 0 ? body : body.subarray(0, nul)).toString("latin1").replace(/\/$/, "");
  switch (type) {
    case 2: {
      const v = tx ? (tx.writes.get(path) ?? tx.snapshot.get(path)) : values.get(path);
      return v === undefined ? err("ENOENT") : [type, Buffer.from(v, "latin1")];
    }
    case 11: {
      const v = body.subarray(nul + 1).toString("latin1");
      if (tx) tx.writes.set(path, v);
      else put(path, v);
      return [type, OK];
    }
    case 13:
      return remove(path) ? [type, OK] : err("ENOENT");
    case 1: {
      const names = children.get(path);
      return names ? [type, Buffer.from([...names].map((n) => `${n}\0`).join(""), "latin1")] : err("ENOENT");
    }
    case 6: {
      const id = nextTx++;
      transactions.set(id, { generation, writes: new Map(), snapshot: new Map(values) });
      return [type, Buffer.from(`${id}\0`, "latin1")];
    }
    case 7: {
      transactions.delete(txId);
      if (body[0] === 0x54 /* T: commit */) {
        if (tx!.generation !== generation) return err("EAGAIN");
        for (const [p, v] of tx!.writes) put(p, v);
      }
      return [type, OK];
    }
    default:
      return err("EINVAL");
  }
}

const path = process.argv[2];
if (!path) throw new Error("usage: minimal-xenstored SOCKET");
try {
  unlinkSync(path);
} catch {
  /* not there */
}
createServer((s) => {
  let pending: Buffer = Buffer.alloc(0);
  s.on("data", (chunk: Buffer) => {
    const buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const out: Buffer[] = [];
    let o = 0;
    while (buf.length - o >= HEADER) {
      const len = buf.readUInt32LE(o + 12);
      if (buf.length - o < HEADER + len) break;
      const [type, payload] = answer(buf.readUInt32LE(o), buf.readUInt32LE(o + 8), buf.subarray(o + HEADER, o + HEADER + len));
      out.push(packet(type, buf.readUInt32LE(o + 4), buf.readUInt32LE(o + 8), payload));
      o += HEADER + len;
    }
    pending = buf.subarray(o);
    if (out.length) s.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  });
  s.on("error", () => s.destroy());
}).listen(path);
