/**
 * The daemon's state as a stream of versioned records, shaped like C
 * xenstored's migration stream (docs/designs/xenstore-migration.md): an
 * 8-byte identifier, a big-endian version and flags, then records of
 * `{u32 type, u32 length, body}` padded to 8 bytes, ending with END.
 * Bodies are little-endian. The record set is our own (it carries what
 * tsxenstored keeps: ACL flags, listing generations, queued output), so the
 * identifier differs from cx's "xenstore".
 *
 * Grammar:
 *   stream  = "tsxstate" u32be:version u32be:flags record* end
 *   record  = u32:type u32:length body pad8
 *   global  = u32:revision u32:listingGeneration u32:nextConnection
 *   node    = str:path str:value str:acl          (parents before children)
 *   special = str:name str:acl
 *   domain  = u32:domid u8:introduced u32:port str:mfn u8:shutdown u32:features i32:target
 *   quota   = i32:domid (-1 global) u8:soft str:name u32:value
 *   conn    = u32:seq u8:kind u32:domid u8:readonly u32:txCursor
 *             bytes:input bytes:outputHead bytes:output
 *   watch   = u32:conn str:path str:token u32:prefixLength i32:depth
 *   tx      = u32:conn u32:id
 *   str     = u32:length latin1-bytes;  bytes = u32:length bytes
 */

import { Reader, Writer } from "./binary.js";
import { StateFormatError } from "./errors.js";

export const STATE_VERSION = 1;
const IDENT = "tsxstate";

export const enum RecordType {
  End = 0,
  Global = 1,
  Node = 2,
  Special = 3,
  Domain = 4,
  Quota = 5,
  Connection = 6,
  Watch = 7,
  Transaction = 8,
}

export interface GlobalRecord {
  readonly type: RecordType.Global;
  readonly revision: number;
  readonly listingGeneration: number;
  readonly nextConnection: number;
}
export interface NodeRecord {
  readonly type: RecordType.Node;
  readonly path: string;
  readonly value: string;
  readonly acl: string;
}
export interface SpecialRecord {
  readonly type: RecordType.Special;
  readonly name: string;
  readonly acl: string;
}
export interface DomainRecord {
  readonly type: RecordType.Domain;
  readonly domid: number;
  readonly introduced: boolean;
  readonly port: number;
  readonly mfn: string;
  readonly shutdown: boolean;
  readonly features: number;
  readonly target: number | null;
}
export interface QuotaRecord {
  readonly type: RecordType.Quota;
  readonly domid: number | null;
  readonly level: "hard" | "soft";
  readonly name: string;
  readonly value: number;
}
export interface ConnectionRecord {
  readonly type: RecordType.Connection;
  readonly seq: number;
  readonly kind: "socket" | "domain";
  readonly domid: number;
  readonly readonly: boolean;
  readonly transactionCursor: number;
  /** Bytes received and not yet processed (held requests, a partial packet). */
  readonly input: Buffer;
  /** The rest of a packet that had started going out. */
  readonly outputHead: Buffer;
  /** Whole packets queued after it. */
  readonly output: Buffer;
}
export interface WatchRecord {
  readonly type: RecordType.Watch;
  readonly conn: number;
  readonly path: string;
  readonly token: string;
  readonly prefixLength: number;
  readonly depth: number;
}
export interface TransactionRecord {
  readonly type: RecordType.Transaction;
  readonly conn: number;
  readonly id: number;
}

export type StateRecord =
  | GlobalRecord
  | NodeRecord
  | SpecialRecord
  | DomainRecord
  | QuotaRecord
  | ConnectionRecord
  | WatchRecord
  | TransactionRecord;

export { StateFormatError };

/**
 * Encodes a state stream a record at a time, handing out the bytes so far
 * whenever asked (a large state is written out in pieces, between other
 * work, without holding it all in memory).
 */
export class StateEncoder {
  private readonly w = new Writer();

  constructor() {
    this.w.raw(Buffer.from(IDENT, "latin1"));
    this.w.u32be(STATE_VERSION);
    this.w.u32be(0); // flags: bit 0 clear, little-endian bodies
  }

