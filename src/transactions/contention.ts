/**
 * Contention management for hot nodes. When transactions keep failing on
 * the same node (many clients doing read-modify-write on one counter, or a
 * hostile guest hammering a node others update), optimistic retries waste
 * most of the daemon's work: every commit dooms all the other transactions
 * that read the node, and they start over.
 *
 * So a node that recently caused an EAGAIN becomes "hot" for a while. A
 * transaction about to read a hot node that another open transaction has
 * already read waits (its connection is not served) until that
 * transaction ends, then reads the fresh value: contending transactions
 * take turns instead of failing each other. The wait is bounded, so a
 * client that never ends its transaction delays others by at most
 * `maxWaitMs` per read; replies keep their order, only their timing
 * changes, which the protocol allows.
 */
export interface ContentionOptions {
  /** How long a node stays hot after its last conflict. */
  hotMs: number;
  /** Longest a reader waits for the current holder. */
  maxWaitMs: number;
}

export class ContentionManager<T extends object, C> {
  private readonly hot = new Map<string, number>();
  /** Hot node → the open transaction that read it first. */
  private readonly holders = new Map<string, T>();
  /** Paths each holder holds, to release them when it ends. */
  private readonly held = new Map<T, string[]>();
  private readonly waiters = new Map<string, { client: C; timer: NodeJS.Timeout }[]>();
  /** Clients woken by a timeout: their next read goes ahead regardless. */
  private readonly passes = new Set<C>();
  /** Transactions that had to wait (for statistics). */
  waits = 0;

  constructor(
    private readonly wake: (client: C) => void,
    private readonly opts: ContentionOptions = { hotMs: 1000, maxWaitMs: 10 },
    private readonly now: () => number = Date.now,
  ) {}

  /** A commit failed because of `path`. */
  conflicted(path: string): void {
    this.hot.set(path, this.now() + this.opts.hotMs);
  }

  private isHot(path: string): boolean {
    const until = this.hot.get(path);
    if (until === undefined) return false;
    if (until < this.now()) {
      this.hot.delete(path);
      return false;
    }
    return true;
  }

  /**
   * `tx` (of `client`) is about to read `path` for the first time: true
   * means wait; the client is woken when the holder ends or time is up.
   */
  mustWait(client: C, tx: T, path: string): boolean {
    if (this.passes.delete(client) || !this.isHot(path)) return false;
    const holder = this.holders.get(path);
    if (!holder) {
      this.holders.set(path, tx);
      const list = this.held.get(tx);
      if (list) list.push(path);
      else this.held.set(tx, [path]);
      return false;
    }
    if (holder === tx) return false;
    this.waits++;
    const timer = setTimeout(() => {
      this.unqueue(path, client);
      this.passes.add(client);
      this.wake(client);
    }, this.opts.maxWaitMs);
    timer.unref();
    const q = this.waiters.get(path);
    if (q) q.push({ client, timer });
    else this.waiters.set(path, [{ client, timer }]);
    return true;
  }

  private unqueue(path: string, client: C): void {
    const q = this.waiters.get(path);
    if (!q) return;
    const i = q.findIndex((w) => w.client === client);
    if (i >= 0) q.splice(i, 1);
    if (q.length === 0) this.waiters.delete(path);
  }

  /** `tx` ended (committed, aborted or dropped): the next waiter on each of its nodes goes. */
  ended(tx: T): void {
    const paths = this.held.get(tx);
    if (!paths) return;
    this.held.delete(tx);
    for (const path of paths) {
      if (this.holders.get(path) === tx) this.holders.delete(path);
      const q = this.waiters.get(path);
      const next = q?.shift();
      if (q && q.length === 0) this.waiters.delete(path);
      if (next) {
        clearTimeout(next.timer);
        this.wake(next.client);
      }
    }
  }

  /** A client went away: forget its waits. */
  forget(client: C): void {
    this.passes.delete(client);
    for (const [path, q] of this.waiters) {
      const i = q.findIndex((w) => w.client === client);
      if (i >= 0) {
        clearTimeout(q[i]!.timer);
        q.splice(i, 1);
        if (q.length === 0) this.waiters.delete(path);
      }
    }
  }
}
