export {
  XenStoreClient,
  Transaction,
  Operations,
  defaultSocketPath,
  formatPerms,
  parsePerms,
  type Permission,
  type WatchEvent,
  type Watcher,
} from "./client.js";
export { Op, XsError, type XsErrno } from "../protocol/messages.js";
