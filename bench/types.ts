/** The shape of one benchmark run (also written to docs/bench/results.json). */
import type { DaemonName, Machine, MachineLoad, TargetName } from "./lib.js";

export interface Config {
  mode: "full" | "quick";
  /** Rounds of workloads 1-3; each round rotates the daemons' order, and the median is reported. */
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
}

export interface TestXenstoreRun {
  target: DaemonName;
  round: number;
  nsPerOp: Record<string, number>;
  failed: string[];
  seconds: number;
  daemonCpuS: number | null;
  clientCpuS: number;
}

export interface TestXenstore {
  iterations: number;
  rounds: number;
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

export interface ScaleDaemon {
  target: DaemonName;
  domains: number;
  nodesPerGuest: number;
  populateS: number;
  populateRequests: number;
  populateDaemonCpuS: number;
  /** The time budget ran out before cfg.scaleDomains. */
  stoppedEarly: boolean;
  rssEmptyKiB: number;
  rssFullKiB: number;
  hwmFullKiB: number;
  checkpoints: ScaleCheckpoint[];
  seqEmpty: SeqRow[];
  seqFull: SeqRow[];
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
}
