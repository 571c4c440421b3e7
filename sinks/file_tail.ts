/**
 * Reading the end of a JSON-lines file, which is all the file sink needs to
 * know after a crash: whether the last line is whole, and which event it holds.
 * Both read backwards in blocks, so their cost does not grow with the file.
 */

const BLOCK = 64 * 1024;
const NEWLINE = 10;

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
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    const size = (await file.stat()).size;
    if (size === 0) return undefined;
    // The last byte is the line's own newline; the line starts after the newline before it.
    const start = ((await lastNewlineBefore(file, size - 1)) ?? -1) + 1;
    // JSON.stringify(event) puts the id first: `{"id":"<26 characters>"`.
    const head = new Uint8Array(40);
    await file.seek(start, Deno.SeekMode.Start);
    const read = await readFully(file, head);
    return /^\{"id":"([0-9A-Z]{26})"/.exec(new TextDecoder().decode(head.subarray(0, read)))?.[1];
  } finally {
    file.close();
  }
}

/** The offset of the last newline before `end`, or undefined if there is none. */
async function lastNewlineBefore(file: Deno.FsFile, end: number): Promise<number | undefined> {
  const buffer = new Uint8Array(BLOCK);
  for (let stop = end; stop > 0;) {
    const start = Math.max(0, stop - BLOCK);
    await file.seek(start, Deno.SeekMode.Start);
    const read = await readFully(file, buffer.subarray(0, stop - start));
    const at = buffer.subarray(0, read).lastIndexOf(NEWLINE);
    if (at >= 0) return start + at;
    stop = start;
  }
  return undefined;
}

async function readFully(file: Deno.FsFile, into: Uint8Array): Promise<number> {
  let read = 0;
  while (read < into.length) {
    const n = await file.read(into.subarray(read));
    if (n === null) break;
    read += n;
  }
  return read;
}
