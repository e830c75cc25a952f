/**
 * How the inspector shows xenstore data in JSON. Values, tokens and paths
 * are bytes (kept as latin1 strings): valid UTF-8 is shown as a string,
 * anything else as `{ "base64": "..." }`. ACLs are shown as GET_PERMS
 * entries (`["n0", "r5"]`: owner 0, others none, domain 5 may read).
 */
import { isUtf8 } from "node:buffer";
import type { Effect } from "../store/store.js";
import { Perms } from "../store/perms.js";
import type { Bytes } from "./wire.js";

export function bytes(latin1: string): Bytes {
  // Plain ASCII (nearly every value) needs no conversion.
  if (/^[\x00-\x7f]*$/.test(latin1)) return latin1;
  const buf = Buffer.from(latin1, "latin1");
  return isUtf8(buf) ? buf.toString("utf8") : { base64: buf.toString("base64") };
}

/** An ACL key (Perms.key) in GET_PERMS form. */
export function permsOf(key: string): string[] {
  return Perms.fromKey(key)?.toStrings() ?? [key];
}

/** A commit's effect on state kept outside the tree, in a few words. */
export function effectText(e: Effect): string {
  switch (e.kind) {
    case "introduce":
      return `introduce domain ${e.domid}`;
    case "release":
      return `release domain ${e.domid}`;
    case "features":
      return `features of domain ${e.domid}: ${e.features}`;
    case "target":
      return `target of domain ${e.domid}: ${e.target}`;
    case "shutdown":
      return `domain ${e.domid} ${e.shutdown ? "shut down" : "resumed"}`;
    case "quota":
      return `quota ${e.level === "soft" ? "soft-" : ""}${e.name}${e.domid === null ? "" : ` of domain ${e.domid}`}: ${e.value}`;
  }
}
