/**
 * tsxs-guest: a guest domain in an emulated Xen host, serving a Unix
 * socket through which any xenstore client talks to the daemon as that
 * domain, through the domain's ring.
 *
 *   tsxs-guest --emulate DIR --domid N --socket PATH [--dom0-socket S] [--name NAME] [--no-home]
 *
 * It runs until killed (SIGTERM, SIGINT); then the domain is destroyed
 * and the daemon fires @releaseDomain.
 */
import { parseArgs } from "node:util";
import { EmulatedGuest } from "./guest.js";

const USAGE = `Usage: tsxs-guest --emulate DIR --domid N --socket PATH [options]

Creates domain N in the emulated Xen host DIR (see tsxenstored --emulate),
with its ring page and event channel, has the daemon introduce it over the
dom0 socket, and serves PATH: clients connecting there (XENSTORED_PATH=PATH
xenstore-read name, pyxs, test-xenstore) talk to the daemon as domain N
through its ring. Runs until killed; then the domain is destroyed.

  --emulate DIR        the emulated host's directory
  --domid N            the domain's id (1-32751)
  --socket PATH        the socket to serve
  --dom0-socket PATH   the daemon's socket (default DIR/socket)
  --name NAME          the domain's name in its home (default guestN)
  --no-home            do not write /local/domain/N first
  --own-home           the domain owns /local/domain/N (default: dom0 does,
                       readable by the domain, as xl makes it)
  -h, --help           this text
`;

export async function main(argv: readonly string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        emulate: { type: "string" },
        domid: { type: "string" },
        socket: { type: "string" },
        "dom0-socket": { type: "string" },
        name: { type: "string" },
        "no-home": { type: "boolean" },
        "own-home": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`tsxs-guest: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const domid = Number(v.domid);
  if (!v.emulate || !v.socket || !/^\d+$/.test(v.domid ?? "") || domid < 1 || domid >= 0x7ff0) {
    process.stderr.write(`tsxs-guest: --emulate, --socket and a --domid from 1 to 32751 are needed\n${USAGE}`);
    return 2;
  }
  const log = (line: string): void => void process.stderr.write(`tsxs-guest: ${line}\n`);
  let guest: EmulatedGuest;
  try {
    guest = await EmulatedGuest.start({
      dir: v.emulate,
      domid,
      dom0Socket: v["dom0-socket"],
      name: v.name,
      home: !v["no-home"],
      ownHome: v["own-home"] ?? false,
      log,
    });
    await guest.serve(v.socket);
  } catch (e) {
    log((e as Error).message);
    return 1;
  }
  // Ready: what a script waits for before pointing clients at the socket.
  process.stdout.write(`domain ${domid} ready on ${v.socket}\n`);
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      void guest.stop().then(
        () => resolve(0),
        (e: Error) => {
          log(e.message);
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}
