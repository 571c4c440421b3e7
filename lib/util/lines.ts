/**
 * Splits bytes into lines with a size cap, so a writer that never sends a
 * newline cannot make hark buffer without bound. One splitter serves the
 * control socket, the fifo and watch sources and `hark wrap`'s output tail;
 * each says what becomes of a line over the cap.
 */

import { concatBytes } from "./bytes.ts";

export class LineTooLongError extends Error {
  override name = "LineTooLongError";
}

/**
 * What a line longer than the cap becomes. It is marked `overlong`, and the
 * rest of it, up to its end, is skipped.
 * - `truncate`: its first `maxBytes` bytes, handed on as soon as it passes
 *   the cap (its end may never come).
 * - `drop`: the bytes seen so far, handed on as soon as it passes the cap,
 *   for the caller to report or refuse.
 * - `truncate-at-end`: its first `maxBytes` bytes, handed on at its end like
 *   any other line, for a caller that needs to know how it ended.
 */
export type OverlongPolicy = "truncate" | "drop" | "truncate-at-end";

export interface LineSplitterOptions {
  /**
   * A "\r" ends a line too: terminal output, where it starts the line over
   * (progress bars). "\r\n" then gives the line and an empty one ended by "\n".
   * @default false
   */
  carriageReturn?: boolean;
}

export interface SplitLine {
  /** The line without its end. It may share memory with the chunk: use it before the chunk's buffer is reused. */
  bytes: Uint8Array;
  /** It passed the cap (see `OverlongPolicy`). */
  overlong: boolean;
  /** What ended it; none for a line handed on before its end, or at `flush()`. */
  end?: "\n" | "\r";
}

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;

export class LineSplitter {
  readonly #maxBytes: number;
  readonly #policy: OverlongPolicy;
  readonly #carriageReturn: boolean;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Inside an overlong line, until its end; with `truncate-at-end` its head waits in `#pending`. */
  #skipping = false;

  constructor(maxBytes: number, policy: OverlongPolicy, options: LineSplitterOptions = {}) {
    this.#maxBytes = maxBytes;
    this.#policy = policy;
    this.#carriageReturn = options.carriageReturn ?? false;
  }

  /** The lines `chunk` completes, in order. A partial last line is kept (copied) for the next chunk. */
  push(chunk: Uint8Array): SplitLine[] {
    const lines: SplitLine[] = [];
    let start = 0;
    while (start < chunk.length) {
      const stop = this.#nextEnd(chunk, start);
      const end = stop === -1 ? chunk.length : stop;
      if (!this.#skipping) {
        const piece = chunk.subarray(start, end);
        if (this.#pendingBytes + piece.length > this.#maxBytes) {
          this.#overlong(piece, lines);
          this.#skipping = true;
        } else if (stop === -1) {
          // Copy: the caller may reuse the chunk's buffer.
          this.#add(piece.slice());
        } else {
          this.#add(piece);
          lines.push({ bytes: this.#take(), overlong: false, end: endOf(chunk[stop]) });
        }
      }
      if (stop === -1) break;
      if (this.#skipping && this.#pendingBytes > 0) {
        lines.push({ bytes: this.#take(), overlong: true, end: endOf(chunk[stop]) });
      }
      this.#skipping = false;
      start = stop + 1;
    }
    return lines;
  }

  /** The last line when the input ended without its end; nothing if it was empty, skipped or already handed on. */
  flush(): SplitLine | undefined {
    const last = this.#pendingBytes > 0 ? { bytes: this.#take(), overlong: this.#skipping } : undefined;
    this.reset();
    return last;
  }

  /**
   * Forgets a partial line: the input it belonged to is gone. `midLine`:
   * the next input starts inside a line, whose rest is skipped as a fragment.
   */
  reset(midLine = false): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#skipping = midLine;
  }

  #nextEnd(chunk: Uint8Array, start: number): number {
    if (!this.#carriageReturn) return chunk.indexOf(NEWLINE, start);
    // One pass: indexOf for "\n" would rescan the rest of the chunk after every "\r" of a progress bar.
    for (let i = start; i < chunk.length; i++) {
      if (chunk[i] === NEWLINE || chunk[i] === CARRIAGE_RETURN) return i;
    }
    return -1;
  }

  #overlong(piece: Uint8Array, lines: SplitLine[]): void {
    const head = piece.subarray(0, this.#maxBytes - this.#pendingBytes);
    if (this.#policy === "truncate-at-end") {
      // Copy: the head waits for the line's end, which may come in a later chunk.
      this.#add(head.slice());
      return;
    }
    this.#add(this.#policy === "drop" ? piece : head);
    lines.push({ bytes: this.#take(), overlong: true });
  }

  #add(piece: Uint8Array): void {
    if (piece.length === 0) return;
    this.#pending.push(piece);
    this.#pendingBytes += piece.length;
  }

  #take(): Uint8Array {
    const bytes = concatBytes(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    return bytes;
  }
}

function endOf(byte: number): "\n" | "\r" {
  return byte === NEWLINE ? "\n" : "\r";
}

const decoder = new TextDecoder();

/** Yields lines without their `\n`; throws `LineTooLongError` past `maxBytes`. */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
): AsyncGenerator<string> {
  const reader = stream.getReader();
  const splitter = new LineSplitter(maxBytes, "drop");
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const line of splitter.push(value)) {
        // The lines before it still count: pipelined requests ahead of a bad one get their replies.
        if (line.overlong) throw new LineTooLongError(`line longer than ${maxBytes} bytes`);
        yield decoder.decode(line.bytes);
      }
    }
    const last = splitter.flush();
    if (last) yield decoder.decode(last.bytes);
  } finally {
    reader.releaseLock();
  }
}
