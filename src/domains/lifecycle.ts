/**
 * A domain's life as xenstored sees it: INTRODUCE makes it known (and
 * resets its connection), RELEASE or its death makes it go. Going away:
 * its connections are dropped first so they see nothing of the cleanup,
 * the nodes it owns are deleted with their removal events (or handed to
 * the control domain with -K), ACL entries naming it stop matching (a
 * successor reusing the domid must not inherit them), its special-node
 * entries go, and @releaseDomain fires. Each of these is one commit.
 */
import { XsError } from "../protocol/messages.js";
import type { Node } from "../store/node.js";
import type { Perms } from "../store/perms.js";
import type { CommitMeta, Store } from "../store/store.js";
import { TreeEditor } from "../store/tree.js";
import { walkTree } from "../store/walk.js";
import type { Watcher, WatchEvents } from "../watches/events.js";
import type { DomainRegistry } from "./domains.js";

/** What the lifecycle needs from the connection layer. */
export interface DomainConnections {
  /** Drop every connection of the domain (release, death). */
  close(domid: number): void;
  /** Forget the domain's watches, transactions and queued output (INTRODUCE). */
  reset(domid: number): void;
}

export interface LifecycleOptions {
  /** cx -K: hand nodes of dead domains to the control domain instead of deleting them. */
  keepOrphans?: boolean;
}

export class DomainLifecycle {
  private readonly keepOrphans: boolean;

  constructor(
    private readonly store: Store,
    private readonly domains: DomainRegistry,
    private readonly events: WatchEvents<Watcher>,
    private readonly connections: DomainConnections,
    opts: LifecycleOptions = {},
  ) {
    this.keepOrphans = opts.keepOrphans ?? false;
  }

  /** INTRODUCE: a new domain, or a known one re-binding its event channel (libxl on resume). */
  introduce(domid: number, mfn: string, port: number, meta: CommitMeta): void {
    const known = this.domains.introduced(domid);
    // Without a ring to map, a domain the hypervisor does not know cannot be introduced.
    if (!known && !this.domains.hypervisor.domainExists(domid)) throw new XsError("EINVAL");
    if (!known || known.port !== port) this.store.commit({ effects: [{ kind: "introduce", domid, mfn, port }] }, meta);
    this.connections.reset(domid);
    if (!known && domid !== this.domains.masterDomid) this.events.fireSpecial("@introduceDomain", domid);
  }

  /** RELEASE, or the domain died. */
  release(domid: number, meta: CommitMeta): void {
    const { store, domains } = this;
    const heir = domains.privDomid;
    this.connections.close(domid);
    const editor = new TreeEditor(store.root);
    // Usually the toolstack has removed the guest's nodes already; the
    // ownership and reference tallies then spare us walking the tree.
    const owns = store.ownedBy(domid) > 0;
    if (owns && this.keepOrphans) {
      editor.mapPerms((p) => (p.owner === domid ? p.withOwner(heir) : p));
    } else if (owns) {
      for (const path of topOwnedPaths(store.root, domid)) {
        for (const r of editor.remove(path) ?? []) this.events.fireRemoved(r.path, r.path === path, r.node.perms, r.parentPerms);
      }
    }
    if (store.referencing(domid) > 0) editor.mapPerms((p) => p.ignoring(domid));
    const specials = new Map<string, Perms>();
    for (const [name, perms] of store.specials) specials.set(name, perms.withoutDomain(domid, heir));
    store.commit({ editor, specials, effects: [{ kind: "release", domid }] }, meta);
    this.events.fireSpecial("@releaseDomain", domid);
  }
}

/** The top-most nodes owned by `domid`, in tree order (each goes with its subtree). */
function topOwnedPaths(root: Node, domid: number): string[] {
  const owned: string[] = [];
  walkTree("/", root, {
    enter(path, node) {
      if (node.perms.owner !== domid || path === "/") return true;
      owned.push(path);
      return false;
    },
  });
  return owned;
}
