/**
 * The inspector page (served by the daemon with --inspect): Preact
 * components written with htm tagged templates, loaded as ES modules
 * through the page's import map, no bundler. Four views over the read-only
 * JSON API: the tree, the domains, the live feed, the history.
 */
import { render } from "preact";
import { useState } from "preact/hooks";
import { html, type Html } from "./common.js";
import { DomainsView } from "./domains.js";
import { FeedView, useFeed } from "./feed.js";
import { HistoryView } from "./history.js";
import { TreeView } from "./tree.js";

const VIEWS = [
  { id: "tree", label: "Tree" },
  { id: "domains", label: "Domains" },
  { id: "feed", label: "Live feed" },
  { id: "history", label: "History" },
] as const;

type ViewId = (typeof VIEWS)[number]["id"];

function initialView(): ViewId {
  const hash = location.hash.slice(1);
  return VIEWS.some((v) => v.id === hash) ? (hash as ViewId) : "tree";
}

function App(): Html {
  const [view, setView] = useState<ViewId>(initialView);
  const feed = useFeed();
  const show = (id: ViewId): void => {
    setView(id);
    history.replaceState(null, "", `#${id}`);
  };
  const body =
    view === "tree"
      ? html`<${TreeView} revision=${feed.revision} />`
      : view === "domains"
        ? html`<${DomainsView} revision=${feed.revision} />`
        : view === "feed"
          ? html`<${FeedView} feed=${feed} />`
          : html`<${HistoryView} revision=${feed.revision} />`;
  return html`<header>
      <h1>tsxenstored <span class="muted">inspector</span></h1>
      <nav role="tablist">
        ${VIEWS.map(
          (v) => html`<button role="tab" aria-selected=${view === v.id} class=${view === v.id ? "active" : ""} onClick=${() => show(v.id)}>${v.label}</button>`,
        )}
      </nav>
      <div class="status" data-testid="status">
        <span class=${`dot ${feed.status}`}></span>${feed.status === "live" ? `live · r${feed.revision}` : feed.status}
      </div>
    </header>
    <main>${body}</main>`;
}

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(html`<${App} />`, root);
}
