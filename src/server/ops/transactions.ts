/** TRANSACTION_START and TRANSACTION_END. */
import type { NoArgs, OneArg } from "../../protocol/requests.js";
import { commitTransaction } from "../../transactions/commit.js";
import { Transaction } from "../../transactions/transaction.js";
import { Match } from "../../watches/registry.js";
import { fail, ok, quotaHit, quotaReached, str, type Request } from "../request.js";

export function transactionStart(req: Request, _args: NoArgs): Buffer {
  const { svc, conn, principal } = req;
  // Sent with a live transaction id: transactions do not nest.
  if (req.tx) fail("EBUSY");
  if (quotaReached(req, "transactions", conn.transactions.size)) fail("ENOSPC");
  const id = conn.allocateTransactionId();
  const maxNodes = principal.privileged ? 0 : svc.quotas.limit("transaction-nodes", conn.domid);
  svc.connections.startTransaction(conn, new Transaction(id, svc.store, principal, { maxNodes }));
  return str(String(id));
}

export function transactionEnd(req: Request, arg: OneArg): Buffer {
  const { svc, conn } = req;
  if (arg !== "T" && arg !== "F") fail("EINVAL");
  const tx = req.tx;
  if (!tx) fail("ENOENT");
  svc.connections.endTransactions(conn, tx);
  if (arg === "F") return ok();
  const { quotas, domains, store } = svc;
  const outcome = commitTransaction(
    tx,
    store,
    {
      nodeTooBig: (size) => {
        const hit = quotas.reached("node-size", conn.domid, size);
        if (hit) quotaHit(req, "node-size", conn.domid);
        return hit;
      },
      tooManyNodes: (domid, count) => {
        const hit = !domains.isPrivileged(domid) && quotas.reached("nodes", domid, count);
        if (hit) quotaHit(req, "nodes", domid);
        return hit;
      },
    },
    req.meta,
  );
  if (!outcome.ok) {
    if (outcome.errno === "EAGAIN") {
      svc.stats.conflicts++;
      svc.stats.conflictsByDomain.set(conn.domid, (svc.stats.conflictsByDomain.get(conn.domid) ?? 0) + 1);
    }
    if (outcome.hotPath !== null) svc.contention.conflicted(outcome.hotPath);
    fail(outcome.errno);
  }
  for (const ev of outcome.events) {
    svc.events.fire(ev.path, ev.exact ? Match.Exact : Match.Subtree, svc.events.committedAccess(ev.path, ev.oldPerms));
  }
  return ok();
}
