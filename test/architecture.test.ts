/**
 * The shape of src/: data flows one way (transport → codec → connection →
 * dispatch → store / transactions → watches), so a folder imports only
 * folders below it, and no module imports itself back through others.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { ROOT } from "./helpers/daemon.js";

/** Each folder's level: an import must go to a lower level (or stay in its folder). */
const LEVEL: Record<string, number> = {
  util: 0,
  protocol: 1,
  state: 1,
  transport: 2,
  store: 2,
  hypervisor: 3,
  client: 2,
  transactions: 3,
  watches: 3,
  quota: 3,
  domains: 4,
  durability: 4,
  history: 4,
  // The inspector reads the state through interfaces of its own; the composition root (server) wires it.
  inspect: 4.5,
  server: 5,
  system: 5,
  daemon: 6,
  emu: 6,
  cli: 6,
  metrics: 5.5,
  ".": 7,
};

const SRC = join(ROOT, "src");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith(".ts")) out.push(p);
  }
  return out;
}

/**
 * Relative imports of each source file, as paths of .ts files under src/;
 * `runtime` leaves out type-only imports (a node's type naming its
 * children's type, and back, is no cycle at run time).
 */
function importGraph(runtime = false): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, "utf8");
    const deps: string[] = [];
    for (const m of text.matchAll(/(?:^|\n)\s*(import type|import|export)[^;]*?from\s+"(\.[^"]+)"/g)) {
      if (runtime && m[1] === "import type") continue;
      deps.push(relative(SRC, resolve(dirname(file), m[2]!.replace(/\.js$/, ".ts"))));
    }
    graph.set(relative(SRC, file), deps);
  }
  return graph;
}

const folderOf = (file: string): string => (file.includes("/") ? file.slice(0, file.indexOf("/")) : ".");

test("every folder of src/ imports only from folders below it (no layer reaches up, e.g. into server/)", () => {
  const wrong: string[] = [];
  for (const [file, deps] of importGraph()) {
    const from = folderOf(file);
    assert.ok(from in LEVEL, `${file}: folder ${from} has no level in this test`);
    for (const dep of deps) {
      const to = folderOf(dep);
      if (to !== from && !(LEVEL[to]! < LEVEL[from]!)) wrong.push(`${file} -> ${dep}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("the import graph of src/ has no cycles", () => {
  const graph = importGraph(true);
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]): void => {
    const s = state.get(file);
    if (s === "done") return;
    if (s === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "open");
    for (const dep of graph.get(file) ?? []) visit(dep, [...path, file]);
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});
