/**
 * Files that hold secrets (the identity, the network key) and the state
 * directory must be the owner's alone. One check, so that the agent, its
 * loaders and `hark doctor` agree on what "too open" means.
 */

/** Whether a POSIX mode lets group or others in; `null` (Windows) never does. */
export function openToOthers(mode: number | null): boolean {
  return mode !== null && (mode & 0o077) !== 0;
}

/** A mode as `ls -l` users know it: `644`. */
export function octalMode(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, "0");
}
