/**
 * The daemon's durable state: binds the journal (src/durability) to the
 * running daemon. At start it loads the state directory (the newest
 * snapshot, then the journal after it, up to a torn tail) and re-attaches
 * the guests that were being served; from then on every commit is
 * journalled before it is installed (or refused with ENOSPC/EIO when the
 * disk will not take it), every change of a guest's watches or open
 * transactions is journalled, and no reply or event goes out before what
 * it follows is in the journal (mode `log`) or on the disk (mode `sync`).
 */
import { Journal, type DurabilityMode } from "../durability/journal.js";
import type { GuestEntry } from "../durability/entries.js";
import { prepareStateDir, readStateDir, stateDirError } from "../durability/recovery.js";
import { GuestStates, replay } from "../durability/replay.js";
import type { Capture } from "../durability/snapshot.js";
import { listingGeneration } from "../store/children.js";
import { RecordType, type StateRecord } from "../state/stream.js";
import { Transaction } from "../transactions/transaction.js";
import type { Connection } from "./connection.js";
import type { Xenstored } from "./xenstored.js";

export interface DurableOptions {
  readonly dir: string;
  readonly mode: DurabilityMode;
  /** A journal segment this large starts a snapshot (default 16 MiB). */
  readonly snapshotBytes?: number;
  readonly log: (line: string) => void;
  /** Writing the journal failed (a disk error): the daemon must stop acknowledging. */
  readonly onFatal?: (err: Error) => void;
}

/** What the start found and did. */
export interface Recovery {
  /** The state directory held a previous daemon's state. */
  readonly recovered: boolean;
  readonly revision: number;
  /** Commits replayed from the journal after the snapshot. */
  readonly replayed: number;
  /** Damage found (torn or corrupt tails, unreadable snapshots). */
  readonly damage: readonly string[];
  readonly ms: number;
}

/** Replaying more than this many commits at start is worth a snapshot at once. */
const SNAPSHOT_AFTER_REPLAY = 1000;

const EMPTY = Buffer.alloc(0);

export class DurableState {
  private readonly journal: Journal;
  private readonly guests = new GuestStates();
  /** Guests' connections whose watches or transactions changed since last journalled. */
  private readonly dirty = new Set<Connection>();
  private next = 0;
  private replayed = 0;

  private constructor(
    private readonly x: Xenstored,
    private readonly opts: DurableOptions,
  ) {
    this.journal = new Journal({
      dir: opts.dir,
      mode: opts.mode,
      snapshotBytes: opts.snapshotBytes ?? 16 * 1024 * 1024,
      log: opts.log,
      onFatal: opts.onFatal,
    });
  }

  /** Open the state directory for `x` (created if missing); throws an Error saying what is wrong with it. */
  static open(x: Xenstored, opts: DurableOptions): DurableState {
    prepareStateDir(opts.dir);
    return new DurableState(x, opts);
  }

  /** Load what the state directory holds into the daemon (nothing is served yet). */
  recover(): Recovery {
    const t0 = performance.now();
    const files = readStateDir(this.opts.dir);
    this.next = files.next;
    const recovered = files.snapshot !== null || files.replay.length > 0;
    if (files.snapshot) {
      const durable = files.snapshot.filter((r) => r.type !== RecordType.Connection && r.type !== RecordType.Watch && r.type !== RecordType.Transaction);
      this.x.restoreRecords(durable, () => null);
      for (const g of guestsOf(files.snapshot)) this.guests.set(g);
    }
    const outcome = replay(this.x.store, this.guests, files.replay);
    this.replayed = outcome.commits;
    const damage = [...files.damage];
    if (outcome.stopped) {
      damage.push(`the journal could not be replayed past revision ${this.x.store.revision}: ${outcome.stopped}`);
    }
    return { recovered, revision: this.x.store.revision, replayed: this.replayed, damage, ms: performance.now() - t0 };
  }

  /** The recovered state of dom0's own ring connection, if there was one (serve its ring resumed). */
  get localRingRecovered(): boolean {
    return this.guests.get(this.x.domains.masterDomid) !== undefined;
  }

