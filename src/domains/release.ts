/**
 * A domain goes away (RELEASE, or its death): its connections are dropped
 * first so they see nothing of the cleanup, the nodes it owns are deleted
 * with their removal events (or handed to the control domain with -K), ACL
 * entries naming it stop matching (a successor reusing the domid must not
 * inherit them), its special-node entries go, and @releaseDomain fires.
 */
import type { Node } from "../store/node.js";
import { childPath } from "../store/path.js";
import { TreeEditor } from "../store/tree.js";
import type { Core } from "../server/core.js";
import { Match } from "../watches/registry.js";

export function releaseDomain(core: Core, domid: number): void {
  const { store } = core;
  for (const c of core.domainConnections(domid)) core.disconnect(c);
  const editor = new TreeEditor(store.root);
  // Usually the toolstack has removed the guest's nodes already; the
  // ownership and reference tallies then spare us walking the tree.
  const owns = store.ownedBy(domid) > 0;
  const named = store.referencing(domid) > 0;
  if (owns && core.keepOrphans) {
    editor.mapPerms((p) => (p.owner === domid ? p.withOwner(core.privDomid) : p));
  } else if (owns) {
    for (const path of topOwnedPaths(store.root, domid)) {
      for (const r of editor.remove(path) ?? []) {
        core.fire(r.path, r.path === path ? Match.Subtree : Match.Exact, { nodePerms: r.node.perms, parentPerms: r.parentPerms });
      }
    }
  }
  if (named) editor.mapPerms((p) => p.ignoring(domid));
  store.commit(editor);
  for (const [name, perms] of store.specials) store.specials.set(name, perms.withoutDomain(domid, core.privDomid));
  core.domains.remove(domid);
  core.quotas.forget(domid);
  core.fireSpecial("@releaseDomain", domid);
}

/** The top-most nodes owned by `domid`, in tree order (each goes with its subtree). */
function topOwnedPaths(root: Node, domid: number): string[] {
  const owned: string[] = [];
  const stack: [string, Node][] = [["/", root]];
  while (stack.length) {
    const [path, node] = stack.pop()!;
    if (node.perms.owner === domid && path !== "/") {
      owned.push(path);
      continue;
    }
    const kids = node.children ? node.children.nodes() : [];
    for (let i = kids.length - 1; i >= 0; i--) stack.push([childPath(path, kids[i]!.name), kids[i]!]);
  }
  return owned;
}
