/**
 * Snapshots: the whole durable state at one instant, as a state stream
 * (src/state/stream.ts). Capturing is O(1) for the tree (its root is
 * immutable) and cheap for the rest; writing walks the captured tree in
 * slices between other work, to `snapshot.N.tmp`, then fsync and rename to
 * `snapshot.N`, so a snapshot file is either complete or absent.
 * `snapshot.N` holds the state as it was when journal segment N began.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { RecordType, StateEncoder, decodeState, type StateRecord } from "../state/stream.js";
import type { Node } from "../store/node.js";
import type { Revision } from "../store/store.js";

/** What a snapshot holds besides the tree: records captured at the same instant. */
export interface Capture {
  readonly head: Revision;
  /** Global, quota, domain and guest-connection (connection, watch, transaction) records. */
  readonly records: readonly StateRecord[];
}

/** The state stream's records for a capture: the others, then the tree parents first, then the specials. */
export function* captureRecords(c: Capture): Generator<StateRecord> {
  for (const r of c.records) if (r.type === RecordType.Global) yield r;
  for (const r of c.records) if (r.type === RecordType.Quota || r.type === RecordType.Domain) yield r;
  yield* treeRecords(c.head.root);
  for (const [name, perms] of c.head.specials) yield { type: RecordType.Special, name, acl: perms.key };
  for (const r of c.records) if (r.type === RecordType.Connection || r.type === RecordType.Watch || r.type === RecordType.Transaction) yield r;
}

/** Node records, depth first in listing order (as Store.dump), without recursion. */
function* treeRecords(root: Node): Generator<StateRecord> {
  yield { type: RecordType.Node, path: "/", value: root.value, acl: root.perms.key };
  const stack: { path: string; kids: Node[]; i: number }[] = [{ path: "", kids: root.children?.nodes() ?? [], i: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.kids.length) {
      stack.pop();
      continue;
    }
    const kid = top.kids[top.i++]!;
    const path = `${top.path}/${kid.name}`;
    yield { type: RecordType.Node, path, value: kid.value, acl: kid.perms.key };
    if (kid.children) stack.push({ path, kids: kid.children.nodes(), i: 0 });
  }
}

/** Records encoded per slice before yielding to other work. */
const SLICE = 20000;

/**
 * Write `capture` to `path` (via `path.tmp`), a slice at a time with
 * `yieldTo` between slices; resolves once the file is durable and in place.
 */
export async function writeSnapshot(path: string, capture: Capture, yieldTo: () => Promise<void>): Promise<number> {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  let bytes = 0;
  try {
    const enc = new StateEncoder();
    const out = (b: Buffer): void => {
      let off = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
      bytes += b.length;
    };
    let n = 0;
    for (const r of captureRecords(capture)) {
      enc.add(r);
      if (++n % SLICE === 0) {
        out(enc.take());
        await yieldTo();
      }
    }
    out(enc.finish());
    fsyncSync(fd);
  } catch (e) {
    // A snapshot that could not be written (a full disk) must not keep the space it took.
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // gone already
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  return bytes;
}

/** A snapshot's records (StateFormatError if it is damaged). */
export function readSnapshot(path: string): StateRecord[] {
  return decodeState(readFileSync(path));
}
