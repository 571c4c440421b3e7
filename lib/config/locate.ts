/**
 * Finds the line of a key in TOML text, so config errors can point at it.
 * smol-toml returns plain values without positions; this scans the text the
 * way TOML scopes keys: `[table]` and `[[array]]` headers, then `key = ...`.
 */

/** A path into parsed config: `["network", "listen"]`, `["sink", 1, "path"]`. */
export type KeyPath = (string | number)[];

const HEADER = /^\s*(\[\[?)\s*([A-Za-z0-9_.\-"' ]+?)\s*\]\]?\s*(#.*)?$/;
const ASSIGNMENT = /^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.\-]+)\s*=/;

function unquote(key: string): string {
  return key.replace(/^["']|["']$/g, "");
}

/** The 1-based line where `path` is set, or 0 when it cannot be found. */
export function locateKey(text: string, path: KeyPath): number {
  const lines = text.split(/\r?\n/);
  const arrayCounts = new Map<string, number>();
  let table: KeyPath = [];
  let headerLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const header = HEADER.exec(line);
    if (header) {
      const name = unquote(header[2].trim());
      if (header[1] === "[[") {
        const index = arrayCounts.get(name) ?? 0;
        arrayCounts.set(name, index + 1);
        table = [...name.split("."), index];
      } else {
        table = name.split(".");
      }
      // Fallback for keys that cannot be found: the table they belong to.
      if (table.length <= path.length && samePrefix(table, path)) {
        headerLine = i + 1;
      }
      continue;
    }
    const assignment = ASSIGNMENT.exec(line);
    if (!assignment) continue;
    const key = assignment[1].split(".").map(unquote);
    const full = [...table, ...key];
    if (full.length === path.length && samePrefix(full, path)) return i + 1;
  }
  return headerLine;
}

function samePrefix(a: KeyPath, b: KeyPath): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (String(a[i]) !== String(b[i])) return false;
  return true;
}
