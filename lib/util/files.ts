/** File operations several parts share: crash-safe writes, and asking whether a path exists. */

/**
 * Writes through a temporary file and a rename, so a reader (a service
 * manager, the next start) never sees half a file. The file gets exactly
 * `mode`, whatever the umask.
 */
export async function writeFileAtomically(path: string, data: Uint8Array, mode: number): Promise<void> {
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeFile(temporary, data, { mode });
    if (Deno.build.os !== "windows") await Deno.chmod(temporary, mode);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/** A file only its owner can read (mode 0600), written crash-safely: keys, the peer book. */
export function writePrivateFile(path: string, data: Uint8Array): Promise<void> {
  return writeFileAtomically(path, data, 0o600);
}

/** Whether anything (a file, a directory, a dangling link) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
