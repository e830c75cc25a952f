/**
 * `tsxs history`: the daemon's history of changes from the command line,
 * over the wire (CONTROL history), so it works wherever xenstore-control does.
 *
 *   tsxs history log [PATH] [--since T] [--domain N] [--before REV] [--limit N] [--json]
 *   tsxs history diff REV1 REV2 [PATH] [--json]
 *   tsxs history show REV PATH [--json]
 *   tsxs history info [--json]
 *   tsxs history export --git DIR
 *
 * The daemon is found as libxenstore finds it ($XENSTORED_PATH, else
 * $XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket). Replies come
 * a packet at a time; tsxs follows their `more:` continuations and prints
 * the whole answer (with --json, one JSON document). `export --git DIR`
 * has the daemon write a fast-import stream to a temporary file beside DIR,
 * imports it into the git repository DIR (made if missing; its branch
 * `main` is replaced) and checks out the newest state.
 *
 * Exit status: 0 done, 1 the daemon or git failed, 2 bad usage.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { XenStoreClient } from "../client/client.js";
import { reachDaemon } from "./common.js";
import { XsError } from "../protocol/messages.js";

const USAGE = `Usage:
  tsxs history log [PATH] [--since T] [--domain N] [--before REV] [--limit N] [--json]
  tsxs history diff REV1 REV2 [PATH] [--json]
  tsxs history show REV PATH [--json]
  tsxs history info [--json]
  tsxs history export --git DIR
T: milliseconds since the epoch or an ISO date (2024-05-01T12:00:00Z).
`;

/** How long export waits for the daemon to finish writing the stream. */
const EXPORT_TIMEOUT_MS = 10 * 60 * 1000;

class UsageError extends Error {}

/** Each subcommand: its options and how many positional arguments it takes. */
const SUBCOMMANDS = {
  log: { options: { since: { type: "string" }, domain: { type: "string" }, before: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" } }, min: 0, max: 1 },
  diff: { options: { json: { type: "boolean" } }, min: 2, max: 3 },
  show: { options: { json: { type: "boolean" } }, min: 2, max: 2 },
  info: { options: { json: { type: "boolean" } }, min: 0, max: 0 },
  export: { options: { git: { type: "string" } }, min: 0, max: 0 },
} as const;

type Subcommand = keyof typeof SUBCOMMANDS;

/** The array a paged JSON reply of each subcommand spreads over its pages. */
const PAGED_FIELD: Record<string, string> = { log: "commits", diff: "changes", show: "children" };

interface Parsed {
  sub: Subcommand;
  positionals: string[];
  /** Option values as given (strings; booleans as true). */
  options: Record<string, string | boolean>;
}

function parse(argv: readonly string[]): Parsed {
  const [sub, ...rest] = argv;
  if (sub === undefined || !Object.hasOwn(SUBCOMMANDS, sub)) throw new UsageError();
  const spec = SUBCOMMANDS[sub as Subcommand];
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: spec.options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length < spec.min || positionals.length > spec.max) throw new UsageError();
  const options: Record<string, string | boolean> = {};
  for (const [k, v] of Object.entries(values) as [string, string | boolean | undefined][]) if (v !== undefined) options[k] = v;
  if (sub === "export" && typeof options.git !== "string") throw new UsageError("export needs --git DIR");
  return { sub: sub as Subcommand, positionals, options };
}

/** CONTROL arguments for a query with these options. */
function controlArgs(p: Parsed, options: Record<string, string | number | boolean>): string[] {
  const args = [p.sub, ...p.positionals];
  for (const [k, v] of Object.entries(options)) {
    if (v === true) args.push(`--${k}`);
    else if (v !== false) args.push(`--${k}`, String(v));
  }
  return args;
}

/** Ask until the daemon has no more; returns what to print. */
async function query(client: XenStoreClient, p: Parsed): Promise<string> {
  const json = p.options.json === true;
  let cursor: Record<string, string | number> = {};
  const text: string[] = [];
  let doc: Record<string, unknown> | null = null;
  for (;;) {
    const reply = await client.control("history", ...controlArgs(p, { ...p.options, ...cursor }));
    let more: Record<string, string | number> | undefined;
    if (json) {
      const page = JSON.parse(reply) as Record<string, unknown>;
      more = page.more as typeof more;
      delete page.more;
      const field = PAGED_FIELD[p.sub];
      if (!doc) doc = page;
      else if (field) (doc[field] as unknown[]).push(...((page[field] as unknown[] | undefined) ?? []));
    } else {
      const lines = reply === "" ? [] : reply.split("\n");
      const last = lines[lines.length - 1];
      if (last?.startsWith("more: ")) {
        lines.pop();
        more = moreOptions(last.slice("more: ".length));
      }
      text.push(...lines);
    }
    if (!more) break;
    if (JSON.stringify(more) === JSON.stringify(cursor)) throw new Error("the daemon repeated a continuation");
    cursor = more;
  }
  if (json) return `${JSON.stringify(doc, null, 2)}\n`;
  return text.length ? `${text.join("\n")}\n` : "";
}

/** `--before 12 --limit 3` as { before: "12", limit: "3" }. */
function moreOptions(line: string): Record<string, string> {
  const words = line.split(" ");
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < words.length; i += 2) out[words[i]!.replace(/^--/, "")] = words[i + 1]!;
  return out;
}

