/** The last lines of a log file, read from its end: the agent's log may be megabytes long. */

import { openExisting, readAt } from "../util/file_tail.ts";

/** Enough for ten long log lines; a longer line is cut at its start. */
const TAIL_BYTES = 64 * 1024;

const decoder = new TextDecoder();

/** The last `count` lines of `path`, oldest first; undefined when the file does not exist. */
export async function lastLines(path: string, count: number): Promise<string[] | undefined> {
  const file = await openExisting(path);
  if (!file) return undefined;
  try {
    const size = (await file.stat()).size;
    const start = Math.max(0, size - TAIL_BYTES);
    const buffer = new Uint8Array(size - start);
    const filled = await readAt(file, start, buffer);
    const lines = decoder.decode(buffer.subarray(0, filled)).split(/\r?\n/);
    // A read that starts mid-file starts mid-line: drop that fragment.
    if (start > 0) lines.shift();
    while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    return lines.slice(-count);
  } finally {
    file.close();
  }
}
