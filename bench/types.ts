/** The shape of one benchmark run (also written to docs/bench/results.json). */
import type { DaemonName, Machine, MachineLoad, TargetName } from "./lib.js";

export interface Config {
  mode: "full" | "quick";
  /** Rounds of workloads 1-3 (workload 1: pinned); each round rotates the daemons' order, and the median is reported. */
  rounds: number;
  testXenstoreIterations: number;
  seqOps: number;
  parOps: number;
  parDepth: number;
  /** Commits per connection: 64 connections on disjoint subtrees. */
  txDisjoint: number;
  /** Commits per connection: 8 connections on one counter. */
  txShared8: number;
  /** Commits per connection: 64 connections on one counter. */
  txShared64: number;
  bootGuests: number[];
  toolstackConns: number;
  scaleDomains: number;
  scaleChunk: number;
  /** Populate time allowed per daemon in workload 6. */
  scaleBudgetSeconds: number;
  scaleSeqOps: number;
  fanoutWatches: number;
  fanoutWrites: number;
  /** Workload 8: guests booted through their rings, and how many the toolstack builds at once. */
  guestStorm: number;
  guestParallel: number;
  /** Workload 9: well-behaved guests beside one flooding guest, and the requests each times. */
  hostileWell: number;
  hostileOps: number;
  /** Workload 10 (absent from results saved before it existed). */
  durability?: DurabilityConfig;
  /** Workload 1: rounds of test-xenstore without pinning, beside the pinned ones (absent before they existed). */
  testXenstoreUnpinnedRounds?: number;
  /** Workload 12 (absent from results saved before it existed). */
  coldStart?: ColdStartConfig;
  /** Workload 13 (absent from results saved before it existed). */
  fullStore?: FullStoreConfig;
}

/** Workload 12's sizes. */
export interface ColdStartConfig {
  /** Guests booted by each fresh daemon: the sizes of the targets (300 and 1,000 in a full run). */
  guests: number[];
  /** Repetitions of each size on each daemon (a fresh daemon every time), the daemons' order rotated; the median is reported. */
  rounds: number;
  /** A daemon whose boot of N guests took longer than this is not measured again at N (it cannot be the better peer). */
  repeatBelowS: number;
}

/** Workload 13's sizes. */
export interface FullStoreConfig {
  /** The domain counts where resident memory is read right after populating and again after an idle pause: the first, then the full store. */
  domains: number[];
  /** Populate chunk: VmRSS is also read after each (for the curve), and a daemon over its budget stops between two. */
  chunk: number;
  /** Populate time allowed per daemon. */
  budgetSeconds: number;
  /** The idle pause between the two readings. */
  idleSeconds: number;
  /** Requests per latency measurement (`xsload seq OP N`). */
  seqOps: number;
}

/** Workload 10's sizes. */
export interface DurabilityConfig {
  /** Rounds of part 1 (pipelined writes) and part 2 (boot storm); each rotates the modes' order, the median is reported. */
  rounds: number;
  /** Part 2: guests booted and torn down. */
  bootGuests: number;
  /** Part 3: connections committing at once, and commits per connection. */
  txConns: number;
  txPerConn: number;
  /** Part 3: the naive loop's commits (write + fdatasync each). */
  naiveCommits: number;
  naiveBytes: number;
  /** Part 4: domains in the store that is crashed and restarted, and the populate chunk. */
  restartDomains: number;
  restartChunk: number;
  /** Part 4: restarts measured, each after a SIGKILL. */
  restarts: number;
}

export interface TestXenstoreRun {
  target: DaemonName;
  round: number;
  /** Whether the daemon and test-xenstore shared one CPU (absent in results saved before unpinned runs existed: as the run's pinnedCpu says). */
  pinned?: boolean;
  nsPerOp: Record<string, number>;
  failed: string[];
  seconds: number;
  daemonCpuS: number | null;
  clientCpuS: number;
}

