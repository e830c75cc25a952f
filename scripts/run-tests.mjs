#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node:test.
// Extra arguments are passed to `node --test` (e.g. --test-name-pattern=...).
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith("-"));
const flags = args.filter((a) => a.startsWith("-"));
let files = find("dist/test").sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...flags, ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
