/**
 * The history timeline: retained commits newest first (optionally only
 * those under a path), a page at a time; choosing one shows its diff
 * (what changed from the revision before), and any two revisions can be
 * compared.
 */
import { useEffect, useState } from "preact/hooks";
import type { CommitSummary, DiffAnswer, DiffItem, HistoryAnswer, NodeStateView } from "../wire.js";
import { BytesView, ErrorView, formatTime, getJson, html, type Html } from "./common.js";

export function HistoryView({ revision }: { revision: number }): Html {
  const [commits, setCommits] = useState<readonly CommitSummary[]>([]);
  const [more, setMore] = useState<number | null>(null);
  const [range, setRange] = useState<{ oldest: number; newest: number } | null>(null);
  const [under, setUnder] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [pair, setPair] = useState<{ from: number; to: number } | null>(null);
  const [fromText, setFromText] = useState("");
  const [toText, setToText] = useState("");

  const load = async (before?: number): Promise<void> => {
    try {
      const a = await getJson<HistoryAnswer>("history", { before, path: under || undefined });
      setCommits((c) => (before === undefined ? a.commits : [...c, ...a.commits]));
      setMore(a.more ? a.more.before : null);
      setRange({ oldest: a.oldest, newest: a.newest });
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const choose = (c: CommitSummary): void => {
    setPair({ from: c.revision - 1, to: c.revision });
    setFromText(String(c.revision - 1));
    setToText(String(c.revision));
  };
  const compare = (ev: Event): void => {
    ev.preventDefault();
    const from = Number(fromText);
    const to = Number(toText);
    if (Number.isInteger(from) && Number.isInteger(to)) setPair({ from, to });
  };

  return html`<div class="split">
    <section class="pane timeline" aria-label="history">
      <form class="toolbar" onSubmit=${(ev: Event) => {
        ev.preventDefault();
        void load();
      }}>
        <input type="search" placeholder="only under a path, e.g. /local/domain/1" value=${under}
          onInput=${(ev: Event) => setUnder((ev.target as HTMLInputElement).value)} />
        <button type="submit">${revision > (range?.newest ?? 0) ? "Refresh (new commits)" : "Refresh"}</button>
      </form>
      ${range ? html`<p class="muted small">retained: r${range.oldest} to r${range.newest}</p>` : null}
      <${ErrorView} error=${error} />
      <ol class="commits" data-testid="history-list">
        ${commits.map(
          (c) => html`<li key=${c.revision}>
            <button class=${`commit-row${pair?.to === c.revision && pair.from === c.revision - 1 ? " selected" : ""}`}
              data-revision=${c.revision} onClick=${() => choose(c)}>
              <span class="badge commit">r${c.revision}</span>
              <span class="op">${c.op}</span>
              <span class="muted">domain ${c.domid}${c.txId ? `, tx ${c.txId}` : ""} · ${formatTime(c.time)}</span>
              <span class="paths">${c.changes.map((x) => x.path).join(" ")}${c.changeCount > c.changes.length ? ` and ${c.changeCount - c.changes.length} more` : ""}</span>
            </button>
          </li>`,
        )}
      </ol>
      ${more !== null ? html`<button class="more" onClick=${() => void load(more)}>Older commits…</button>` : null}
      ${commits.length === 0 && !error ? html`<p class="muted">No commits retained${under ? ` under ${under}` : ""}.</p>` : null}
    </section>
    <section class="pane detail" aria-label="diff">
      <form class="toolbar" onSubmit=${compare}>
        <label>from r<input class="rev" inputmode="numeric" value=${fromText} onInput=${(ev: Event) => setFromText((ev.target as HTMLInputElement).value)} /></label>
        <label>to r<input class="rev" inputmode="numeric" value=${toText} onInput=${(ev: Event) => setToText((ev.target as HTMLInputElement).value)} /></label>
        <button type="submit">Compare</button>
      </form>
      ${pair ? html`<${DiffPanel} from=${pair.from} to=${pair.to} />` : html`<p class="muted">Choose a commit to see what it changed.</p>`}
    </section>
  </div>`;
}

function State({ s }: { s: NodeStateView | null }): Html {
  if (!s) return html`<span class="muted">(absent)</span>`;
  return html`<${BytesView} value=${s.value} /> <span class="perms">${s.perms.join(" ")}</span>`;
}

function Entry({ e }: { e: DiffItem }): Html {
  return html`<li class=${`diff ${e.kind}`} data-path=${e.path}>
    <div><span class=${`badge ${e.kind}`}>${e.kind}</span> <code class="path">${e.path}</code></div>
    <div class="states">
      ${e.kind !== "added" ? html`<div class="before"><span class="sign">−</span><${State} s=${e.before} /></div>` : null}
      ${e.kind !== "removed" ? html`<div class="after"><span class="sign">+</span><${State} s=${e.after} /></div>` : null}
    </div>
  </li>`;
}

function DiffPanel({ from, to }: { from: number; to: number }): Html {
  const [entries, setEntries] = useState<readonly DiffItem[]>([]);
  const [after, setAfter] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async (cursor?: string): Promise<void> => {
    try {
      const a = await getJson<DiffAnswer>("diff", { from, to, after: cursor });
      setEntries((e) => (cursor === undefined ? a.entries : [...e, ...a.entries]));
      setAfter(a.more ? a.more.after : null);
      setError(null);
    } catch (e) {
      setEntries([]);
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
  }, [from, to]);
  return html`<div data-testid="diff-panel">
    <h2>r${from} → r${to}</h2>
    <${ErrorView} error=${error} />
    ${!error && entries.length === 0 ? html`<p class="muted">No node differs (the commit changed domains, quotas or special ACLs only).</p>` : null}
    <ul class="diff-list">${entries.map((e) => html`<${Entry} key=${e.path} e=${e} />`)}</ul>
    ${after !== null ? html`<button class="more" onClick=${() => void load(after)}>More…</button>` : null}
  </div>`;
}
