/**
 * The journal's entries and their encoding. Every committed change is one
 * `commit` entry: the tree edits in the order they were made, each with the
 * path's state once the commit is done (replaying the edits in order
 * rebuilds the same tree, listing order included; the history is rebuilt
 * from the replay); the state of guests' connections that a restarted
 * daemon re-attaches (their watches and open transactions) is a small
 * entry of its own.
 *
 * Frame:  u32 length | u32 crc32(payload) | payload       (little-endian)
 * A zero length ends a segment's entries (segments are zero-filled ahead
 * of the writes); a frame running past the end or failing its checksum is
 * a torn or corrupt tail: it, and everything after it in that segment,
 * was never acknowledged.
 *
 * Payloads (str = u32 length + latin1 bytes; state = u8 present [str value, str acl]):
 *   1 commit  u32 revision f64 time u32 domid u32 conn u32 txId str op
 *             u32 n (u8 kind str path state:final)*
 *             u8 specials? [u32 n (str name str acl)*]  u32 n effect*
 *   2 guest   u32 domid u32 cursor u32 n (str path str token u32 prefixLength i32 depth)*
 *             u32 m (u32 transaction id)*
 * effect = u8 kind: 1 introduce u32 domid str mfn u32 port | 2 release u32 domid
 *   | 3 features u32 domid u32 features | 4 target u32 domid u32 target
 *   | 5 shutdown u32 domid u8 | 6 quota i32 domid (-1 global) str name u8 soft u32 value
 */
import { Reader, Writer } from "../state/binary.js";
import { StateFormatError } from "../state/errors.js";
import { crc32 } from "./crc32.js";
import type { Effect } from "../store/store.js";
import type { NodeState } from "../store/changes.js";
import type { ChangeKind } from "../store/tree.js";

/** One tree edit of a commit, with the path's state after the whole commit (null: absent then). */
export interface EditEntry {
  readonly path: string;
  readonly kind: ChangeKind;
  readonly after: NodeState | null;
}

export interface CommitEntry {
  readonly type: "commit";
  readonly revision: number;
  readonly time: number;
  readonly domid: number;
  readonly conn: number;
  readonly txId: number;
  readonly op: string;
  readonly edits: readonly EditEntry[];
  /** The special nodes' ACLs after the commit, when it changed them. */
  readonly specials: readonly (readonly [string, string])[] | null;
  readonly effects: readonly Effect[];
}

/** A watch of a guest's connection, as recorded. */
export interface GuestWatch {
  readonly path: string;
  readonly token: string;
  readonly prefixLength: number;
  readonly depth: number;
}

/**
 * A guest's connection state after it changed (WATCH, UNWATCH, a
 * transaction started or ended, RESET_WATCHES, a reconnection): all its
 * watches and open transaction ids. The last one of a domain wins; its
 * release forgets it.
 */
export interface GuestEntry {
  readonly type: "guest";
  readonly domid: number;
  /** The next transaction id to try. */
  readonly cursor: number;
  readonly watches: readonly GuestWatch[];
  readonly transactions: readonly number[];
}

export type JournalEntry = CommitEntry | GuestEntry;

const KINDS: readonly ChangeKind[] = ["created", "value", "perms", "removed"];
const KIND_CODE: Readonly<Record<ChangeKind, number>> = { created: 0, value: 1, perms: 2, removed: 3 };

export const FRAME_HEADER = 8;

function state(w: Writer, s: NodeState | null): void {
  if (!s) return w.u8(0);
  w.u8(1);
  w.str(s.value);
  w.str(s.acl);
}

function effect(w: Writer, e: Effect): void {
  switch (e.kind) {
    case "introduce":
      w.u8(1);
      w.u32(e.domid);
      w.str(e.mfn);
      w.u32(e.port);
      break;
    case "release":
      w.u8(2);
      w.u32(e.domid);
      break;
    case "features":
      w.u8(3);
      w.u32(e.domid);
      w.u32(e.features);
      break;
    case "target":
      w.u8(4);
      w.u32(e.domid);
      w.u32(e.target);
      break;
    case "shutdown":
      w.u8(5);
      w.u32(e.domid);
      w.u8(e.shutdown ? 1 : 0);
      break;
    case "quota":
      w.u8(6);
      w.i32(e.domid ?? -1);
      w.str(e.name);
      w.u8(e.level === "soft" ? 1 : 0);
      w.u32(e.value);
      break;
  }
}

