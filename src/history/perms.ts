/** ACLs as the history shows them. */
import { Perms } from "../store/perms.js";

/** An ACL key (Perms.key, e.g. "n0,r5") in GET_PERMS form, one string per entry (["n0", "r5"]). */
export function permStrings(acl: string): string[] {
  return Perms.fromKey(acl)?.toStrings() ?? [acl];
}