  /**
   * Serve again the rings of the recovered guests (dom0's is attached by
   * the caller) and give their connections back their watches (each fires
   * once, as after a resume, so a guest re-reads what it watches) and open
   * transactions (doomed: committing one answers EAGAIN, as for any
   * conflict). Guests that died meanwhile are released.
   */
  reattachGuests(): void {
    const { x } = this;
    x.lifecycle.reattachAll();
    for (const g of this.guests.all()) {
      const conn = x.connections.ofDomain(g.domid)[0];
      if (!conn) continue;
      conn.transactionCursor = g.cursor;
      for (const w of g.watches) {
        x.watches.add({ owner: conn, path: w.path, token: w.token, prefixLength: w.prefixLength, depth: w.depth });
        x.events.raise(conn, w.path.slice(w.prefixLength), w.token);
      }
      const principal = conn.principal;
      const maxNodes = principal.privileged ? 0 : x.quotas.limit("transaction-nodes", conn.domid);
      for (const id of g.transactions) {
        const tx = new Transaction(id, x.store, principal, { maxNodes });
        tx.doomed = true;
        x.connections.startTransaction(conn, tx);
      }
    }
    // Domains that died while no daemon watched: released now.
    x.lifecycle.checkDomains();
    x.pipeline.settle();
  }

  /** Start journalling (after `recover` and re-attaching). */
  async start(): Promise<void> {
    const { x } = this;
    x.store.guardCommits((record) => {
      // A client's change is refused when the disk will not take it; the
      // daemon's own and domain changes (already under way) are journalled
      // as well as the disk allows.
      this.journal.prepareCommit(record, record.conn !== 0 && record.effects.length === 0);
    });
    x.store.onCommit((record) => {
      for (const e of record.effects) if (e.kind === "release") this.guests.forget(e.domid);
    });
    const track = (c: Connection): void => {
      if (c.kind === "domain") this.dirty.add(c);
    };
    x.watches.onChange(track);
    x.connections.onTransactionChange(track);
    x.connections.onClose(track);
    x.connections.gate = {
      release: (then) => {
        this.journalGuests();
        return this.journal.release(then);
      },
    };
    // Connections opened before (re-attached guests, dom0's ring) get the gate too.
    for (const c of x.connections) c.setGate(x.connections.gate);
    for (const c of x.connections) track(c);
    try {
      await this.journal.start(this.next, () => this.capture(), this.replayed >= SNAPSHOT_AFTER_REPLAY || this.next === 1);
    } catch (e) {
      throw stateDirError(this.opts.dir, e);
    }
  }

  /** Write the guests' changed connection states into the journal. */
  private journalGuests(): void {
    if (this.dirty.size === 0) return;
    for (const c of this.dirty) {
      const entry: GuestEntry = c.closed
        ? { type: "guest", domid: c.domid, cursor: 1, watches: [], transactions: [] }
        : {
            type: "guest",
            domid: c.domid,
            cursor: c.transactionCursor,
            watches: this.x.watches.ofOwner(c).map((w) => ({ path: w.path, token: w.token, prefixLength: w.prefixLength, depth: w.depth })),
            transactions: [...c.transactions.keys()],
          };
      this.guests.set(entry);
      this.journal.append(entry);
    }
    this.dirty.clear();
  }

  /** The state to snapshot, as it is now. */
  private capture(): Capture {
    const { x } = this;
    this.journalGuests();
    const records: StateRecord[] = [
      { type: RecordType.Global, revision: x.store.revision, listingGeneration: listingGeneration(), nextConnection: x.connections.next },
      ...x.quotas.dump(),
      ...x.domains.dump(),
    ];
    // Guests' connection states, as connection, watch and transaction records (one pseudo-connection per domain).
    for (const g of this.guests.all()) {
      const seq = g.domid + 1;
      records.push({ type: RecordType.Connection, seq, kind: "domain", domid: g.domid, readonly: false, transactionCursor: g.cursor, input: EMPTY, outputHead: EMPTY, output: EMPTY });
      for (const w of g.watches) records.push({ type: RecordType.Watch, conn: seq, ...w });
      for (const id of g.transactions) records.push({ type: RecordType.Transaction, conn: seq, id });
    }
    return { head: x.store.head, records };
  }

  /** Shutting down: write and sync what is pending. */
  close(): void {
    this.journalGuests();
    this.journal.close();
  }
}

/** Guests' connection states held by a snapshot. */
function guestsOf(records: readonly StateRecord[]): GuestEntry[] {
  const out = new Map<number, { domid: number; cursor: number; watches: GuestEntry["watches"][number][]; transactions: number[] }>();
  for (const r of records) {
    if (r.type === RecordType.Connection && r.kind === "domain") out.set(r.seq, { domid: r.domid, cursor: r.transactionCursor, watches: [], transactions: [] });
    else if (r.type === RecordType.Watch) out.get(r.conn)?.watches.push({ path: r.path, token: r.token, prefixLength: r.prefixLength, depth: r.depth });
    else if (r.type === RecordType.Transaction) out.get(r.conn)?.transactions.push(r.id);
  }
  return [...out.values()].map((g) => ({ type: "guest", ...g }));
}