export interface TestXenstore {
  iterations: number;
  rounds: number;
  /** Rounds run without pinning (0 or absent: none). */
  unpinnedRounds?: number;
  tests: string[];
  runs: TestXenstoreRun[];
}

export interface SeqRow {
  target: TargetName;
  op: string;
  ops: number;
  p50Us: number;
  p99Us: number;
  opsPerS: number;
  seconds: number;
  daemonCpuUsPerOp: number | null;
  clientCpuUsPerOp: number;
  /** Client CPU time / wall time (1 = one core busy). */
  clientBusy: number;
  samples?: number;
  /** Workload 6: the filled daemon or its empty twin. */
  store?: "empty" | "full";
}

export interface ParRow {
  target: TargetName;
  op: string;
  conns: number;
  depth: number;
  ops: number;
  opsPerS: number;
  seconds: number;
  daemonCpuUsPerOp: number | null;
  clientCpuUsPerOp: number;
  clientBusy: number;
  samples?: number;
}

export interface TxRow {
  target: DaemonName;
  kind: string;
  conns: number;
  perConn: number;
  commits: number;
  commitsPerS: number;
  eagain: number;
  exact: boolean;
  final: number;
  expected: number;
  seconds: number;
  daemonCpuS: number | null;
  clientCpuS: number;
}

export interface BootRow {
  target: DaemonName;
  guests: number;
  conns: number;
  bootS: number;
  bootEagain: number;
  bootTransactions: number;
  bootRequests: number;
  teardownS: number;
  teardownEagain: number;
  teardownRequests: number;
  daemonCpuS: number | null;
  clientCpuS: number;
}

export interface ScaleCheckpoint {
  domains: number;
  rssKiB: number;
  hwmKiB: number;
  /** The private part of rssKiB (RssAnon) and the file-backed part (RssFile). */
  anonKiB?: number;
  fileKiB?: number;
  /** Populate time so far. */
  seconds: number;
}

/** A daemon filled with guests in chunks (workloads 6 and 13), as far as it got. */
export interface Population {
  target: DaemonName;
  /** Domains reached (fewer than asked if the time budget ran out). */
  domains: number;
  nodesPerGuest: number;
  populateS: number;
  populateRequests: number;
  populateDaemonCpuS: number;
  /** The time budget ran out before the last chunk. */
  stoppedEarly: boolean;
  /** Fresh, then after every chunk (VmRSS curve). */
  checkpoints: ScaleCheckpoint[];
}

export interface ScaleDaemon extends Population {
  rssEmptyKiB: number;
  rssFullKiB: number;
  hwmFullKiB: number;
  seqEmpty: SeqRow[];
  seqFull: SeqRow[];
}

/** Workload 12: the boot storm against fresh daemons, one size on one daemon. */
export interface ColdStartRow {
  target: DaemonName;
  guests: number;
  conns: number;
  /** The median of bootRunsS. */
  bootS: number;
  /** Each repetition's boot time (a fresh daemon each), in the order measured. */
  bootRunsS: number[];
  /** Medians over the repetitions, like bootS. */
  bootEagain: number;
  bootRequests: number;
  daemonCpuS: number | null;
  clientCpuS: number;
  /** VmRSS right after the boot. */
  rssKiB: number;
}

export interface ColdStartResults {
  rounds: number;
  repeatBelowS: number;
  rows: ColdStartRow[];
  /**
   * The same guests' requests handed to a Xenstored in one fresh process,
   * no sockets (bench/inproc-boot.ts): tsxenstored's own handling; the
   * median of the rounds. Absent in older results.
   */
  inProcess?: InProcessBoot[];
}

export interface InProcessBoot {
  guests: number;
  requests: number;
  seconds: number;
  usPerRequest: number;
}

/** One reading of /proc/<pid>/status, in KiB. */
export interface MemoryReading {
  rssKiB: number;
  anonKiB: number;
  fileKiB: number;
  hwmKiB: number;
}

