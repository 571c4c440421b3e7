/**
 * Path arithmetic for a named platform rather than the one running: tests
 * write Windows task definitions on Linux, and `hark service` must never
 * mix separators in what it writes.
 */

function isWindows(os: string): boolean {
  return os === "windows";
}

/** `C:\x`, `C:/x` and `\\server\share` on Windows; `/x` elsewhere. */
export function isAbsolutePath(os: string, path: string): boolean {
  if (isWindows(os)) return /^[A-Za-z]:[\\/]/.test(path) || path.startsWith("\\\\");
  return path.startsWith("/");
}

/** `dir` and `name` joined with the platform's separator. */
export function joinPath(os: string, dir: string, ...names: string[]): string {
  const separator = isWindows(os) ? "\\" : "/";
  let path = dir;
  for (const name of names) {
    path = path.endsWith(separator) || (!isWindows(os) && path.endsWith("/")) ? path + name : path + separator + name;
  }
  return path;
}

/**
 * `path` made absolute against `cwd`, with `.` and `..` segments and
 * repeated separators removed, so the service names the same file whatever
 * directory it starts in.
 */
export function absolutePath(os: string, cwd: string, path: string): string {
  const full = isAbsolutePath(os, path) ? path : joinPath(os, cwd, path);
  if (!isWindows(os)) return "/" + tidy(full.split("/"), 0).join("/");
  const unc = full.startsWith("\\\\");
  // The parts that `..` cannot climb above: the drive, or a UNC path's server and share.
  const kept = tidy(full.split(/[\\/]+/).slice(unc ? 1 : 0), unc ? 2 : 1);
  return (unc ? "\\\\" : "") + kept.join("\\") + (kept.length === 1 ? "\\" : "");
}

/** `parts` without empty and `.` segments, each `..` removing the one before unless it is among the first `fixed`. */
function tidy(parts: string[], fixed: number): string[] {
  const kept: string[] = [];
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (kept.length > fixed) kept.pop();
      continue;
    }
    kept.push(part);
  }
  return kept;
}

/** The directory that holds `path`. */
export function parentDir(os: string, path: string): string {
  const index = Math.max(path.lastIndexOf("/"), isWindows(os) ? path.lastIndexOf("\\") : -1);
  if (index <= 0) return isWindows(os) ? path : "/";
  return path.slice(0, index);
}

/** The last segment of `path`, with either separator. */
export function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
}

/** Whether `path` is `dir` or lies inside it. */
export function isInside(os: string, path: string, dir: string): boolean {
  const separator = isWindows(os) ? "\\" : "/";
  const fold = (text: string) => isWindows(os) ? text.toLowerCase() : text;
  const base = dir.endsWith(separator) ? dir : dir + separator;
  return fold(path) === fold(dir) || fold(path).startsWith(fold(base));
}
