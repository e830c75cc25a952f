/**
 * `--metrics ADDR`: an HTTP listener serving `GET /metrics` (the
 * Prometheus text format) on a Unix socket (ADDR contains a `/`) or on a
 * loopback TCP address (`127.0.0.1:PORT`, `[::1]:PORT`, `localhost:PORT`).
 * Anything else is refused at start: the daemon never listens beyond the
 * host unasked. Off unless given.
 */
import { lstatSync, chmodSync, unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import type { MetricsAddress } from "./address.js";

export interface MetricsSource {
  readonly contentType: string;
  text(): Promise<string>;
}

export class MetricsServer {
  private readonly server: Server;
  private bound: MetricsAddress | null = null;

  constructor(
    private readonly address: MetricsAddress,
    private readonly source: MetricsSource,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
    // A scraper that misbehaves costs one socket, never the daemon.
    this.server.on("clientError", (_e, socket) => socket.destroy());
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 10_000;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    try {
      const body = await this.source.text();
      res.writeHead(200, { "content-type": this.source.contentType });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch (e) {
      this.log(`metrics: ${(e as Error).message}`);
      res.writeHead(500, { "content-type": "text/plain" }).end("internal error\n");
    }
  }

  /** Start listening (a stale Unix socket left by a dead daemon is replaced); the address bound. */
  async listen(): Promise<MetricsAddress> {
    const a = this.address;
    if (a.kind === "unix") {
      try {
        if (lstatSync(a.path).isSocket()) unlinkSync(a.path);
      } catch {
        /* not there */
      }
    }
    await new Promise<void>((resolveListen, reject) => {
      this.server.once("error", reject);
      if (a.kind === "unix") this.server.listen(a.path, () => resolveListen());
      else this.server.listen(a.port, a.host, () => resolveListen());
    });
    this.server.on("error", (e) => this.log(`metrics listener: ${e.message}`));
    if (a.kind === "unix") {
      chmodSync(a.path, 0o660);
      this.bound = a;
    } else {
      this.bound = { kind: "tcp", host: a.host, port: (this.server.address() as AddressInfo).port };
    }
    return this.bound;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    if (this.bound?.kind === "unix") {
      try {
        unlinkSync(this.bound.path);
      } catch {
        /* gone */
      }
    }
  }
}
