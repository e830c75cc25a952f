/**
 * Talking to the inspector (--inspect) over HTTP: plain requests over TCP
 * or its Unix socket, and a reader of its live feed (Server-Sent Events).
 */
import { request, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from "node:http";
import { startTsxenstored, type RunningDaemon } from "./daemon.js";

/** Where an inspector listens: a Unix socket path or a TCP port on 127.0.0.1. */
export type Where = { socketPath: string } | { port: number };

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function options(where: Where, path: string, method: string, headers: Record<string, string>): RequestOptions {
  const base = "socketPath" in where ? { socketPath: where.socketPath } : { host: "127.0.0.1", port: where.port };
  return { ...base, path, method, headers };
}

export function http(where: Where, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(options(where, path, opts.method ?? "GET", opts.headers ?? {}), (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** GET and parse JSON; status included so tests assert both. */
export async function getJson(where: Where, path: string): Promise<{ status: number; json: unknown }> {
  const a = await http(where, path);
  return { status: a.status, json: JSON.parse(a.body) as unknown };
}

export interface FeedMessage {
  event: string;
  data: unknown;
}

/** A live feed client: collects messages; `take(n)` waits for the next n. */
export class FeedReader {
  private readonly messages: FeedMessage[] = [];
  private buffer = "";
  private waiter: (() => void) | null = null;
  private res: IncomingMessage | null = null;
  status = 0;

  private constructor() {}

  static open(where: Where): Promise<FeedReader> {
    const r = new FeedReader();
    return new Promise((resolve, reject) => {
      const req = request(options(where, "/api/events", "GET", {}), (res) => {
        r.res = res;
        r.status = res.statusCode ?? 0;
        res.setEncoding("utf8");
        res.on("data", (d: string) => r.push(d));
        res.on("error", () => undefined);
        resolve(r);
      });
      req.on("error", reject);
      req.end();
    });
  }

  private push(text: string): void {
    this.buffer += text;
    for (let end = this.buffer.indexOf("\n\n"); end >= 0; end = this.buffer.indexOf("\n\n")) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) this.messages.push({ event, data: JSON.parse(data) as unknown });
    }
    this.waiter?.();
  }

  /** The next `n` messages (waits for them). */
  async take(n: number): Promise<FeedMessage[]> {
    while (this.messages.length < n) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
    return this.messages.splice(0, n);
  }

  /** Messages received and not yet taken. */
  get waiting(): number {
    return this.messages.length;
  }

  /** Read no more (the socket's buffers fill, then the server's). */
  stopReading(): void {
    this.res?.socket.pause();
  }

  close(): void {
    this.res?.destroy();
  }
}

/** Start tsxenstored with `--inspect ADDR`; `where` is parsed from its "inspector on ..." line. */
export async function startInspected(addr: string, args: string[] = []): Promise<{ daemon: RunningDaemon; where: Where; url: string }> {
  const daemon = await startTsxenstored(["--inspect", addr, ...args]);
  // Announced before the sockets accept (stderr may still be on its way).
  for (let i = 0; i < 500 && !/inspector on \S+\n/.test(daemon.output()); i++) await new Promise((r) => setTimeout(r, 10));
  const line = /inspector on (\S+)\n/.exec(daemon.output());
  if (!line) {
    await daemon.stop();
    throw new Error(`no inspector line in: ${daemon.output()}`);
  }
  const url = line[1]!;
  const where: Where = url.startsWith("unix:") ? { socketPath: url.slice(5) } : { port: Number(new URL(url).port) };
  return { daemon, where, url };
}
