/** The last lines of a log file, read from its end: the agent's log may be megabytes long. */

/** Enough for ten long log lines; a longer line is cut at its start. */
const TAIL_BYTES = 64 * 1024;

const decoder = new TextDecoder();

/** The last `count` lines of `path`, oldest first; undefined when the file does not exist. */
export async function lastLines(path: string, count: number): Promise<string[] | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    const size = (await file.stat()).size;
    const start = Math.max(0, size - TAIL_BYTES);
    await file.seek(start, Deno.SeekMode.Start);
    const buffer = new Uint8Array(size - start);
    let filled = 0;
    while (filled < buffer.length) {
      const read = await file.read(buffer.subarray(filled));
      if (read === null) break;
      filled += read;
    }
    const lines = decoder.decode(buffer.subarray(0, filled)).split(/\r?\n/);
    // A read that starts mid-file starts mid-line: drop that fragment.
    if (start > 0) lines.shift();
    while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    return lines.slice(-count);
  } finally {
    file.close();
  }
}
