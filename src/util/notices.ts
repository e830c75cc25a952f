/**
 * Notable events, as structured records: a domain introduced or released,
 * a quota hit, a connection the daemon cut off and why, the daemon's start,
 * stop and recovery. Modules at any layer raise them through a `Notices`
 * they are handed; whoever cares subscribes (the structured log, the
 * metrics). Nothing here is on the request path: a notice is raised only
 * when something notable happens, and costs nothing when no one listens.
 */

export type NoticeLevel = "error" | "warn" | "info" | "debug";

/** A field's value: plain JSON scalars only, so every sink can write it. */
export type NoticeValue = string | number | boolean | null;
export type NoticeFields = Readonly<Record<string, NoticeValue>>;

export interface Notice {
  readonly level: NoticeLevel;
  /** A fixed, dash-separated name (`domain-introduced`): what log readers match on. */
  readonly event: string;
  readonly fields: NoticeFields;
}

export type NoticeListener = (notice: Notice) => void;

/** Severity order: a listener for `warn` hears `warn` and `error`. */
export const NOTICE_LEVELS: readonly NoticeLevel[] = ["error", "warn", "info", "debug"];

export function isLogLevel(s: string): s is NoticeLevel {
  return (NOTICE_LEVELS as readonly string[]).includes(s);
}
const RANK: Readonly<Record<NoticeLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

export class Notices {
  private readonly listeners: { listener: NoticeListener; rank: number }[] = [];
  /** The most detailed level anyone listens to (-1: no one). */
  private widest = -1;

  /** Listen to notices of `level` and above (default: all). */
  on(listener: NoticeListener, level: NoticeLevel = "debug"): void {
    this.listeners.push({ listener, rank: RANK[level] });
    this.widest = Math.max(this.widest, RANK[level]);
  }

  /** Does anyone listen at `level`? (to skip building fields nobody reads) */
  hears(level: NoticeLevel): boolean {
    return RANK[level] <= this.widest;
  }

  /** Does anyone listen to warnings? (quota hits and connections cut off) */
  get heard(): boolean {
    return this.widest >= RANK.warn;
  }

  emit(level: NoticeLevel, event: string, fields: NoticeFields = {}): void {
    const rank = RANK[level];
    if (rank > this.widest) return;
    const notice: Notice = { level, event, fields };
    for (const l of this.listeners) {
      if (rank > l.rank) continue;
      try {
        l.listener(notice);
      } catch {
        // A failing sink (a log file gone) must not take a request down with it.
      }
    }
  }
}
