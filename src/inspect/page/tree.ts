/**
 * The tree browser: directories expand and collapse (children fetched a
 * page at a time), and the selected node's value, ACL and size are shown
 * beside it, reloaded as the store changes.
 */
import { useEffect, useState } from "preact/hooks";
import type { ChildItem, NodeAnswer } from "../wire.js";
import { BytesView, ErrorView, getJson, html, PermsView, useDebounced, type Html } from "./common.js";

interface Dir {
  readonly children: readonly ChildItem[];
  readonly childCount: number;
  /** Offset of the next page, or null when all are loaded. */
  readonly next: number | null;
}

const join = (dir: string, name: string): string => (dir === "/" ? `/${name}` : `${dir}/${name}`);

export function TreeView({ revision }: { revision: number }): Html {
  const [dirs, setDirs] = useState<ReadonlyMap<string, Dir>>(new Map());
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set(["/"]));
  const [selected, setSelected] = useState("/");
  const [error, setError] = useState<string | null>(null);

  const load = async (path: string, offset = 0): Promise<void> => {
    try {
      const a = await getJson<NodeAnswer>("node", { path, offset });
      setDirs((d) => {
        const m = new Map(d);
        const before = offset ? (m.get(path)?.children ?? []) : [];
        m.set(path, { children: [...before, ...a.children], childCount: a.childCount, next: a.more ? a.more.offset : null });
        return m;
      });
      setError(null);
    } catch (e) {
      setError(`${path}: ${(e as Error).message}`);
    }
  };

  useEffect(() => {
    void load("/");
  }, []);

  const toggle = (path: string): void => {
    const next = new Set(open);
    if (next.has(path)) next.delete(path);
    else {
      next.add(path);
      void load(path);
    }
    setOpen(next);
  };

  const refresh = (): void => {
    for (const p of open) void load(p);
  };

  const row = (path: string, name: string, count: number): Html => {
    const expanded = open.has(path);
    const dir = dirs.get(path);
    return html`<li role="treeitem" aria-expanded=${count > 0 ? expanded : undefined} data-path=${path}>
      <div class=${`row${selected === path ? " selected" : ""}`}>
        ${count > 0
          ? html`<button class="twisty" aria-label=${`${expanded ? "collapse" : "expand"} ${path}`} onClick=${() => toggle(path)}>${expanded ? "▾" : "▸"}</button>`
          : html`<span class="twisty leaf"></span>`}
        <button class="name" onClick=${() => setSelected(path)}>${name}</button>
        ${count > 0 ? html`<span class="count">${count}</span>` : null}
      </div>
      ${expanded && dir
        ? html`<ul role="group">
            ${dir.children.map((c) => row(join(path, c.name), c.name, c.children))}
            ${dir.next !== null
              ? html`<li><button class="more" onClick=${() => void load(path, dir.next ?? 0)}>${dir.childCount - dir.children.length} more…</button></li>`
              : null}
          </ul>`
        : null}
    </li>`;
  };

  const rootCount = dirs.get("/")?.childCount ?? 0;
  return html`<div class="split">
    <section class="pane tree-pane" aria-label="tree">
      <div class="toolbar"><button onClick=${refresh}>Refresh tree</button></div>
      <${ErrorView} error=${error} />
      <ul class="tree" role="tree">${row("/", "/", rootCount)}</ul>
    </section>
    <${NodePanel} path=${selected} revision=${revision} />
  </div>`;
}

function NodePanel({ path, revision }: { path: string; revision: number }): Html {
  const [node, setNode] = useState<NodeAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);
  useDebounced(
    () => {
      getJson<NodeAnswer>("node", { path, limit: 1 }).then(
        (a) => {
          setNode(a);
          setError(null);
        },
        (e: Error) => {
          setNode(null);
          setError(e.message);
        },
      );
    },
    [path, revision],
    250,
  );
  return html`<section class="pane detail" aria-label="node" data-testid="node-panel">
    <h2 class="path">${path}</h2>
    <${ErrorView} error=${error} />
    ${node && node.path === path
      ? html`<dl>
          <dt>Value</dt>
          <dd data-testid="node-value"><${BytesView} value=${node.value} /> <span class="muted small">${node.size} bytes</span></dd>
          <dt>Permissions</dt>
          <dd data-testid="node-perms"><${PermsView} perms=${node.perms} /></dd>
          <dt>Children</dt>
          <dd>${node.childCount}</dd>
          <dt>Revision</dt>
          <dd>r${node.revision}</dd>
        </dl>`
      : null}
  </section>`;
}
