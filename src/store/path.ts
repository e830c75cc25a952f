/**
 * Path syntax (xenstore.txt "Paths"): absolute paths under `/`, relative
 * paths under the caller's home `/local/domain/<domid>`, and `@` special
 * paths where an op allows them. Validation follows C xenstored: allowed
 * characters, no `//`, no trailing `/`, and the path-max quota applied to
 * the part after `/local/domain/<domid>/`.
 */

const VALID = /^[A-Za-z0-9\-/_@]*$/;

/** Home directory of a domain: GET_DOMAIN_PATH and the base of relative paths. */
export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** Length of the `/local/domain/<N>/` prefix that path-max does not count (cx sscanf `%5u/`). */
function localPrefixLength(path: string): number {
  const m = /^\/local\/domain\/(-\d{1,4}|\d{1,5})\//.exec(path);
  return m ? m[0].length : 0;
}

export function isSpecial(path: string): boolean {
  return path.startsWith("@");
}

/**
 * Is `path` (already absolute) a valid node name under `pathMax`?
 * Special `@` paths are not node names.
 */
export function isValidNodePath(path: string, pathMax: number): boolean {
  if (!path.startsWith("/")) return false;
  if (path.length > 1 && path.endsWith("/")) return false;
  if (path.includes("//")) return false;
  if (path.length > localPrefixLength(path) + pathMax) return false;
  return VALID.test(path);
}

/** Join a relative path onto the caller's home (cx `canonicalize`). */
export function absolutize(path: string, home: string): string {
  if (path.startsWith("/") || path.startsWith("@")) return path;
  return `${home}/${path}`;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Components of an absolute path: "/" → [], "/a/b" → ["a", "b"]. */
export function components(path: string): string[] {
  return path === "/" ? [] : path.slice(1).split("/");
}

export function childPath(parent: string, name: string): string {
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

/** Is `path` equal to `ancestor` or below it? (cx watch `is_child`) */
export function isAtOrBelow(path: string, ancestor: string): boolean {
  if (ancestor === "/") return true;
  if (!path.startsWith(ancestor)) return false;
  return path.length === ancestor.length || path.charCodeAt(ancestor.length) === 47; /* '/' */
}

/** Number of components `path` lies below `ancestor` (0 when equal). */
export function depthBelow(path: string, ancestor: string): number {
  if (path.length === ancestor.length) return 0;
  const rest = ancestor === "/" ? path.slice(1) : path.slice(ancestor.length + 1);
  let n = 1;
  for (let i = 0; i < rest.length; i++) if (rest.charCodeAt(i) === 47) n++;
  return n;
}
