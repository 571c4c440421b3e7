/**
 * The state dir holds the identity key, the control socket and (later) the
 * event store. Only its owner may read it: it is created with mode 0700, and
 * an existing one that others can read is refused, not silently changed.
 */

import { StateDirError } from "../errors.ts";
import { inDir } from "../config/paths.ts";
import { octalMode, openToOthers } from "../util/owner_only.ts";

const POSIX = Deno.build.os !== "windows";

/** Creates the state dir if needed and checks that it is private and writable. */
export async function prepareStateDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new StateDirError(
      `Cannot create state dir "${dir}": ${reason(error)}. Pick another with --state-dir or HARK_STATE_DIR.`,
      { cause: error },
    );
  }
  const info = await Deno.stat(dir);
  if (!info.isDirectory) {
    throw new StateDirError(`State dir "${dir}" is not a directory.`);
  }
  if (POSIX && openToOthers(info.mode)) {
    const mode = octalMode(info.mode!);
    throw new StateDirError(
      `State dir "${dir}" is open to other users (mode ${mode}); it holds private keys. Run: chmod 700 "${dir}"`,
    );
  }
  const probe = inDir(dir, `.write-test-${crypto.randomUUID()}`);
  try {
    await Deno.writeFile(probe, new Uint8Array(), { mode: 0o600 });
    await Deno.remove(probe);
  } catch (error) {
    throw new StateDirError(
      `Cannot write to state dir "${dir}": ${reason(error)}. Fix its permissions or pick another with --state-dir.`,
      { cause: error },
    );
  }
}

/** A short reason from a filesystem error, without a stack. */
export function reason(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotFound) return "no such file or directory";
  if (error instanceof Deno.errors.AlreadyExists) return "it already exists";
  if (error instanceof Deno.errors.NotADirectory) return "a parent is not a directory";
  if (error instanceof Error) return error.message.replace(/\s*\(os error \d+\).*$/, "");
  return String(error);
}
