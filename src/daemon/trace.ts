/**
 * The -T trace file: one line per request, reply and watch event, in the
 * layout of C xenstored's `trace_io` (NULs shown as spaces), reopened on
 * SIGHUP for log rotation and switchable with `xenstore-control log`.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { resolve } from "node:path";
import { opName, type Packet } from "../protocol/messages.js";
import type { Connection } from "../server/connection.js";

function stamp(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  return `${p(d.getFullYear(), 4)}${p(d.getMonth() + 1)}${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export class Tracer {
  private stream: WriteStream | null = null;
  private file: string | null;

  constructor(file: string | null) {
    this.file = file ? resolve(file) : null;
  }

  get path(): string | null {
    return this.file;
  }

  /** (Re)open the file: start, SIGHUP, `log on`. */
  reopen(): void {
    this.close();
    if (!this.file) return;
    this.stream = createWriteStream(this.file, { flags: "a", mode: 0o600 });
    this.stream.on("error", () => {
      this.stream = null;
    });
    this.stream.write("\n***\n");
  }

  close(): void {
    this.stream?.end();
    this.stream = null;
  }

  setFile(file: string): void {
    this.file = resolve(file);
    this.reopen();
  }

  line(text: string): void {
    this.stream?.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  io(conn: Connection, direction: "IN" | "OUT", packet: Packet): void {
    if (!this.stream) return;
    const body = packet.payload.toString("latin1").replace(/\0/g, " ");
    this.stream.write(`${direction} conn${conn.seq} (d${conn.domid}) ${stamp(new Date())} ${opName(packet.type)} (${body})\n`);
  }

  /** Flush and close, waiting for the data to reach the file. */
  async end(): Promise<void> {
    const s = this.stream;
    this.stream = null;
    if (s) await new Promise<void>((r) => s.end(() => r()));
  }
}
