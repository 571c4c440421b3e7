/**
 * Calls back when a file changes. Watches the file's directory, not the
 * file: editors save by writing a new file and renaming it over the old one,
 * which ends a watch on the file itself. Quiet while nothing changes
 * (inotify, no polling); a burst of writes is one call.
 */

import { dirname, resolve } from "node:path";

export interface FileWatch {
  close(): void;
}

export function watchFile(path: string, onChange: () => void, debounceMs = 100): FileWatch {
  const target = resolve(path);
  let watcher: Deno.FsWatcher | undefined;
  try {
    watcher = Deno.watchFs(dirname(target), { recursive: false });
  } catch {
    // The directory is gone; there is nothing to watch until a restart.
    return { close() {} };
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "access" || !event.paths.some((changed) => resolve(changed) === target)) continue;
        clearTimeout(timer);
        timer = setTimeout(() => {
          timer = undefined;
          onChange();
        }, debounceMs);
      }
    } catch {
      // Closed, or the directory went away.
    }
  })();
  return {
    close() {
      clearTimeout(timer);
      timer = undefined;
      try {
        watcher?.close();
      } catch {
        // Already closed.
      }
      watcher = undefined;
    },
  };
}
