/**
 * Committing a transaction (TRANSACTION_END "T"): check the node quota
 * with what its steps created (cx's order), validate what it relied
 * on, replay its write log onto the current root, re-check on that
 * candidate the size and node-quota checks its requests passed, then
 * install it as one revision. Nothing is installed unless every step
 * holds, so a refused commit leaves no trace.
 *
 * Worked example (two guests, one counter):
 *   A: start, READ /c = "1", WRITE /c "2"    relies on /c's value
 *   B: start, READ /c = "1", WRITE /c "2"    relies on /c's value
 *   A: commit → /c is still "1": replayed and installed (/c = "2")
 *   B: commit → /c is now "2", not the "1" it read: EAGAIN, /c is a hot
 *      node from now on (contention management makes the next readers of
 *      /c take turns).
 * Had B only written /c without reading it, it would have committed: a
 * blind write relies on nothing.
 */
import type { XsErrno } from "../protocol/messages.js";
import type { CommitMeta, CommitRecord, Store } from "../store/store.js";
import type { CommitEvent, Transaction } from "./transaction.js";

export interface CommitChecks {
  /** Would a node of `size` bytes break the committer's node-size quota? */
  nodeTooBig(size: number): boolean;
  /** Would `domid` owning `count` nodes break its node quota? (never for privileged domains) */
  tooManyNodes(domid: number, count: number): boolean;
}

export type CommitOutcome =
  | { readonly ok: true; readonly record: CommitRecord | null; readonly events: readonly CommitEvent[] }
  | {
      readonly ok: false;
      readonly errno: XsErrno;
      /** The node whose change failed it (contention management), if any. */
      readonly hotPath: string | null;
    };

export function commitTransaction(tx: Transaction, store: Store, checks: CommitChecks, meta: CommitMeta): CommitOutcome {
  // A step of the transaction failed in a way that left its overlay unusable (cx: ENOMEM).
  if (tx.failed) return { ok: false, errno: "ENOMEM", hotPath: null };
  // cx checks the node quota with the nodes the transaction's steps made,
  // against the domains' counts now, before it looks for conflicts: a
  // transaction both over quota and in conflict fails with ENOSPC.
  if (!tx.principal.privileged) {
    for (const [domid, delta] of tx.nodeDeltas) {
      if (delta > 0 && checks.tooManyNodes(domid, store.ownedBy(domid) + delta)) return { ok: false, errno: "ENOSPC", hotPath: null };
    }
  }
  const conflict = tx.conflict();
  if (conflict) return { ok: false, errno: "EAGAIN", hotPath: "path" in conflict ? conflict.path : null };
  const editor = tx.replay();
  if (!tx.principal.privileged) {
    // Size checks the transaction passed must hold for what is committed.
    if (tx.sizeConflict(editor, (size) => checks.nodeTooBig(size)) !== null) return { ok: false, errno: "EAGAIN", hotPath: null };
    // An unprivileged committer must keep every domain it adds nodes for
    // within its node quota (cx checks at commit; Xen 4.22 exempts
    // privileged committers, as quotas never bind dom0).
    for (const [domid, delta] of editor.ownerDeltas) {
      if (delta > 0 && checks.tooManyNodes(domid, store.ownedBy(domid) + delta)) return { ok: false, errno: "ENOSPC", hotPath: null };
    }
  }
  const record = store.commit({ editor }, meta);
  return { ok: true, record, events: tx.events() };
}
