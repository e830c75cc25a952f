/**
 * The page's shared pieces: htm bound to Preact (`html`), fetching the JSON API,
 * and how bytes, ACLs and times are shown. Runs in the browser.
 */
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import type { Bytes, ErrorAnswer } from "../wire.js";

export { html };
export type Html = ReturnType<typeof html>;

/** GET ./api/<what>?<params> as JSON; an error answer is thrown with its message. */
export async function getJson<T>(what: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const query = q.toString();
  const res = await fetch(`./api/${what}${query ? `?${query}` : ""}`, { headers: { accept: "application/json" } });
  const body = (await res.json()) as T | ErrorAnswer;
  if (!res.ok) throw new Error((body as ErrorAnswer).error ?? `${res.status} ${res.statusText}`);
  return body as T;
}

/** UTC, to the millisecond: 2026-12-07 06:30:01.123 */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 23);
}

export function BytesView({ value }: { value: Bytes }): Html {
  if (typeof value !== "string") return html`<span class="badge" title="not UTF-8: shown in base64">base64</span> <code class="value">${value.base64}</code>`;
  if (value === "") return html`<span class="muted">(empty)</span>`;
  return html`<code class="value">${value}</code>`;
}

const PERM_NAMES: Record<string, string> = { n: "none", r: "read", w: "write", b: "read, write" };

function permName(entry: string): string {
  return PERM_NAMES[entry[0] ?? ""] ?? entry;
}

/** An ACL: the first entry names the owner and what everyone else may do; the others, single domains. */
export function PermsView({ perms }: { perms: readonly string[] }): Html {
  const [first, ...rest] = perms;
  if (first === undefined) return html`<span class="muted">(none)</span>`;
  return html`<table class="acl">
    <tbody>
      <tr><th>owner</th><td>domain ${first.slice(1)}</td></tr>
      <tr><th>others</th><td>${permName(first)}</td></tr>
      ${rest.map((e) => html`<tr><th>domain ${e.slice(1)}</th><td>${permName(e)}</td></tr>`)}
    </tbody>
  </table>
  <div class="muted small">${perms.join(" ")}</div>`;
}

/** Run `effect` `delayMs` after the last change of `deps` (reloads while the store changes fast). */
export function useDebounced(effect: () => void, deps: readonly unknown[], delayMs: number): void {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      effect();
      return undefined;
    }
    const t = setTimeout(effect, delayMs);
    return () => clearTimeout(t);
  }, deps);
}

export function ErrorView({ error }: { error: string | null }): Html | null {
  return error ? html`<p class="error" role="alert">${error}</p>` : null;
}
