/**
 * The request table (cx `wire_funcs`): which handler serves each message
 * type, whether it needs the control domain, whether it ignores the
 * transaction id, and whether the read-only socket may send it. Checks run
 * in cx's order: unknown type, privilege, transaction id, then the handler,
 * which gets the arguments already decoded.
 */
import { opName, XsError, type Packet } from "../protocol/messages.js";
import { Op } from "../protocol/messages.js";
import { decodeArgs, isRequestOp, type RequestArgs, type RequestOp } from "../protocol/requests.js";
import { DirectView } from "../transactions/view.js";
import type { Connection } from "./connection.js";
import { control } from "./ops/control.js";
import { getDomainPath, getFeature, introduce, isDomainIntroduced, release, resume, setFeature, setTarget } from "./ops/domains.js";
import { directory, directoryPart, getPerms, mkdir, read, rm, setPerms, write } from "./ops/nodes.js";
import { getQuota, setQuota } from "./ops/quota.js";
import { transactionEnd, transactionStart } from "./ops/transactions.js";
import { resetWatches, unwatch, watch } from "./ops/watches.js";
import type { Request } from "./request.js";
import type { Services } from "./services.js";

interface OpSpec<A> {
  readonly handler: (req: Request, args: A) => Buffer;
  /** Control domain only (cx XS_FLAG_PRIV). */
  readonly priv?: boolean;
  /** Transaction id ignored (cx XS_FLAG_NOTID). */
  readonly noTx?: boolean;
  /** Changes the store or domains: EACCES on the read-only socket. */
  readonly modifies?: boolean;
}

const TABLE: { readonly [K in RequestOp]: OpSpec<RequestArgs[K]> } = {
  [Op.CONTROL]: { handler: control, priv: true },
  [Op.DIRECTORY]: { handler: directory },
  [Op.READ]: { handler: read },
  [Op.GET_PERMS]: { handler: getPerms },
  [Op.WATCH]: { handler: watch, noTx: true },
  [Op.UNWATCH]: { handler: unwatch, noTx: true },
  [Op.TRANSACTION_START]: { handler: transactionStart },
  [Op.TRANSACTION_END]: { handler: transactionEnd },
  [Op.INTRODUCE]: { handler: introduce, priv: true, modifies: true },
  [Op.RELEASE]: { handler: release, priv: true, modifies: true },
  [Op.GET_DOMAIN_PATH]: { handler: getDomainPath },
  [Op.WRITE]: { handler: write, modifies: true },
  [Op.MKDIR]: { handler: mkdir, modifies: true },
  [Op.RM]: { handler: rm, modifies: true },
  [Op.SET_PERMS]: { handler: setPerms, modifies: true },
  [Op.IS_DOMAIN_INTRODUCED]: { handler: isDomainIntroduced, priv: true },
  [Op.RESUME]: { handler: resume, priv: true, modifies: true },
  [Op.SET_TARGET]: { handler: setTarget, priv: true, modifies: true },
  [Op.RESET_WATCHES]: { handler: resetWatches },
  [Op.DIRECTORY_PART]: { handler: directoryPart },
  [Op.GET_FEATURE]: { handler: getFeature },
  [Op.SET_FEATURE]: { handler: setFeature, priv: true, modifies: true },
  [Op.GET_QUOTA]: { handler: getQuota, priv: true },
  [Op.SET_QUOTA]: { handler: setQuota, priv: true, modifies: true },
};

/** A request with its arguments decoded (once: the pipeline and the handler share it). */
export type DecodedRequest = { readonly [K in RequestOp]: { readonly op: K; readonly args: RequestArgs[K] } }[RequestOp];

/** Decode a packet's arguments; null for a type no handler serves (ENOSYS). */
export function decode(packet: Packet): DecodedRequest | null {
  if (!isRequestOp(packet.type)) return null;
  const op: RequestOp = packet.type;
  return { op, args: decodeArgs(op, packet.payload) } as DecodedRequest;
}

/** Run one request; returns the reply payload or throws XsError. */
export function dispatch(svc: Services, conn: Connection, packet: Packet, decoded: DecodedRequest | null): Buffer {
  if (!decoded) throw new XsError("ENOSYS");
  return run(svc, conn, packet, decoded.op, decoded.args);
}

function run<K extends RequestOp>(svc: Services, conn: Connection, packet: Packet, op: K, args: RequestArgs[K]): Buffer {
  const spec: OpSpec<RequestArgs[K]> = TABLE[op];
  if (spec.modifies && conn.readonly) throw new XsError("EACCES");
  if (spec.priv && !conn.privileged) throw new XsError("EACCES");
  let tx = null;
  if (!spec.noTx && packet.txId !== 0) {
    tx = conn.transactions.get(packet.txId) ?? null;
    if (!tx) throw new XsError("ENOENT");
  }
  const principal = conn.principal;
  const direct = tx ? null : new DirectView(svc.store, principal);
  const meta = { domid: conn.domid, conn: conn.seq, op: opName(op), txId: packet.txId };
  const req: Request = { svc, conn, packet, view: tx ?? direct!, tx, principal, meta };
  const reply = spec.handler(req, args);
  direct?.finish(meta);
  return reply;
}