/** Append one framed entry to `w`. */
export function encodeEntry(w: Writer, e: JournalEntry): void {
  const at = w.length;
  w.u32(0);
  w.u32(0);
  switch (e.type) {
    case "commit":
      w.u8(1);
      w.u32(e.revision);
      w.f64(e.time);
      w.u32(e.domid);
      w.u32(e.conn);
      w.u32(e.txId);
      w.str(e.op);
      w.u32(e.edits.length);
      for (const c of e.edits) {
        w.u8(KIND_CODE[c.kind]);
        w.str(c.path);
        state(w, c.after);
      }
      if (e.specials) {
        w.u8(1);
        w.u32(e.specials.length);
        for (const [name, acl] of e.specials) {
          w.str(name);
          w.str(acl);
        }
      } else w.u8(0);
      w.u32(e.effects.length);
      for (const x of e.effects) effect(w, x);
      break;
    case "guest":
      w.u8(2);
      w.u32(e.domid);
      w.u32(e.cursor);
      w.u32(e.watches.length);
      for (const x of e.watches) {
        w.str(x.path);
        w.str(x.token);
        w.u32(x.prefixLength);
        w.i32(x.depth);
      }
      w.u32(e.transactions.length);
      for (const id of e.transactions) w.u32(id);
      break;
  }
  const len = w.length - at - FRAME_HEADER;
  w.patchU32(at, len);
  w.patchU32(at + 4, crc32(w.buffer, at + FRAME_HEADER, w.length));
}

function readState(r: Reader): NodeState | null {
  if (!r.bool()) return null;
  return { value: r.str(), acl: r.str() };
}

function readEffect(r: Reader): Effect {
  const kind = r.u8();
  switch (kind) {
    case 1:
      return { kind: "introduce", domid: r.u32(), mfn: r.str(), port: r.u32() };
    case 2:
      return { kind: "release", domid: r.u32() };
    case 3:
      return { kind: "features", domid: r.u32(), features: r.u32() };
    case 4:
      return { kind: "target", domid: r.u32(), target: r.u32() };
    case 5:
      return { kind: "shutdown", domid: r.u32(), shutdown: r.bool() };
    case 6: {
      const domid = r.i32();
      const name = r.str();
      const level = r.bool() ? "soft" : "hard";
      return { kind: "quota", domid: domid < 0 ? null : domid, name, level, value: r.u32() };
    }
    default:
      throw new StateFormatError(`unknown effect ${kind}`);
  }
}

/** Decode one entry's payload (checksum already verified). */
export function decodeEntry(buf: Buffer): JournalEntry {
  const r = new Reader(buf, 0, buf.length);
  const type = r.u8();
  let e: JournalEntry;
  switch (type) {
    case 1: {
      const revision = r.u32();
      const time = r.f64();
      const domid = r.u32();
      const conn = r.u32();
      const txId = r.u32();
      const op = r.str();
      const n = r.u32();
      const edits: EditEntry[] = [];
      for (let i = 0; i < n; i++) {
        const kind = KINDS[r.u8()];
        if (!kind) throw new StateFormatError("unknown change kind");
        const path = r.str();
        edits.push({ path, kind, after: readState(r) });
      }
      let specials: [string, string][] | null = null;
      if (r.bool()) {
        specials = [];
        for (let i = r.u32(); i > 0; i--) specials.push([r.str(), r.str()]);
      }
      const effects: Effect[] = [];
      for (let i = r.u32(); i > 0; i--) effects.push(readEffect(r));
      e = { type: "commit", revision, time, domid, conn, txId, op, edits, specials, effects };
      break;
    }
    case 2: {
      const domid = r.u32();
      const cursor = r.u32();
      const watches: GuestWatch[] = [];
      for (let i = r.u32(); i > 0; i--) watches.push({ path: r.str(), token: r.str(), prefixLength: r.u32(), depth: r.i32() });
      const transactions: number[] = [];
      for (let i = r.u32(); i > 0; i--) transactions.push(r.u32());
      e = { type: "guest", domid, cursor, watches, transactions };
      break;
    }
    default:
      throw new StateFormatError(`unknown journal entry ${type}`);
  }
  r.done();
  return e;
}

export interface Scan {
  readonly entries: JournalEntry[];
  /** Where the valid entries end (the next write goes here). */
  readonly end: number;
  /** Why the scan stopped before the end of the data: a torn or corrupt frame (null: a clean end). */
  readonly damage: string | null;
}

/** Read framed entries from `buf` at `start` until the zero-filled end, the data's end, or damage. */
export function scanEntries(buf: Buffer, start = 0): Scan {
  const entries: JournalEntry[] = [];
  let off = start;
  let damage: string | null = null;
  while (off + FRAME_HEADER <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len === 0) {
      // The zero fill (or a torn header): anything after it would be damage.
      if (buf.readUInt32LE(off + 4) !== 0) damage = `a torn frame at ${off}`;
      break;
    }
    if (off + FRAME_HEADER + len > buf.length) {
      damage = `a frame at ${off} runs past the end`;
      break;
    }
    const payload = buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len);
    if (crc32(buf, off + FRAME_HEADER, off + FRAME_HEADER + len) !== buf.readUInt32LE(off + 4)) {
      damage = `a frame at ${off} fails its checksum`;
      break;
    }
    try {
      entries.push(decodeEntry(payload));
    } catch (e) {
      damage = `a frame at ${off} does not decode: ${(e as Error).message}`;
      break;
    }
    off += FRAME_HEADER + len;
  }
  if (damage === null && off < buf.length && off + FRAME_HEADER > buf.length && buf.subarray(off).some((b) => b !== 0)) damage = `a torn frame at ${off}`;
  return { entries, end: off, damage };
}