/** Workload 13: memory at one of the domain counts of FullStoreConfig.domains. */
export interface FullStoreStep {
  domains: number;
  /** Right after the populate that reached it, and after the idle pause. */
  after: MemoryReading;
  idle: MemoryReading;
}

/** Workload 13, one daemon: a fresh daemon filled with domains, and latency on it against an empty twin. */
export interface FullStoreDaemon extends Population {
  /** Fresh, before the first request. */
  start: MemoryReading;
  steps: FullStoreStep[];
  seqEmpty: SeqRow[];
  seqFull: SeqRow[];
}

export interface FullStoreResults {
  idleSeconds: number;
  daemons: FullStoreDaemon[];
  /** The smallest Node.js server (bench/echo-server.ts, storing nothing), 1 s after it started: the floor of any daemon in Node.js. */
  nodeFloor?: MemoryReading | undefined;
}

export interface FanoutRow {
  target: DaemonName;
  watches: number;
  writes: number;
  writesPerS: number;
  events: number;
  expectedEvents: number;
  eventsPerS: number;
  seconds: number;
  daemonCpuUsPerEvent: number | null;
  clientCpuS: number;
}

/** Latencies of requests, in milliseconds. */
export interface Latency {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  count: number;
}

export interface GuestStormRow {
  target: DaemonName;
  guests: number;
  parallel: number;
  /** From the first domain's creation until every guest's frontends are connected. */
  bootS: number;
  /** Per guest: from its creation by the toolstack until its frontends are connected. */
  boot: Latency;
  bootTransactions: number;
  bootEagain: number;
  teardownS: number;
  teardownEagain: number;
  /** Domains the daemon had not released when teardown gave up (0 normally). */
  notReleased: number;
  daemonCpuS: number;
  /** The daemon's resident memory with every guest booted. */
  rssBootedKiB: number;
}

export interface HostilePhase {
  seconds: number;
  guests: Latency;
  dom0: Latency;
}

export interface HostileRow {
  target: DaemonName;
  well: number;
  ops: number;
  quiet: HostilePhase;
  flooded: HostilePhase;
  /** The flooding guest's answered requests per second. */
  floodPerS: number;
  daemonCpuS: number;
  rssKiB: number;
}

/** tsxenstored's `--durability`. */
export type DurabilityMode = "off" | "log" | "sync";

/** Workload 10, part 1: `xsload par write CONNS DEPTH N` against one mode (tsxenstored). */
export interface DurabilityParRow extends ParRow {
  mode: DurabilityMode;
  samples?: number;
  /** Median over the rounds of this mode's writes/s ÷ off's in the same round (null for off itself). */
  ratioToOff?: number | null;
}

/** Workload 10, part 2: the boot storm against one mode. */
export interface DurabilityBootRow {
  mode: DurabilityMode;
  guests: number;
  conns: number;
  bootS: number;
  bootEagain: number;
  bootRequests: number;
  teardownS: number;
  teardownEagain: number;
  daemonCpuS: number | null;
  samples?: number;
  /** Median over the rounds of this mode's boot and teardown times ÷ off's in the same round (null for off itself). */
  bootRatioToOff?: number | null;
  teardownRatioToOff?: number | null;
}

/** Workload 10, part 3: contended commits against one mode. */
export interface DurabilityTxRow {
  mode: DurabilityMode;
  conns: number;
  perConn: number;
  commits: number;
  commitsPerS: number;
  seconds: number;
  eagain: number;
  exact: boolean;
  daemonCpuS: number | null;
}

/** Workload 10, part 3: a naive journal on the same file system, one fdatasync per commit. */
export interface NaiveFsync {
  commits: number;
  bytes: number;
  seconds: number;
  p50Us: number;
  p99Us: number;
  /** 1 / the mean latency. */
  commitsPerS: number;
}

