/**
 * Reading the end of a JSON-lines file, which is all the file sink needs to
 * know after a crash: whether the last line is whole, and which event it holds.
 * Both read backwards (lib/util/file_tail.ts), so their cost does not grow with the file.
 */

import { lastNewlineBefore, openExisting, readAt } from "../lib/util/file_tail.ts";

/**
 * Cuts a torn last line (a crash in the middle of a write) and returns the
 * file's size after. That event was not done, so it comes again and is
 * written whole.
 */
export async function cutTornLine(file: Deno.FsFile, size: number): Promise<number> {
  const end = await lastNewlineBefore(file, size);
  const whole = end === undefined ? 0 : end + 1;
  if (whole < size) await file.truncate(whole);
  return whole;
}

/** The event id at the start of the file's last line, or undefined for an empty or missing file. */
export async function lastLineId(path: string): Promise<string | undefined> {
  const file = await openExisting(path);
  if (!file) return undefined;
  try {
    const size = (await file.stat()).size;
    if (size === 0) return undefined;
    // The last byte is the line's own newline; the line starts after the newline before it.
    const start = ((await lastNewlineBefore(file, size - 1)) ?? -1) + 1;
    // JSON.stringify(event) puts the id first: `{"id":"<26 characters>"`.
    const head = new Uint8Array(40);
    const read = await readAt(file, start, head);
    return /^\{"id":"([0-9A-Z]{26})"/.exec(new TextDecoder().decode(head.subarray(0, read)))?.[1];
  } finally {
    file.close();
  }
}
