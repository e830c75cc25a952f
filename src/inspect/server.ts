/**
 * The inspector's HTTP server (`--inspect ADDR`): the page, its front-end
 * toolkit (Preact and htm, served as ES modules from node_modules, no
 * bundler), the JSON API (src/inspect/api.ts) and the live feed
 * (src/inspect/feed.ts). Read-only: GET only, any other method is 405.
 *
 * It runs in the daemon's event loop, so every answer is bounded (pages,
 * a scan limit, a limited number of feed clients and connections) and
 * static files are read once at start. On TCP it listens on loopback only
 * and answers only requests naming a loopback host, so a web page
 * elsewhere cannot reach it through DNS rebinding; on a Unix socket
 * (mode 0600) only its owner can connect.
 */
import { createHash } from "node:crypto";
import { chmodSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { socketAnswers } from "../transport/unix.js";
import type { InspectAddress } from "./address.js";
import * as api from "./api.js";
import { Feed, type FeedOptions } from "./feed.js";
import type { InspectSource } from "./source.js";

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/** The page's own files: index.html and style.css beside the sources, the compiled page beside this module. */
const PAGE_SOURCES = new URL("../../../src/inspect/page/", import.meta.url);
const PAGE_COMPILED = new URL("./page/", import.meta.url);

/** The toolkit's ES modules, by the names the page's import map gives them. */
const VENDOR: Record<string, string> = {
  "preact.mjs": "preact",
  "preact-hooks.mjs": "preact/hooks",
  "htm.mjs": "htm",
  "htm-preact.mjs": "htm/preact",
};

const JS = "text/javascript; charset=utf-8";

function loadAssets(): { assets: Map<string, Asset>; csp: string } {
  const assets = new Map<string, Asset>();
  const html = readFileSync(new URL("index.html", PAGE_SOURCES));
  assets.set("/", { type: "text/html; charset=utf-8", body: html });
  assets.set("/static/style.css", { type: "text/css; charset=utf-8", body: readFileSync(new URL("style.css", PAGE_SOURCES)) });
  for (const name of readdirSync(PAGE_COMPILED)) {
    if (name.endsWith(".js")) assets.set(`/static/${name}`, { type: JS, body: readFileSync(new URL(name, PAGE_COMPILED)) });
  }
  for (const [name, specifier] of Object.entries(VENDOR)) {
    assets.set(`/vendor/${name}`, { type: JS, body: readFileSync(fileURLToPath(import.meta.resolve(specifier))) });
  }
  // The one inline script, the import map, is allowed by its hash; nothing else inline runs.
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html.toString("utf8"))?.[1] ?? "";
  const hash = createHash("sha256").update(importMap).digest("base64");
  const csp =
    `default-src 'self'; script-src 'self' 'sha256-${hash}'; style-src 'self'; img-src 'self' data:; ` +
    `connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  return { assets, csp };
}

type Route = (src: InspectSource, q: URLSearchParams) => object;

const ROUTES: Record<string, Route> = {
  "/api/info": (src) => api.info(src),
  "/api/node": api.node,
  "/api/domains": api.domains,
  "/api/history": api.history,
  "/api/diff": api.diff,
};

/** Host header values a loopback listener answers to (DNS rebinding guard). */
const LOOPBACK_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?$/i;

export interface InspectOptions extends FeedOptions {
  log?: (line: string) => void;
  /** Most open HTTP connections (feed clients included). */
  maxConnections?: number;
}

export class InspectServer {
  readonly feed: Feed;
  private readonly log: (line: string) => void;

  private constructor(
    private readonly server: Server,
    readonly address: InspectAddress,
    feed: Feed,
    log: (line: string) => void,
  ) {
    this.feed = feed;
    this.log = log;
  }

  /** Listen at `address` and serve `src`; rejects with why it cannot (address in use, bad socket path). */
  static async start(src: InspectSource, address: InspectAddress, opts: InspectOptions = {}): Promise<InspectServer> {
    const log = opts.log ?? (() => {});
    const { assets, csp } = loadAssets();
    const feed = new Feed(opts);
    src.tree.onCommit((r) => feed.commit(r));
    src.onWatchEvent((e) => feed.watch(e));
    const tcp = address.kind === "tcp";
    const server = createServer({ requireHostHeader: true }, (req, res) => {
      try {
        handle(src, assets, csp, feed, tcp, req, res);
      } catch (e) {
        // Nothing a client sends may take the daemon down.
        log(`inspector: ${req.method} ${req.url}: ${(e as Error).stack ?? e}`);
        if (!res.headersSent) send(res, 500, { error: "internal error" });
        else res.destroy();
      }
    });
    server.maxConnections = opts.maxConnections ?? 64;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.on("clientError", (_e, socket) => socket.destroy());
    if (address.kind === "unix") {
      let stale = false;
      try {
        stale = statSync(address.path).isSocket();
      } catch {
        /* not there */
      }
      if (stale) {
        if (await socketAnswers(address.path)) throw new Error(`inspector: ${address.path} is in use`);
        rmSync(address.path, { force: true });
      }
    }
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e) => reject(new Error(`inspector: cannot listen on ${where(address)}: ${e.message}`)));
      if (address.kind === "unix") server.listen(address.path, () => resolve());
      else server.listen(address.port, address.host, () => resolve());
    });
    server.on("error", (e) => log(`inspector: ${e.message}`));
    let bound = address;
    if (address.kind === "unix") chmodSync(address.path, 0o600);
    else bound = { ...address, port: (server.address() as AddressInfo).port };
    return new InspectServer(server, bound, feed, log);
  }

  /** Stop listening, end the feed's streams and every connection. */
  async close(): Promise<void> {
    this.feed.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    if (this.address.kind === "unix") rmSync(this.address.path, { force: true });
    this.log("inspector closed");
  }
}

function where(a: InspectAddress): string {
  return a.kind === "unix" ? a.path : `${a.host}:${a.port}`;
}

function handle(
  src: InspectSource,
  assets: Map<string, Asset>,
  csp: string,
  feed: Feed,
  tcp: boolean,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  if (tcp && !LOOPBACK_HOST.test(req.headers.host ?? "")) return send(res, 421, { error: "this server answers only to a loopback host name" });
  if (req.method !== "GET") {
    res.setHeader("allow", "GET");
    return send(res, 405, { error: `${req.method} is not allowed: the inspector is read-only` });
  }
  const url = new URL(req.url ?? "/", "http://inspector");
  const route = ROUTES[url.pathname];
  if (route) {
    try {
      return send(res, 200, route(src, url.searchParams));
    } catch (e) {
      if (e instanceof api.ApiError) return send(res, e.status, { error: e.message });
      throw e;
    }
  }
  if (url.pathname === "/api/events") {
    if (!feed.add(res, src.tree.head.revision)) send(res, 503, { error: `too many live feed clients (at most ${feed.maxClients})` });
    return;
  }
  if (url.pathname === "/favicon.ico") {
    res.writeHead(204);
    res.end();
    return;
  }
  const asset = assets.get(url.pathname === "/index.html" ? "/" : url.pathname);
  if (!asset) return send(res, 404, { error: `no such page: ${url.pathname}` });
  res.writeHead(200, {
    "content-type": asset.type,
    "content-length": asset.body.length,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "content-security-policy": csp,
    "referrer-policy": "no-referrer",
  });
  res.end(asset.body);
}

function send(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(text);
}
