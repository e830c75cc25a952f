/**
 * Replaying journal entries into a store at start: each commit entry is
 * one commit again (same revision, time and author, so listeners such as
 * the history see it as it happened), and the guests' connection states
 * are gathered for re-attaching their rings.
 */
import { Perms } from "../store/perms.js";
import type { Store } from "../store/store.js";
import { TreeEditor } from "../store/tree.js";
import type { CommitEntry, GuestEntry, JournalEntry } from "./entries.js";

/** Replayed edits create nodes as the daemon itself (the recorded ACL is set right after). */
const REPLAYER = { domid: 0, privileged: true, target: null } as const;

export class ReplayError extends Error {
  override name = "ReplayError";
}

function perms(acl: string): Perms {
  const p = Perms.fromKey(acl);
  if (!p) throw new ReplayError(`bad ACL "${acl}"`);
  return p;
}

/**
 * Commit `e` again on `store`. The edits are made in their recorded order
 * (so directory listings keep their order), each leaving its path in the
 * state it had once the whole commit was done. Throws ReplayError if the
 * entry does not follow the store's revision.
 */
export function replayCommit(store: Store, e: CommitEntry): void {
  if (e.revision !== store.revision + 1) throw new ReplayError(`revision ${e.revision} after ${store.revision}`);
  const editor = new TreeEditor(store.root);
  for (const edit of e.edits) {
    const here = editor.get(edit.path);
    if (edit.kind === "removed") {
      if (here) editor.remove(edit.path);
      continue;
    }
    const after = edit.after;
    if (!here) {
      if (edit.kind !== "created") throw new ReplayError(`r${e.revision}: ${edit.kind} of missing ${edit.path}`);
      if (editor.get(parentPathOf(edit.path)) === undefined) throw new ReplayError(`r${e.revision}: ${edit.path} created without its parent`);
      editor.write(edit.path, after?.value ?? "", REPLAYER);
    } else if (after) {
      editor.write(edit.path, after.value, REPLAYER);
    }
    // An edit whose path is gone by the end of the commit is undone by a later removal.
    if (after) editor.setPerms(edit.path, perms(after.acl));
  }
  const specials = e.specials ? new Map(e.specials.map(([name, acl]) => [name, perms(acl)] as const)) : undefined;
  const record = store.commit(
    { editor, specials, effects: e.effects },
    { domid: e.domid, conn: e.conn, op: e.op, txId: e.txId, time: e.time },
  );
  // A commit recorded is never empty; an empty replay would shift every later revision.
  if (!record) throw new ReplayError(`r${e.revision} changes nothing`);
}

function parentPathOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** Guests' connection states: the last recorded per domain; a released domain has none. */
export class GuestStates {
  private readonly byDomid = new Map<number, GuestEntry>();

  set(e: GuestEntry): void {
    this.byDomid.set(e.domid, e);
  }

  forget(domid: number): void {
    this.byDomid.delete(domid);
  }

  get(domid: number): GuestEntry | undefined {
    return this.byDomid.get(domid);
  }

  all(): IterableIterator<GuestEntry> {
    return this.byDomid.values();
  }
}

/** What a replay did. */
export interface ReplayOutcome {
  readonly commits: number;
  /** Why it stopped early (the rest was not applied), or null. */
  readonly stopped: string | null;
}

/**
 * Replay `entries` (in journal order) into `store` and `guests`. Commits
 * the store already has (at or below its revision) are skipped; the first
 * that cannot be applied stops the replay.
 */
export function replay(store: Store, guests: GuestStates, entries: readonly JournalEntry[]): ReplayOutcome {
  let commits = 0;
  for (const e of entries) {
    if (e.type === "guest") {
      guests.set(e);
      continue;
    }
    if (e.revision <= store.revision) continue;
    try {
      replayCommit(store, e);
    } catch (err) {
      if (!(err instanceof ReplayError)) throw err;
      return { commits, stopped: err.message };
    }
    commits++;
    for (const x of e.effects) if (x.kind === "release") guests.forget(x.domid);
  }
  return { commits, stopped: null };
}