function git(args: string[], stdin?: number): void {
  const r = spawnSync("git", args, { stdio: [stdin ?? "ignore", "ignore", "pipe"], encoding: "utf8" });
  if (r.error) throw new Error(`git: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.trim() || `exit status ${r.status}`}`);
}

async function waitForFile(file: string): Promise<void> {
  const deadline = Date.now() + EXPORT_TIMEOUT_MS;
  while (!existsSync(file)) {
    if (existsSync(`${file}.failed`)) {
      const reason = readFileSync(`${file}.failed`, "utf8").trim();
      rmSync(`${file}.failed`, { force: true });
      throw new Error(`the daemon could not write the history: ${reason}`);
    }
    if (Date.now() > deadline) throw new Error(`the daemon did not finish writing ${file}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Export into the git repository `dir`; returns what to print. */
async function exportGit(client: XenStoreClient, target: string): Promise<string> {
  const dir = resolve(target);
  const parent = dirname(dir);
  const near = existsSync(parent) && statSync(parent).isDirectory() ? parent : tmpdir();
  // The daemon creates it (and refuses to overwrite anything).
  const file = join(near, `.tsxs-history-${process.pid}-${Date.now()}.fast-import`);
  const reply = await client.control("history", "export", file);
  try {
    await waitForFile(file);
    if (!existsSync(join(dir, ".git"))) git(["init", "-q", dir]);
    const fd = openSync(file, "r");
    try {
      git(["-C", dir, "fast-import", "--quiet", "--force"], fd);
    } finally {
      closeSync(fd);
    }
    git(["-C", dir, "symbolic-ref", "HEAD", "refs/heads/main"]);
    git(["-C", dir, "reset", "-q", "--hard"]);
  } finally {
    rmSync(file, { force: true });
  }
  return `${reply.replace(/^exporting (\S+) to .*$/, "exported $1")} into ${dir}\n`;
}

/** Explain an EINVAL when a revision asked for is not retained. */
async function explain(client: XenStoreClient, p: Parsed): Promise<string | null> {
  const revisions = p.sub === "diff" ? p.positionals.slice(0, 2) : p.sub === "show" ? p.positionals.slice(0, 1) : [];
  if (!revisions.every((r) => /^\d+$/.test(r))) return null;
  const facts = JSON.parse(await client.control("history", "info", "--json")) as { oldest: number; newest: number };
  const missing = revisions.map(Number).find((r) => r < facts.oldest || r > facts.newest);
  return missing === undefined ? null : `revision ${missing} is not retained (retained: r${facts.oldest}..r${facts.newest})`;
}

/** `tsxs history ARGS...` (argv without "history"); returns the exit status. */
export async function runHistory(argv: readonly string[], out: (s: string) => void = (s) => void process.stdout.write(s)): Promise<number> {
  let p: Parsed;
  try {
    p = parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message ? `tsxs: ${e.message}\n` : ""}${USAGE}`);
    return 2;
  }
  const client = await reachDaemon();
  if (!client) return 1;
  try {
    out(p.sub === "export" ? await exportGit(client, p.options.git as string) : await query(client, p));
    return 0;
  } catch (e) {
    let message = (e as Error).message;
    if (e instanceof XsError) {
      message = `the daemon answered ${e.errno}`;
      if (e.errno === "EINVAL") message = (await explain(client, p).catch(() => null)) ?? `${message} (bad arguments)`;
    }
    process.stderr.write(`tsxs: ${message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
