/**
 * The daemon's Prometheus metrics, in a prom-client registry. Nothing here
 * runs on the request path: the pipeline keeps plain integer counters
 * (src/server/counters.ts, Stats), the notable events arrive as notices,
 * and everything else (per-domain nodes, watches, memory against quota,
 * the store's size, the history retained, process memory) is computed
 * when scraped, from one snapshot (src/server/stats.ts) per scrape.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricType, type MetricValueWithName } from "prom-client";
import { LATENCY_BOUNDS, TIME_EVERY } from "../server/counters.js";
import { daemonStats, type DaemonStats } from "../server/stats.js";
import type { CompactionStats } from "../store/compactor.js";
import type { IdlePollStats } from "../system/idle-poll.js";
import type { Xenstored } from "../server/xenstored.js";
import type { Notice } from "../util/notices.js";

const P = "xenstored_";

/** Counts kept from notices, by label value. */
class Tally {
  readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
}

/** prom-client's types declare an enum that its JavaScript does not export: the type is the string. */
const HISTOGRAM = "histogram" as unknown as MetricType;

/** A histogram whose buckets are counted elsewhere (the pipeline's typed arrays) and read at scrape time. */
class CountedHistogram extends Histogram<"op" | "le"> {
  constructor(
    private readonly metricName: string,
    private readonly helpText: string,
    private readonly source: () => Iterable<{ op: string; buckets: number[]; count: number; sum: number }>,
  ) {
    super({ name: metricName, help: helpText, labelNames: ["op"], buckets: [...LATENCY_BOUNDS], registers: [] });
  }

  override async get(): ReturnType<Histogram<"op" | "le">["get"]> {
    const name = this.metricName;
    const values: MetricValueWithName<"op" | "le">[] = [];
    for (const h of this.source()) {
      let cumulative = 0;
      LATENCY_BOUNDS.forEach((le, i) => {
        cumulative += h.buckets[i]!;
        values.push({ metricName: `${name}_bucket`, labels: { le, op: h.op }, value: cumulative });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: "+Inf", op: h.op }, value: h.count });
      values.push({ metricName: `${name}_sum`, labels: { op: h.op }, value: h.sum });
      values.push({ metricName: `${name}_count`, labels: { op: h.op }, value: h.count });
    }
    return { name, help: this.helpText, type: HISTOGRAM, aggregator: "sum", collect: () => {}, values };
  }

  /** What prom-client's registry asks of a histogram to format it: the same. */
  getForPromString(): ReturnType<Histogram<"op" | "le">["get"]> {
    return this.get();
  }
}

export interface MetricsOptions {
  /** Also the process's own metrics (memory, CPU, event loop, GC: prom-client's defaults); default true. */
  processMetrics?: boolean;
  /** The packing of cold subtrees so far (src/store/compactor.ts), when it runs. */
  packing?: () => CompactionStats | null;
  /** What idle polling has done (src/system/idle-poll.ts), when the addon is there. */
  idlePoll?: () => IdlePollStats | null;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  /** The snapshot the current scrape reads (taken once per scrape). */
  private snap: DaemonStats | null = null;
  private readonly quotaHits = new Tally();
  private readonly closed = new Tally();
  private readonly released = new Tally();
  private introduced = 0;