/** Workload 10, part 4: one restart after a SIGKILL. */
export interface DurabilityRestart {
  /** Milliseconds from spawn(2) until the socket accepted a connection. */
  readyMs: number;
  /** From the daemon's "recovered revision N from DIR (K commits replayed, T ms)" line; null if it printed none. */
  revision: number | null;
  replayed: number | null;
  recoveredMs: number | null;
  rssKiB: number;
  /** The last populated domain's name read back after the restart (xenstore-read); null: not checked. */
  verified: boolean | null;
}

export interface DirSize {
  /** Blocks allocated (st_blocks × 512). */
  allocatedBytes: number;
  /** Sum of the files' sizes. */
  apparentBytes: number;
  files: number;
}

export interface DurabilityRestartResult {
  domains: number;
  nodesPerGuest: number;
  populateS: number;
  populateRequests: number;
  /** The same daemon's first start, on an empty state directory: spawn(2) until its socket accepted. */
  emptyStartMs: number;
  /** Resident memory of the populated daemon, just before the SIGKILL. */
  rssBeforeKiB: number;
  /** The state directory right after the SIGKILL, and after the last restart. */
  stateAtCrash: DirSize;
  stateAfter: DirSize;
  restarts: DurabilityRestart[];
}

export interface DurabilityResults {
  /** The state directories' file system (stat -f), e.g. "ext2/ext3" or "tmpfs". */
  fsType: string;
  parallel: DurabilityParRow[];
  boot: DurabilityBootRow[];
  tx: DurabilityTxRow[];
  naive: NaiveFsync | null;
  restart: DurabilityRestartResult | null;
}

export interface Results {
  config: Config;
  machine: Machine;
  workloads: number[];
  durationS: number;
  errors: string[];
  /** Per workload: how busy the machine was with other work. */
  machineLoad: Record<number, MachineLoad>;
  /** The CPU that the latency workloads (1, 2 and 6's) ran on, daemon and client together; null: not pinned. */
  pinnedCpu: number | null;
  testXenstore?: TestXenstore;
  sequential?: SeqRow[];
  parallel?: ParRow[];
  transactions?: TxRow[];
  bootStorm?: BootRow[];
  /** The boot storm's request pattern with the simplest request: 8 connections, one READ in flight each. */
  oneInFlight?: ParRow[];
  scale?: ScaleDaemon[];
  fanout?: FanoutRow[];
  guestStorm?: GuestStormRow[];
  hostile?: HostileRow[];
  durability?: DurabilityResults;
  /** Workload 11: --metrics on ÷ off. */
  metrics?: MetricsResults;
  /** Workload 12: the boot storm on fresh daemons. */
  coldStart?: ColdStartResults;
  /** Workload 13: memory with the full store on fresh daemons, and latency on it. */
  fullStore?: FullStoreResults;
}

/** Workload 11: a daemon with `--metrics` (scraped once a second) and one without. */
export type MetricsMode = "off" | "on";

export interface MetricsParRow extends ParRow {
  mode: MetricsMode;
}

export interface MetricsSeqRow {
  mode: MetricsMode;
  ops: number;
  p50Us: number;
  p99Us: number;
  opsPerS: number;
  daemonCpuUsPerOp: number | null;
  samples?: number;
}

export interface MetricsResults {
  rounds: number;
  /** Pipelined writes, medians over the rounds, one row per mode. */
  parallel: MetricsParRow[];
  /** Sequential reads (single-request latency), medians, one row per mode. */
  sequential: MetricsSeqRow[];
  /** On ÷ off, the median of the rounds' paired ratios: writes/s, read p50 and p99 latency. */
  writesRatio: number | null;
  p50Ratio: number | null;
  p99Ratio: number | null;
  scrapes: number;
  scrapeErrors: number;
  scrapeP50Ms: number | null;
  scrapeMaxMs: number | null;
  /** Size of the last scrape's text. */
  scrapeBytes: number | null;
}
