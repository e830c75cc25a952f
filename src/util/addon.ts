/**
 * The native addons built by `npm ci` (node-gyp, build/Release/*.node),
 * each loaded once on first use. Everything that uses one degrades
 * gracefully when it did not build, so a missing addon is null, not an
 * error.
 */
import { createRequire } from "node:module";

/** A function returning the addon `build/Release/<name>.node` (loaded once), or null when it is missing. */
export function addonLoader<T>(name: string): () => T | null {
  let loaded: T | null | undefined;
  return () => {
    if (loaded === undefined) {
      try {
        loaded = createRequire(import.meta.url)(`../../../build/Release/${name}.node`) as T;
      } catch {
        loaded = null;
      }
    }
    return loaded;
  };
}
