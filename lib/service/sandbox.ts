/**
 * The systemd sandbox makes the whole file system read-only except the
 * state dir. Sinks and sources named in the config may need more: a file
 * sink appends to its path, a fifo source makes its pipe, and anything in
 * /tmp must stay visible to the programs that share it with the agent.
 */

import type { HarkConfig } from "../config/config.ts";
import { isInside, parentDir } from "./platform_path.ts";

export interface SandboxPaths {
  /** Directories the agent writes outside its state dir (file sinks' and fifo sources' directories). */
  writable: string[];
  /** Config paths in /tmp or /var/tmp: other programs must see them, so the service keeps the shared /tmp. */
  sharedTmp: string[];
}

export const NO_EXTRA_PATHS: SandboxPaths = { writable: [], sharedTmp: [] };

const SHARED_TMP_DIRS = ["/tmp", "/var/tmp"];

/**
 * What the sandbox must leave open for `config`. Relative paths are left
 * out: they depend on the directory the agent starts in, which the sandbox
 * does not change.
 */
export function sandboxPaths(config: HarkConfig, stateDir: string): SandboxPaths {
  const written = [
    ...config.sinks.filter((sink) => sink.type === "file").map((sink) => sink.path),
    ...config.sources.filter((source) => source.type === "fifo").map((source) => source.path),
  ].filter((path): path is string => path !== undefined && path.startsWith("/"));
  const read = config.sources.filter((source) => source.type === "watch").map((source) => source.path)
    .filter((path): path is string => path !== undefined && path.startsWith("/"));
  const writable = unique(
    written.map((path) => parentDir("linux", path)).filter((dir) => !isInside("linux", dir, stateDir)),
  );
  const sharedTmp = unique(
    [...written, ...read].filter((path) => SHARED_TMP_DIRS.some((tmp) => isInside("linux", path, tmp))),
  );
  return { writable, sharedTmp };
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
