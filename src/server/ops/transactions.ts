/** TRANSACTION_START and TRANSACTION_END. */
import { oneArg } from "../../protocol/payload.js";
import { Transaction } from "../../transactions/transaction.js";
import { Match } from "../../watches/registry.js";
import { fail, ok, str, type Request } from "../request.js";

export function transactionStart(req: Request): Buffer {
  const { core, conn, principal } = req;
  // Sent with a live transaction id: transactions do not nest.
  if (req.tx) fail("EBUSY");
  if (!principal.privileged && core.quotas.reached("transactions", conn.domid, conn.transactions.size)) fail("ENOSPC");
  const id = conn.allocateTransactionId();
  const maxNodes = principal.privileged ? 0 : core.quotas.limit("transaction-nodes", conn.domid);
  conn.transactions.set(id, new Transaction(id, core.store, principal, { maxNodes }));
  return str(String(id));
}

export function transactionEnd(req: Request): Buffer {
  const { core, conn } = req;
  const arg = oneArg(req.payload);
  if (arg !== "T" && arg !== "F") fail("EINVAL");
  const tx = req.tx;
  if (!tx) fail("ENOENT");
  core.endTransactions(conn, tx);
  if (arg === "F") return ok();
  if (tx.failed) fail("ENOMEM");
  const conflict = tx.conflicts();
  if (conflict !== null) {
    core.stats.conflicts++;
    core.contention.conflicted(conflict);
    fail("EAGAIN");
  }
  const editor = tx.replay();
  // Size checks the transaction passed must hold for what is committed.
  if (!tx.principal.privileged && tx.sizeConflict(editor, (size) => core.quotas.reached("node-size", conn.domid, size)) !== null) {
    core.stats.conflicts++;
    fail("EAGAIN");
  }
  // An unprivileged committer's transaction must keep every domain it adds
  // nodes for within its node quota (cx checks at commit; Xen 4.22 exempts
  // privileged committers, as quotas never bind dom0).
  if (!tx.principal.privileged) {
    for (const [domid, delta] of editor.ownerDeltas) {
      if (delta > 0 && !core.isPrivilegedDomid(domid) && core.quotas.reached("nodes", domid, core.store.ownedBy(domid) + delta)) {
        fail("ENOSPC");
      }
    }
  }
  core.store.commit(editor);
  core.stats.commits++;
  for (const ev of tx.events()) {
    core.fire(ev.path, ev.exact ? Match.Exact : Match.Subtree, core.committedAccess(ev.path, ev.oldPerms));
  }
  return ok();
}