  constructor(x: Xenstored, opts: MetricsOptions = {}) {
    x.counters.timing = true;
    x.notices.on((n) => this.notice(n), "warn");
    x.notices.on((n) => this.domainNotice(n), "info");
    const r = [this.registry];
    const snap = (): DaemonStats => (this.snap ??= daemonStats(x.services));
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], read: (c: Counter<L>) => void): void => {
      new Counter<L>({
        name: P + name,
        help,
        labelNames,
        registers: r,
        collect() {
          this.reset();
          read(this);
        },
      });
    };
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], read: (g: Gauge<L>) => void): void => {
      new Gauge<L>({
        name: P + name,
        help,
        labelNames,
        registers: r,
        collect() {
          this.reset();
          read(this);
        },
      });
    };
    const fromTally = <L extends string>(label: L, t: Tally) => (c: Counter<L>) => {
      for (const [k, v] of t.counts) c.inc({ [label]: k } as Partial<Record<L, string>>, v);
    };

    // Requests.
    counter("requests_total", "Requests processed, by op and result (ok or the error name).", ["op", "result"], (c) => {
      for (const q of x.counters.requests()) c.inc({ op: q.op, result: q.result }, q.count);
    });
    this.registry.registerMetric(
      new CountedHistogram(P + "request_duration_seconds", `Time to process a request (decoded to reply queued), by op, timed for one request in ${TIME_EVERY}; time waiting before it is not included.`, () =>
        x.counters.latencies(),
      ),
    );
    // Commits and transactions.
    counter("commits_total", "Changes committed (each a new revision).", [], (c) => c.inc(x.stats.commits));
    counter("transaction_conflicts_total", "Transactions that ended with EAGAIN.", [], (c) => c.inc(x.stats.conflicts));
    gauge("transactions_open", "Transactions open now.", [], (g) => g.set(snap().transactions));
    // Watches.
    counter("watch_events_sent_total", "Watch events queued for delivery.", [], (c) => c.inc(x.stats.events));
    counter("watch_events_dropped_total", "Watch events dropped (a duplicate still waiting, the watch-event timeout, the memory quota).", [], (c) =>
      c.inc(x.stats.eventsDropped),
    );
    gauge("watches", "Watches registered.", [], (g) => g.set(snap().watches));
    // Connections.
    gauge("connections", "Connections open, by kind (socket: Unix socket clients; domain: guests' and dom0's rings).", ["kind"], (g) => {
      g.set({ kind: "socket" }, snap().connections.socket);
      g.set({ kind: "domain" }, snap().connections.domain);
    });
    counter("connections_closed_total", "Connections the daemon cut off, by reason (oversize-packet, output-overflow, bad-ring-indexes).", ["reason"], fromTally("reason", this.closed));
    counter("ring_stalls_total", "Times a guest's ring stalled: ring-full (its response ring full, the guest not reading), memory-quota (not served: at its hard memory quota).", ["reason"], (c) => {
      c.inc({ reason: "ring-full" }, x.stats.ringFull);
      c.inc({ reason: "memory-quota" }, x.stats.memoryStalls);
    });
    // Domains and quotas.
    counter("domains_introduced_total", "Domains introduced.", [], (c) => c.inc(this.introduced));
    counter("domains_released_total", "Domains released, by reason (release, dying, gone, unrecoverable).", ["reason"], fromTally("reason", this.released));
    counter("quota_hits_total", "Requests, replies or events refused, or domains stalled or warned, for a quota, by quota and kind (hard, soft).", ["quota", "kind"], (c) => {
      for (const [k, v] of this.quotaHits.counts) {
        const [quota, kind] = k.split("/") as [string, string];
        c.inc({ quota, kind }, v);
      }
    });
    gauge("domains", "Domains with a row in the per-domain figures (known or owning nodes).", [], (g) => g.set(snap().domains.length));
    const perDomain = (name: string, help: string, value: (d: DaemonStats["domains"][number]) => number, limitOnly = false): void => {
      gauge(name, help, ["domid"], (g) => {
        for (const d of snap().domains) {
          if (limitOnly && d.privileged) continue;
          g.set({ domid: d.domid }, value(d));
        }
      });
    };
    perDomain("domain_nodes", "Nodes a domain owns.", (d) => d.nodes);
    perDomain("domain_nodes_limit", "A domain's node quota (unprivileged domains only; 0: none).", (d) => d.quota.nodes, true);
    perDomain("domain_watches", "Watches of a domain's connections.", (d) => d.watches);
    perDomain("domain_watches_limit", "A domain's watch quota (unprivileged domains only; 0: none).", (d) => d.quota.watches, true);
    perDomain("domain_memory_bytes", "A domain's accounted memory (nodes, watches, queued output), as the memory quota counts it.", (d) => d.memory);
    perDomain("domain_memory_limit_bytes", "A domain's hard memory quota (unprivileged domains only; 0: none).", (d) => d.quota.memory, true);
    perDomain("domain_outstanding", "Replies and events queued to a domain, not yet taken.", (d) => d.outstanding);
    perDomain("domain_transactions", "Transactions a domain has open.", (d) => d.transactions);
    // The store and its history.
    gauge("store_nodes", "Nodes in the store.", [], (g) => g.set(snap().nodes));
    gauge("store_revision", "The store's current revision.", [], (g) => g.set(snap().revision));
    counter("store_subtrees_packed_total", "Cold subtrees packed into one string each (src/store/compactor.ts).", [], (c) => c.inc(opts.packing?.()?.units ?? 0));
    counter("store_packed_bytes_total", "Bytes those subtrees were packed into.", [], (c) => c.inc(opts.packing?.()?.bytes ?? 0));
    counter("store_leaves_packed_total", "Cold children of large directories packed into their directory's entry, one string each.", [], (c) => c.inc(opts.packing?.()?.leaves ?? 0));
    counter("idle_polls_total", "Times the event loop polled for the next request before waiting (src/system/idle-poll.ts).", [], (c) => c.inc(opts.idlePoll?.()?.spins ?? 0));
    counter("idle_poll_hits_total", "Polls that met the next request (or a timer) before their window ran out.", [], (c) => c.inc(opts.idlePoll?.()?.hits ?? 0));
    counter("idle_poll_seconds_total", "CPU time spent polling.", [], (c) => c.inc(opts.idlePoll?.()?.spunSeconds ?? 0));
    gauge("history_revisions", "Commits retained in the history of changes.", [], (g) => g.set(snap().history.revisions));
    gauge("history_oldest_revision", "The oldest revision retained.", [], (g) => g.set(snap().history.oldest));
    gauge("history_retained_bytes", "Memory the retained history holds, by its estimate.", [], (g) => g.set(snap().history.bytes));
    gauge("start_time_seconds", "When the daemon started (seconds since the epoch).", [], (g) => g.set(snap().started / 1000));
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  private notice(n: Notice): void {
    const f = n.fields;
    if (n.event === "quota-hit") this.quotaHits.add(`${String(f.quota)}/${String(f.kind ?? "hard")}`);
    else if (n.event === "connection-closed") this.closed.add(String(f.reason));
  }

  private domainNotice(n: Notice): void {
    if (n.event === "domain-introduced") this.introduced++;
    else if (n.event === "domain-released") this.released.add(String(n.fields.reason));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text of everything, from one snapshot taken now. */
  async text(): Promise<string> {
    this.snap = null;
    try {
      return await this.registry.metrics();
    } finally {
      this.snap = null;
    }
  }
}
