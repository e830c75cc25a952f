/**
 * Watch events: which watches a change fires (cx `fire_watches`), whether
 * each watcher may learn of it (cx `watch_permitted`, the XSA-115 filter),
 * and the queue of events a request raised, which go out after its reply.
 */
import { PAYLOAD_MAX } from "../protocol/messages.js";
import { isSpecial, parentOf } from "../store/path.js";
import { PERM_READ, permFor, type Perms, type Principal } from "../store/perms.js";
import type { Store } from "../store/store.js";
import { Match, WatchRegistry, type WatchOwner } from "./registry.js";

/** Who may read an event's node: cx `watch_permitted` inputs. */
export interface EventAccess {
  /** ACL before the change (SET_PERMS, transaction first access). */
  readonly oldPerms?: Perms | undefined;
  /** ACL of the node (absent: the node is gone and had no old ACL). */
  readonly nodePerms?: Perms | undefined;
  readonly parentPerms?: Perms | undefined;
}

/** A watcher: delivery order and the identity the permission filter checks. */
export interface Watcher extends WatchOwner {
  readonly principal: Principal;
}

/** An event raised for one watcher, waiting for the reply of the request that caused it. */
export interface RaisedEvent<C> {
  readonly owner: C;
  /** `path\0token`. */
  readonly key: string;
  /** Special `@` events are never coalesced. */
  readonly special: boolean;
}

export class WatchEvents<C extends Watcher> {
  private readonly raised: RaisedEvent<C>[] = [];
  // Method-style (bivariant), as WatchRegistry's change listeners.
  private readonly deliveryListeners: { call(owner: C, key: string): void }["call"][] = [];

  constructor(
    readonly watches: WatchRegistry<C>,
    private readonly store: Store,
  ) {}

  /** Queue an event for one watch (the initial event of WATCH, and every match of `fire`). */
  raise(owner: C, eventPath: string, token: string): void {
    // cx drops events that would not fit in a packet (XSA-324).
    if (eventPath.length + token.length + 2 > PAYLOAD_MAX) return;
    this.raised.push({ owner, key: `${eventPath}\0${token}`, special: eventPath.startsWith("@") });
  }

  /** A node changed: raise events for every matching watch whose owner may know. */
  fire(path: string, match: Match, access: EventAccess): void {
    const matches = this.watches.matching(path, match);
    if (matches.length === 0) return;
    let lastOwner: C | null = null;
    let allowed = false;
    for (const w of matches) {
      if (w.owner !== lastOwner) {
        lastOwner = w.owner;
        allowed = mayWatch(w.owner.principal, access);
      }
      if (allowed) this.raise(w.owner, path.slice(w.prefixLength), w.token);
    }
  }

  /** A node was removed (directly or with an ancestor): cx `delnode_sub`'s events. */
  fireRemoved(path: string, removedRoot: boolean, nodePerms: Perms, parentPerms: Perms): void {
    this.fire(path, removedRoot ? Match.Subtree : Match.Exact, { nodePerms, parentPerms });
  }

  /**
   * Fire a special watch: the plain name for watches without depth, and
   * `<name>/<domid>` for depth watches (Xen 4.22 semantics).
   */
  fireSpecial(name: string, domid: number | null): void {
    const access = this.specialAccess(name);
    this.fire(name, Match.NoDepth, access);
    if (domid !== null) this.fire(`${name}/${domid}`, Match.Depth, access);
  }

  /** Perms for the permission check of an event on a special path. */
  private specialAccess(path: string): EventAccess {
    const base = path.split("/")[0]!;
    return { nodePerms: this.store.specials.get(base), parentPerms: this.store.root.perms };
  }

  /** Event access for a node as it is now in the committed tree. */
  committedAccess(path: string, oldPerms?: Perms): EventAccess {
    const node = isSpecial(path) ? undefined : this.store.get(path);
    const parent = node ? this.store.get(parentOf(path)) : undefined;
    return { oldPerms, nodePerms: node?.perms, parentPerms: parent?.perms };
  }

  /** Are there raised events to deliver? */
  get pending(): boolean {
    return this.raised.length > 0;
  }

  /** Take the events raised so far (the caller delivers them). */
  take(): RaisedEvent<C>[] {
    return this.raised.splice(0, this.raised.length);
  }

  /** Be told of each event queued to its watcher (the inspector's live feed); `key` is `path\0token`. */
  onDelivered(listener: (owner: C, key: string) => void): void {
    this.deliveryListeners.push(listener);
  }

  /** An event was queued to its watcher (called by whoever delivers them). */
  delivered(owner: C, key: string): void {
    for (const l of this.deliveryListeners) l(owner, key);
  }

  /** A request failed: what it raised never happened. */
  discard(): void {
    this.raised.length = 0;
  }
}

/** cx `watch_permitted`: the old ACL, else the node's, else (node gone) its parent's. */
function mayWatch(who: Principal, a: EventAccess): boolean {
  if (a.oldPerms && permFor(who, a.oldPerms) & PERM_READ) return true;
  if (!a.nodePerms) return false;
  if (permFor(who, a.nodePerms) & PERM_READ) return true;
  if (!a.parentPerms) return false;
  return (permFor(who, a.parentPerms) & PERM_READ) !== 0;
}
