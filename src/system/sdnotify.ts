/**
 * systemd's readiness protocol (sd_notify): datagrams to $NOTIFY_SOCKET
 * (a path or an abstract "@name"): READY=1 once every socket accepts,
 * STATUS= lines, STOPPING=1 on shutdown, and WATCHDOG=1 keep-alives when
 * $WATCHDOG_USEC asks for them.
 */
import { native } from "./native.js";

export class Notifier {
  private readonly socket: string | null;
  private watchdog: NodeJS.Timeout | null = null;
  private readonly watchdogUsec: number;

  /** Takes NOTIFY_SOCKET and the watchdog settings out of `env` (children must not inherit them). */
  constructor(env: NodeJS.ProcessEnv, private readonly log: (line: string) => void = () => {}) {
    this.socket = env.NOTIFY_SOCKET || null;
    const usec = Number(env.WATCHDOG_USEC ?? 0);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    this.watchdogUsec = forUs && usec > 0 ? usec : 0;
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
  }

  get enabled(): boolean {
    return this.socket !== null;
  }

  send(...lines: string[]): boolean {
    if (!this.socket) return false;
    const n = native();
    if (!n) {
      this.log("sd_notify: native helper not built; cannot notify systemd");
      return false;
    }
    const err = n.notify(this.socket, lines.join("\n"));
    if (err) this.log(`sd_notify to ${this.socket} failed: errno ${err}`);
    return err === 0;
  }

  ready(status: string): void {
    this.send("READY=1", `STATUS=${status}`, `MAINPID=${process.pid}`);
    if (this.watchdogUsec && this.socket) {
      // Ping at half the interval, as sd_watchdog_enabled(3) recommends.
      const ms = Math.max(1, Math.floor(this.watchdogUsec / 2000));
      this.watchdog = setInterval(() => this.send("WATCHDOG=1"), ms);
      this.watchdog.unref();
    }
  }

  stopping(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    this.send("STOPPING=1", "STATUS=Shutting down");
  }
}
