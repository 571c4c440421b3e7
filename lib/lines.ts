/**
 * Splits bytes into lines with a size cap, so a writer that never sends a
 * newline cannot make hark buffer without bound. One splitter serves the
 * control socket, the fifo source and the watch source; each says what
 * becomes of a line over the cap.
 */

import { concatBytes } from "./bytes.ts";

export class LineTooLongError extends Error {
  override name = "LineTooLongError";
}

/**
 * What a line longer than the cap becomes, decided as soon as it passes the
 * cap (not at its newline, which may never come). Either way it is marked
 * `overlong` and the rest of it, up to its newline, is skipped.
 * - `truncate`: its first `maxBytes` bytes, a line to use.
 * - `drop`: the bytes seen so far, for the caller to report or refuse.
 */
export type OverlongPolicy = "truncate" | "drop";

export interface SplitLine {
  /** The line without its "\n". It may share memory with the chunk: use it before the chunk's buffer is reused. */
  bytes: Uint8Array;
  /** It passed the cap (see `OverlongPolicy`). */
  overlong: boolean;
}

export class LineSplitter {
  readonly #maxBytes: number;
  readonly #policy: OverlongPolicy;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Inside an overlong line, until its newline. */
  #skipping = false;

  constructor(maxBytes: number, policy: OverlongPolicy) {
    this.#maxBytes = maxBytes;
    this.#policy = policy;
  }

  /** The lines `chunk` completes, in order. A partial last line is kept (copied) for the next chunk. */
  push(chunk: Uint8Array): SplitLine[] {
    const lines: SplitLine[] = [];
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(10, start);
      const end = newline === -1 ? chunk.length : newline;
      if (!this.#skipping) {
        const piece = chunk.subarray(start, end);
        if (this.#pendingBytes + piece.length > this.#maxBytes) {
          lines.push(this.#overlong(piece));
          this.#skipping = true;
        } else if (newline === -1) {
          // Copy: the caller may reuse the chunk's buffer.
          this.#add(piece.slice());
        } else {
          this.#add(piece);
          lines.push({ bytes: this.#take(), overlong: false });
        }
      }
      if (newline === -1) break;
      this.#skipping = false;
      start = newline + 1;
    }
    return lines;
  }

  /** The last line when the input ended without a newline; nothing if it was empty or skipped. */
  flush(): Uint8Array | undefined {
    const last = this.#pendingBytes > 0 && !this.#skipping ? this.#take() : undefined;
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

  #overlong(piece: Uint8Array): SplitLine {
    this.#add(this.#policy === "truncate" ? piece.subarray(0, this.#maxBytes - this.#pendingBytes) : piece);
    return { bytes: this.#take(), overlong: true };
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
    if (last) yield decoder.decode(last);
  } finally {
    reader.releaseLock();
  }
}
