/** Public API of the tsxenstored package: the client library and the embeddable daemon core. */
export * from "./client/index.js";
export { Xenstored, type XenstoredOptions } from "./server/xenstored.js";
export { startDaemon, type Daemon } from "./daemon/main.js";
export { parseOptions, type DaemonOptions } from "./daemon/options.js";
export { Op, XsError, PAYLOAD_MAX, type Packet, type XsErrno } from "./protocol/messages.js";
