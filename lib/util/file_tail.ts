/**
 * Reading a file from its end, whose cost does not grow with the file: the
 * file sink's last line after a crash (sinks/file_tail.ts) and the agent's
 * log for `hark status` (lib/service/log_tail.ts).
 */

const BLOCK = 64 * 1024;
const NEWLINE = 10;

/** The file opened for reading, or undefined when nothing is at `path`. */
export async function openExisting(path: string): Promise<Deno.FsFile | undefined> {
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Reads from `offset` until `into` is full or the file ends; returns the bytes read. */
export async function readAt(file: Deno.FsFile, offset: number, into: Uint8Array): Promise<number> {
  await file.seek(offset, Deno.SeekMode.Start);
  let read = 0;
  while (read < into.length) {
    const n = await file.read(into.subarray(read));
    if (n === null) break;
    read += n;
  }
  return read;
}

/** The offset of the last newline before `end`, read backwards in blocks, or undefined if there is none. */
export async function lastNewlineBefore(file: Deno.FsFile, end: number): Promise<number | undefined> {
  const buffer = new Uint8Array(BLOCK);
  for (let stop = end; stop > 0;) {
    const start = Math.max(0, stop - BLOCK);
    const read = await readAt(file, start, buffer.subarray(0, stop - start));
    const at = buffer.subarray(0, read).lastIndexOf(NEWLINE);
    if (at >= 0) return start + at;
    stop = start;
  }
  return undefined;
}
