/** The domains table: each known domain's usage against its quotas. */
import { useEffect, useState } from "preact/hooks";
import type { DomainRow, DomainsAnswer, Usage } from "../wire.js";
import { ErrorView, getJson, html, useDebounced, type Html } from "./common.js";

/** 2621440 -> "2.5 MiB" */
function sizeText(n: number): string {
  if (n < 1024) return `${n} B`;
  const [v, u] = n < 1024 * 1024 ? [n / 1024, "KiB"] : [n / (1024 * 1024), "MiB"];
  return `${v.toFixed(1).replace(/\.0$/, "")} ${u}`;
}

function UsageCell({ u, bytes }: { u: Usage; bytes?: boolean }): Html {
  const show = bytes ? sizeText : String;
  const used = show(u.used);
  if (u.limit === null) return html`<td class="num">${used}</td>`;
  const high = u.used >= u.limit * 0.8;
  return html`<td class="num">
    <span class=${high ? "high" : ""}>${used}</span><span class="muted"> / ${show(u.limit)}</span>
    <meter min="0" max=${u.limit} value=${u.used} high=${u.limit * 0.8}></meter>
  </td>`;
}

function state(d: DomainRow): string {
  const s = [d.introduced ? "introduced" : "known"];
  if (d.shutdown) s.push("shut down");
  if (d.privileged) s.push("control");
  if (d.target !== null) s.push(`target ${d.target}`);
  return s.join(", ");
}

export function DomainsView({ revision }: { revision: number }): Html {
  const [page, setPage] = useState<DomainsAnswer | null>(null);
  const [offset, setOffset] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  // Queued replies and memory change without commits: look again now and then.
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), 5000);
    return () => clearInterval(t);
  }, []);
  useDebounced(
    () => {
      getJson<DomainsAnswer>("domains", { offset }).then(
        (a) => {
          setPage(a);
          setError(null);
        },
        (e: Error) => setError(e.message),
      );
    },
    [revision, offset, tick],
    300,
  );
  return html`<section class="pane wide" aria-label="domains">
    <div class="toolbar">
      <span>${page ? `${page.total} domain${page.total === 1 ? "" : "s"}` : ""}</span>
      ${offset > 0 ? html`<button onClick=${() => setOffset(Math.max(0, offset - 200))}>Previous</button>` : null}
      ${page?.more ? html`<button onClick=${() => setOffset(page.more ? page.more.offset : 0)}>Next</button>` : null}
    </div>
    <${ErrorView} error=${error} />
    <table class="grid" data-testid="domains-table">
      <thead>
        <tr>
          <th>Domain</th><th>State</th><th class="num">Nodes</th><th class="num">Watches</th><th class="num">Transactions</th>
          <th class="num">Outstanding</th><th class="num">Memory</th><th class="num">Connections</th>
        </tr>
      </thead>
      <tbody>
        ${(page?.domains ?? []).map(
          (d) => html`<tr data-domid=${d.domid}>
            <td>${d.domid}</td>
            <td>${state(d)}</td>
            <${UsageCell} u=${d.nodes} />
            <${UsageCell} u=${d.watches} />
            <${UsageCell} u=${d.transactions} />
            <${UsageCell} u=${d.outstanding} />
            <${UsageCell} u=${d.memory} bytes=${true} />
            <td class="num">${d.connections}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    <p class="muted small">Quotas bind unprivileged domains only; control domains show usage alone.</p>
  </section>`;
}
