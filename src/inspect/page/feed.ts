/**
 * The live feed: commits and the watch events they fired, newest first,
 * from the server's event stream (./api/events). The page keeps listening
 * whichever view is open; at most MAX_ENTRIES are kept.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { Bytes, FeedCommit, FeedWatch } from "../wire.js";
import { BytesView, formatTime, html, type Html } from "./common.js";

export const MAX_ENTRIES = 500;

export type FeedEntry =
  | { readonly id: number; readonly kind: "commit"; readonly at: number; readonly commit: FeedCommit }
  | { readonly id: number; readonly kind: "watch"; readonly at: number; readonly watch: FeedWatch }
  | { readonly id: number; readonly kind: "lost"; readonly at: number; readonly events: number };

export type FeedStatus = "connecting" | "live" | "reconnecting";

export interface FeedState {
  readonly entries: readonly FeedEntry[];
  readonly status: FeedStatus;
  /** The newest revision the feed has told of. */
  readonly revision: number;
  readonly paused: boolean;
  setPaused(paused: boolean): void;
  clear(): void;
}

/** Listen to ./api/events for as long as the page is open. */
export function useFeed(): FeedState {
  const [entries, setEntries] = useState<readonly FeedEntry[]>([]);
  const [status, setStatus] = useState<FeedStatus>("connecting");
  const [revision, setRevision] = useState(0);
  const [paused, setPaused] = useState(false);
  // Read by the listener, which is set up once.
  const holding = useRef(false);
  useEffect(() => {
    let id = 0;
    const add = (e: FeedEntry): void => {
      if (!holding.current) setEntries((list) => [e, ...list].slice(0, MAX_ENTRIES));
    };
    const es = new EventSource("./api/events");
    es.addEventListener("hello", (m: MessageEvent<string>) => {
      setRevision((JSON.parse(m.data) as { revision: number }).revision);
      setStatus("live");
    });
    es.addEventListener("commit", (m: MessageEvent<string>) => {
      const commit = JSON.parse(m.data) as FeedCommit;
      setRevision(commit.revision);
      add({ id: ++id, kind: "commit", at: commit.time, commit });
    });
    es.addEventListener("watch", (m: MessageEvent<string>) => {
      add({ id: ++id, kind: "watch", at: Date.now(), watch: JSON.parse(m.data) as FeedWatch });
    });
    es.addEventListener("lost", (m: MessageEvent<string>) => {
      add({ id: ++id, kind: "lost", at: Date.now(), events: (JSON.parse(m.data) as { events: number }).events });
    });
    es.onerror = () => setStatus("reconnecting");
    return () => es.close();
  }, []);
  return {
    entries,
    status,
    revision,
    paused,
    setPaused(p: boolean) {
      holding.current = p;
      setPaused(p);
    },
    clear: () => setEntries([]),
  };
}

const text = (b: Bytes): string => (typeof b === "string" ? b : b.base64);

function matches(e: FeedEntry, filter: string): boolean {
  if (!filter) return true;
  if (e.kind === "commit") return e.commit.paths.some((p) => p.includes(filter)) || e.commit.op.includes(filter);
  if (e.kind === "watch") return text(e.watch.path).includes(filter) || text(e.watch.token).includes(filter);
  return true;
}

function Row({ e }: { e: FeedEntry }): Html {
  if (e.kind === "commit") {
    const c = e.commit;
    const rest = c.pathCount - c.paths.length;
    return html`<tr class="commit" data-kind="commit">
      <td class="time">${formatTime(e.at)}</td>
      <td><span class="badge commit">r${c.revision}</span> ${c.op}</td>
      <td>domain ${c.domid}${c.conn ? `, conn ${c.conn}` : ""}${c.txId ? `, tx ${c.txId}` : ""}</td>
      <td class="paths">
        ${c.paths.map((p) => html`<code>${p}</code> `)}${rest > 0 ? html`<span class="muted">and ${rest} more</span>` : null}
        ${c.effects.map((x) => html`<span class="effect">${x}</span> `)}
      </td>
    </tr>`;
  }
  if (e.kind === "watch") {
    const w = e.watch;
    return html`<tr class="watch" data-kind="watch">
      <td class="time">${formatTime(e.at)}</td>
      <td><span class="badge watch">watch</span> event</td>
      <td>conn ${w.conn} (${w.kind === "socket" ? "socket" : "ring"} of domain ${w.domid})</td>
      <td class="paths"><${BytesView} value=${w.path} /> <span class="muted">token</span> <${BytesView} value=${w.token} /></td>
    </tr>`;
  }
  return html`<tr class="lost"><td class="time">${formatTime(e.at)}</td><td colspan="3">${e.events} messages not shown (too many at once)</td></tr>`;
}

export function FeedView({ feed }: { feed: FeedState }): Html {
  const [filter, setFilter] = useState("");
  const shown = feed.entries.filter((e) => matches(e, filter));
  return html`<section class="pane wide" aria-label="live feed">
    <div class="toolbar">
      <button onClick=${() => feed.setPaused(!feed.paused)}>${feed.paused ? "Resume" : "Pause"}</button>
      <button onClick=${() => feed.clear()}>Clear</button>
      <input type="search" placeholder="filter by path, op or token" value=${filter}
        onInput=${(ev: Event) => setFilter((ev.target as HTMLInputElement).value)} />
      <span class="muted">${shown.length} of the last ${feed.entries.length} (at most ${MAX_ENTRIES} kept)</span>
    </div>
    ${shown.length === 0
      ? html`<p class="muted">Nothing yet: changes to the store and the watch events they fire appear here as they happen.</p>`
      : html`<table class="grid feed" data-testid="feed-table">
          <thead><tr><th>Time (UTC)</th><th>What</th><th>Who</th><th>Paths</th></tr></thead>
          <tbody>${shown.map((e) => html`<${Row} key=${e.id} e=${e} />`)}</tbody>
        </table>`}
  </section>`;
}
