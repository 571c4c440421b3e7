/**
 * Finds a program on PATH the way a shell would, so that a missing
 * `systemctl` or `schtasks` becomes a clear error before anything changes,
 * and tests can put stand-ins first on PATH.
 */

export interface FindOptions {
  /** The platform whose rules apply (separator, PATHEXT, executable bit). */
  os: string;
  /** The PATH value to search. */
  path?: string;
  /** Windows: the extensions to try. @default ".COM;.EXE;.BAT;.CMD" */
  pathExt?: string;
}

/** The full path of `tool`, or undefined when no PATH entry holds it. */
export async function findOnPath(tool: string, options: FindOptions): Promise<string | undefined> {
  const windows = options.os === "windows";
  const separator = windows ? "\\" : "/";
  const extensions = windows
    ? ["", ...(options.pathExt ?? ".COM;.EXE;.BAT;.CMD").split(";").filter(Boolean).map((ext) => ext.toLowerCase())]
    : [""];
  for (const dir of (options.path ?? "").split(windows ? ";" : ":")) {
    // An empty entry means the current directory to a shell; a service tool never comes from there.
    if (dir === "") continue;
    const base = dir.endsWith(separator) || dir.endsWith("/") ? dir : dir + separator;
    for (const extension of extensions) {
      const candidate = base + tool + extension;
      if (await isProgram(candidate, windows)) return candidate;
    }
  }
  return undefined;
}

async function isProgram(path: string, windows: boolean): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return false;
    // Windows has no executable bit; elsewhere a file without one cannot run.
    return windows || info.mode === null || (info.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}
