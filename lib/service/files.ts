/** File steps of install and uninstall, each safe to repeat and tolerant of what is already there or gone. */

import { parentDir } from "./platform_path.ts";

import { exists } from "../util/files.ts";

export { exists, writeFileAtomically } from "../util/files.ts";

export async function readTextIfPresent(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Removes a file; false when it was not there. */
export async function removeIfPresent(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Removes each of `dirs` (deepest first) that is empty, and stops at the
 * first that is not: install may have created them, and nothing else keeps
 * files there.
 */
export async function removeEmptyDirs(dirs: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of dirs) {
    try {
      let empty = true;
      for await (const _entry of Deno.readDir(dir)) {
        empty = false;
        break;
      }
      if (!empty) break;
      await Deno.remove(dir);
      removed.push(dir);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
  }
  return removed;
}

/**
 * Creates `dir` and its missing parents, handing each new one to `uid`:`gid`,
 * so that root installing a service for another user leaves no root-owned
 * directory in that user's home.
 */
export async function makeDirsFor(os: string, dir: string, owner: { uid: number; gid: number }, mode: number) {
  const missing: string[] = [];
  for (let current = dir; !(await exists(current)); current = parentDir(os, current)) {
    missing.unshift(current);
    if (parentDir(os, current) === current) break;
  }
  for (const path of missing) {
    await Deno.mkdir(path, { mode });
    await Deno.chown(path, owner.uid, owner.gid);
  }
}
