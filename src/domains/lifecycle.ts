/**
 * A domain's life as xenstored sees it: INTRODUCE makes it known (its ring
 * mapped and served, its connection reset), a shutdown fires
 * @releaseDomain once, RELEASE or its death makes it go. Going away:
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
import { Notices } from "../util/notices.js";
import type { Watcher, WatchEvents } from "../watches/events.js";
import type { DomainRegistry } from "./domains.js";
import type { GuestRings } from "./rings.js";

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
  /** The domains' rings, where there are any (Xen or the emulated host). */
  rings?: GuestRings | null;
  log?: (line: string) => void;
  /** Domains introduced, shut down and released are reported here. */
  notices?: Notices;
}

/** Commits the daemon makes itself when a domain dies. */
const DEATH = (domid: number): CommitMeta => ({ domid, conn: 0, op: "domain-death", txId: 0 });

export class DomainLifecycle {
  private readonly keepOrphans: boolean;
  readonly rings: GuestRings | null;
  private readonly log: (line: string) => void;
  private readonly notices: Notices;

  constructor(
    private readonly store: Store,
    private readonly domains: DomainRegistry,
    private readonly events: WatchEvents<Watcher>,
    private readonly connections: DomainConnections,
    opts: LifecycleOptions = {},
  ) {
    this.keepOrphans = opts.keepOrphans ?? false;
    this.rings = opts.rings ?? null;
    this.log = opts.log ?? (() => {});
    this.notices = opts.notices ?? new Notices();
  }

  /** Serve the host's own domain's ring (dom0's kernel, cx dom0_init); `resume` after a restart. */
  attachLocal(resume = false): Error | null {
    const { rings, domains } = this;
    if (!rings) return null;
    const d = domains.get(domains.masterDomid)!;
    return rings.attachLocal(d.domid, d.features, resume);
  }

  /**
   * After a restart: serve again the ring of every introduced guest the
   * recovered state knows, as the previous daemon left it. A guest whose
   * ring can no longer be served (it died meanwhile) is released. Returns
   * the domains re-attached.
   */
  reattachAll(): number[] {
    const { rings, domains } = this;
    if (!rings) return [];
    const done: number[] = [];
    for (const d of [...domains.all()]) {
      if (!d.introduced || d.domid === domains.masterDomid || rings.has(d.domid)) continue;
      const failed = rings.attach(d.domid, d.mfn, d.port, d.features, true);
      if (failed) {
        this.log(`domain ${d.domid}: its ring cannot be served again (${failed.message}): released`);
        this.release(d.domid, DEATH(d.domid), "unrecoverable");
      } else done.push(d.domid);
    }
    return done;
  }

  /** INTRODUCE: a new domain, or a known one re-binding its event channel (libxl on resume). */
  introduce(domid: number, mfn: string, port: number, meta: CommitMeta): void {
    const { domains, rings } = this;
    const known = domains.introduced(domid);
    const knownPort = known?.port;
    if (!known && !domains.hypervisor.domainExists(domid)) throw new XsError("EINVAL");
    // cx domain_conn_reset: the domain starts afresh (a new ring starts empty).
    const rebind = rings?.has(domid) ?? false;
    if (rings) {
      const features = domains.findOrCreate(domid)!.features;
      const failed = rebind ? rings.rebind(domid, port) : rings.attach(domid, mfn, port, features);
      if (failed) {
        this.log(`INTRODUCE of domain ${domid}: ${failed.message}`);
        throw new XsError("EINVAL");
      }
    }
    if (!known || known.port !== port) this.store.commit({ effects: [{ kind: "introduce", domid, mfn, port }] }, meta);
    if (rebind) rings!.reset(domid);
    else if (!rings) this.connections.reset(domid);
    if (!known && domid !== domains.masterDomid) this.events.fireSpecial("@introduceDomain", domid);
    if (!known) this.notices.emit("info", "domain-introduced", { domid, mfn, port, conn: meta.conn });
    else if (knownPort !== port) this.notices.emit("info", "domain-rebound", { domid, port, conn: meta.conn });
  }

  /**
   * Domains changed state (VIRQ_DOM_EXC; cx `check_domains`): a shut down
   * or crashed one fires @releaseDomain, once per shutdown; a dying or
   * vanished one is released.
   */
  checkDomains(): void {
    const { domains } = this;
    for (const d of [...domains.all()]) {
      if (!d.introduced || d.domid === domains.masterDomid) continue;
      const state = domains.hypervisor.domainState(d.domid);
      if (state === null || state.dying) {
        this.log(`domain ${d.domid} ${state ? "is dying" : "is gone"}: released`);
        this.release(d.domid, DEATH(d.domid), state ? "dying" : "gone");
      } else if (state.shutdown && !d.shutdown) {
        this.store.commit({ effects: [{ kind: "shutdown", domid: d.domid, shutdown: true }] }, DEATH(d.domid));
        this.notices.emit("info", "domain-shutdown", { domid: d.domid });
        this.events.fireSpecial("@releaseDomain", d.domid);
      }
    }
  }

  /** RELEASE (`why` "release"), or the domain died ("dying", "gone"), or could not be served again after a restart. */
  release(domid: number, meta: CommitMeta, why = "release"): void {
    const { store, domains } = this;
    const heir = domains.privDomid;
    this.connections.close(domid);
    this.rings?.destroy(domid);
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
    // The nodes it owned (removed, or handed to the control domain with -K).
    const nodes = store.ownedBy(domid);
    store.commit({ editor, specials, effects: [{ kind: "release", domid }] }, meta);
    this.events.fireSpecial("@releaseDomain", domid);
    this.notices.emit("info", "domain-released", { domid, reason: why, nodes, conn: meta.conn });
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