  add(r: StateRecord): void {
    const w = this.w;
    const at = w.begin(r.type);
    switch (r.type) {
      case RecordType.Global:
        w.u32(r.revision);
        w.u32(r.listingGeneration);
        w.u32(r.nextConnection);
        break;
      case RecordType.Node:
        w.str(r.path);
        w.str(r.value);
        w.str(r.acl);
        break;
      case RecordType.Special:
        w.str(r.name);
        w.str(r.acl);
        break;
      case RecordType.Domain:
        w.u32(r.domid);
        w.u8(r.introduced ? 1 : 0);
        w.u32(r.port);
        w.str(r.mfn);
        w.u8(r.shutdown ? 1 : 0);
        w.u32(r.features);
        w.i32(r.target ?? -1);
        break;
      case RecordType.Quota:
        w.i32(r.domid ?? -1);
        w.u8(r.level === "soft" ? 1 : 0);
        w.str(r.name);
        w.u32(r.value);
        break;
      case RecordType.Connection:
        w.u32(r.seq);
        w.u8(r.kind === "domain" ? 1 : 0);
        w.u32(r.domid);
        w.u8(r.readonly ? 1 : 0);
        w.u32(r.transactionCursor);
        w.bytes(r.input);
        w.bytes(r.outputHead);
        w.bytes(r.output);
        break;
      case RecordType.Watch:
        w.u32(r.conn);
        w.str(r.path);
        w.str(r.token);
        w.u32(r.prefixLength);
        w.i32(r.depth);
        break;
      case RecordType.Transaction:
        w.u32(r.conn);
        w.u32(r.id);
        break;
    }
    w.end(at);
  }

  /** Bytes encoded so far: a copy (they are forgotten here). */
  take(): Buffer {
    const out = Buffer.from(this.w.result());
    this.w.reset();
    return out;
  }

  /** The END record and what is left. */
  finish(): Buffer {
    this.w.end(this.w.begin(RecordType.End));
    return this.take();
  }

  /** Bytes waiting to be taken. */
  get pending(): number {
    return this.w.length;
  }
}

export function encodeState(records: Iterable<StateRecord>): Buffer {
  const e = new StateEncoder();
  const parts: Buffer[] = [];
  for (const r of records) {
    e.add(r);
    if (e.pending > 1 << 20) parts.push(e.take());
  }
  parts.push(e.finish());
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

export function decodeState(buf: Buffer): StateRecord[] {
  if (buf.length < 16 || buf.toString("latin1", 0, 8) !== IDENT) throw new StateFormatError("not a tsxenstored state stream");
  const version = buf.readUInt32BE(8);
  if (version !== STATE_VERSION) throw new StateFormatError(`state stream version ${version}, expected ${STATE_VERSION}`);
  if (buf.readUInt32BE(12) !== 0) throw new StateFormatError("unsupported state stream flags");
  const out: StateRecord[] = [];
  let off = 16;
  for (;;) {
    if (off + 8 > buf.length) throw new StateFormatError("stream ends without an END record");
    const type = buf.readUInt32LE(off);
    const len = buf.readUInt32LE(off + 4);
    const start = off + 8;
    if (start + len > buf.length) throw new StateFormatError("record truncated");
    const r = new Reader(buf, start, start + len);
    off = start + len + ((8 - ((start + len) % 8)) % 8);
    switch (type) {
      case RecordType.End:
        r.done();
        return out;
      case RecordType.Global:
        out.push({ type, revision: r.u32(), listingGeneration: r.u32(), nextConnection: r.u32() });
        break;
      case RecordType.Node:
        out.push({ type, path: r.str(), value: r.str(), acl: r.str() });
        break;
      case RecordType.Special:
        out.push({ type, name: r.str(), acl: r.str() });
        break;
      case RecordType.Domain: {
        const domid = r.u32();
        const introduced = r.bool();
        const port = r.u32();
        const mfn = r.str();
        const shutdown = r.bool();
        const features = r.u32();
        const target = r.i32();
        out.push({ type, domid, introduced, port, mfn, shutdown, features, target: target < 0 ? null : target });
        break;
      }
      case RecordType.Quota: {
        const domid = r.i32();
        const level = r.bool() ? "soft" : "hard";
        out.push({ type, domid: domid < 0 ? null : domid, level, name: r.str(), value: r.u32() });
        break;
      }
      case RecordType.Connection: {
        const seq = r.u32();
        const kind = r.bool() ? "domain" : "socket";
        const domid = r.u32();
        const readonly = r.bool();
        const transactionCursor = r.u32();
        out.push({ type, seq, kind, domid, readonly, transactionCursor, input: r.bytes(), outputHead: r.bytes(), output: r.bytes() });
        break;
      }
      case RecordType.Watch:
        out.push({ type, conn: r.u32(), path: r.str(), token: r.str(), prefixLength: r.u32(), depth: r.i32() });
        break;
      case RecordType.Transaction:
        out.push({ type, conn: r.u32(), id: r.u32() });
        break;
      default:
        throw new StateFormatError(`unknown record type ${type}`);
    }
    r.done();
  }
}
