/**
 * A test-owned sd_notify receiver: a python3 process bound to an AF_UNIX
 * SOCK_DGRAM socket (a filesystem path, or an abstract "@name") that
 * reports every datagram as a JSON line. On the first datagram carrying
 * READY=1 it immediately (before reporting anything, so no event-loop delay
 * of the test runner is involved) connects to each probe socket and sends
 * one xenstore READ of /tool/xenstored, and reads the pid file: the state of
 * the daemon at the moment it claimed readiness.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { SYSTEM_PYTHON } from "./clients.js";

export const PYTHON = existsSync(SYSTEM_PYTHON) ? SYSTEM_PYTHON : "python3";

const SCRIPT = String.raw`
import json, signal, socket, struct, sys, time
signal.alarm(int(sys.argv[4]))
addr = sys.argv[1]
probes = json.loads(sys.argv[2])
pidfile = sys.argv[3]

def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

def recv_exact(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf

def probe(path):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    try:
        c.connect(path)
        body = b"/tool/xenstored\0"
        c.sendall(struct.pack("<IIII", 2, 0x5eed, 0, len(body)) + body)
        t, rid, tx, ln = struct.unpack("<IIII", recv_exact(c, 16))
        payload = recv_exact(c, ln)
        return {"path": path, "ok": True, "type": t, "reqId": rid, "payload": payload.decode("latin-1")}
    except Exception as e:
        return {"path": path, "ok": False, "error": repr(e)}
    finally:
        c.close()

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
emit({"bound": addr})
ready_seen = False
while True:
    data = s.recv(65536)
    now = time.monotonic()
    text = data.decode("latin-1")
    if not ready_seen and "READY=1" in text.split("\n"):
        ready_seen = True
        results = [probe(p) for p in probes]
        try:
            with open(pidfile, "r") as f:
                pid_text = f.read()
        except Exception:
            pid_text = None
        emit({"msg": text, "t": now, "probes": results, "pidfile": pid_text})
    else:
        emit({"msg": text, "t": now})
`;

export interface ProbeResult {
  path: string;
  ok: boolean;
  type?: number;
  reqId?: number;
  payload?: string;
  error?: string;
}

export interface NotifyMessage {
  /** The datagram's text. */
  msg: string;
  /** Its lines. */
  lines: string[];
  /** python's time.monotonic() at reception, in seconds. */
  t: number;
  /** Only on the first READY=1 datagram: the probes' results and the pid file's text then. */
  probes?: ProbeResult[];
  pidfile?: string | null;
}

export interface NotifyListener {
  /** The value for NOTIFY_SOCKET. */
  readonly address: string;
  readonly messages: NotifyMessage[];
  /** Resolve once `cond(messages)` holds. */
  waitFor(cond: (m: NotifyMessage[]) => boolean, what: string, ms?: number): Promise<void>;
  stderr(): string;
  close(): Promise<void>;
}

const open = new Set<NotifyListener>();

/** Close every listener still open (for `after`). */
export async function closeAllNotifyListeners(): Promise<void> {
  for (const l of [...open]) await l.close();
}

export interface NotifyListenerOptions {
  /** A socket path, or "@name" for the abstract namespace. */
  address: string;
  /** Sockets to connect to on READY=1. */
  probes?: string[];
  /** A pid file to read on READY=1. */
  pidFile?: string;
  /** The listener exits by itself after this many seconds. */
  lifetimeSec?: number;
}

export async function startNotifyListener(o: NotifyListenerOptions): Promise<NotifyListener> {
  const child = spawn(PYTHON, ["-c", SCRIPT, o.address, JSON.stringify(o.probes ?? []), o.pidFile ?? "/nonexistent", String(o.lifetimeSec ?? 120)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const messages: NotifyMessage[] = [];
  const waiters = new Set<() => void>();
  let err = "";
  let buf = "";
  let bound = false;
  let exited = false;
  const exit = new Promise<void>((r) =>
    child.once("exit", () => {
      exited = true;
      for (const w of [...waiters]) w();
      r();
    }),
  );
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => (err += d));
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const obj = JSON.parse(line) as { bound?: string } & Partial<NotifyMessage>;
      if (obj.bound !== undefined) bound = true;
      else messages.push({ ...(obj as NotifyMessage), lines: obj.msg!.split("\n") });
    }
    for (const w of [...waiters]) w();
  });
  const waitFor = (cond: (m: NotifyMessage[]) => boolean, what: string, ms = 10000): Promise<void> =>
    new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        if (cond(messages)) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        } else if (exited) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`notify listener exited while waiting for ${what}: ${err}`));
        }
      };
      timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; datagrams: ${JSON.stringify(messages.map((m) => m.msg))} ${err}`));
      }, ms);
      waiters.add(check);
      check();
    });
  const listener: NotifyListener = {
    address: o.address,
    messages,
    waitFor,
    stderr: () => err,
    async close() {
      open.delete(listener);
      if (!exited) child.kill("SIGKILL");
      await exit;
    },
  };
  open.add(listener);
  try {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (bound) {
          waiters.delete(check);
          resolve();
        } else if (exited) {
          waiters.delete(check);
          reject(new Error(`notify listener failed to start: ${err}`));
        }
      };
      waiters.add(check);
      check();
    });
  } catch (e) {
    await listener.close();
    throw e;
  }
  return listener;
}
