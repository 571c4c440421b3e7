/**
 * Splits a byte stream into UTF-8 lines with a size cap, so a peer that
 * never sends a newline cannot make us buffer without bound.
 */

import { concatBytes } from "./bytes.ts";

export class LineTooLongError extends Error {
  override name = "LineTooLongError";
}

const decoder = new TextDecoder();

/** Yields lines without their `\n`; throws `LineTooLongError` past `maxBytes`. */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
): AsyncGenerator<string> {
  const reader = stream.getReader();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      let start = 0;
      for (let newline = value.indexOf(10); newline !== -1; newline = value.indexOf(10, start)) {
        const piece = value.subarray(start, newline);
        if (pendingBytes + piece.length > maxBytes) throw new LineTooLongError(`line longer than ${maxBytes} bytes`);
        pending.push(piece);
        yield decoder.decode(concatBytes(pending, pendingBytes + piece.length));
        pending = [];
        pendingBytes = 0;
        start = newline + 1;
      }
      const rest = value.subarray(start);
      pendingBytes += rest.length;
      if (pendingBytes > maxBytes) throw new LineTooLongError(`line longer than ${maxBytes} bytes`);
      // Copy: the reader may reuse its chunk.
      if (rest.length > 0) pending.push(rest.slice());
    }
    if (pendingBytes > 0) yield decoder.decode(concatBytes(pending, pendingBytes));
  } finally {
    reader.releaseLock();
  }
}
