/**
 * systemd socket activation (sd_listen_fds): when LISTEN_PID is our pid,
 * LISTEN_FDS sockets start at fd 3, named by LISTEN_FDNAMES. We take the
 * read-write `socket` and the read-only `socket_ro` (or, with systemd's
 * default names, `xenstored.socket` and `xenstored_ro.socket`); without
 * telling names the first is read-write and the second read-only. The
 * variables are removed so that children do not inherit them.
 */
import { native } from "./native.js";

export const SD_LISTEN_FDS_START = 3;

export interface InheritedSockets {
  rw: number;
  ro: number | null;
}

export class ActivationError extends Error {}

export function takeListenFds(env: NodeJS.ProcessEnv, pid = process.pid): InheritedSockets | null {
  const listenPid = env.LISTEN_PID;
  const count = Number(env.LISTEN_FDS ?? 0);
  const names = env.LISTEN_FDNAMES;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (listenPid === undefined || Number(listenPid) !== pid || !(count > 0)) return null;
  const fds = Array.from({ length: count }, (_, i) => SD_LISTEN_FDS_START + i);
  const n = native();
  for (const fd of fds) {
    if (!n) throw new ActivationError("socket activation needs the native helper (rebuild with `npm ci`)");
    const info = n.socketInfo(fd);
    if (!info) throw new ActivationError(`inherited fd ${fd} is not a socket`);
    if (info.family !== "unix" || info.type !== "stream") {
      throw new ActivationError(`inherited fd ${fd} is a ${info.family} ${info.type} socket; a Unix stream socket is needed (ListenStream= with a path)`);
    }
    if (!info.listening) throw new ActivationError(`inherited fd ${fd} is not listening`);
  }
  if (fds.length > 2) throw new ActivationError(`${fds.length} sockets inherited; tsxenstored serves two at most (socket and socket_ro)`);
  const list = names ? names.split(":") : [];
  // FileDescriptorName=socket / socket_ro, or systemd's default: the unit's
  // name, e.g. xenstored.socket and xenstored_ro.socket.
  const readOnly = (i: number): boolean => list[i] !== undefined && (list[i] === "socket_ro" || /[_-]ro(\.socket)?$/.test(list[i]!));
  const exact = list.indexOf("socket");
  const rwIndex = exact >= 0 && exact < fds.length ? exact : fds.findIndex((_, i) => !readOnly(i));
  if (rwIndex < 0) throw new ActivationError(`LISTEN_FDNAMES=${names} has no read-write socket (name the sockets with FileDescriptorName=socket / socket_ro)`);
  const roIndex = fds.findIndex((_, i) => i !== rwIndex);
  return { rw: fds[rwIndex]!, ro: roIndex >= 0 ? fds[roIndex]! : null };
}
