/**
 * Where each HTTP/1.1 request head starts and ends in the bytes a client
 * sends, for the header deadline (http_header_guard.ts). Only the framing is
 * read: the head up to its blank line, then a body by `Content-Length` or
 * chunked coding, then the next head. The server behind still parses and
 * judges everything; whatever this cannot frame (a bad length, an upgrade) is
 * passed on untimed, and the server answers or closes as it would anyway.
 */

/** What a chunk of client bytes did to the framing. */
export interface FramingStep {
  /** A request head began in this chunk (its deadline starts). */
  headStarted: boolean;
  /** The head that was open ended in this chunk (its deadline stops). */
  headEnded: boolean;
  /** The open head passed `maxHeadBytes`. */
  headTooLarge: boolean;
}

type State =
  | { kind: "idle" }
  | { kind: "head"; bytes: number[] }
  | { kind: "length"; left: number }
  | { kind: "chunk-size"; line: number[] }
  | { kind: "chunk-data"; left: number }
  | { kind: "trailer"; line: number }
  | { kind: "raw" };

const LF = 10;
const CR = 13;
const decoder = new TextDecoder("latin1");

export class RequestFraming {
  readonly #maxHeadBytes: number;
  #state: State = { kind: "idle" };

  constructor(maxHeadBytes: number) {
    this.#maxHeadBytes = maxHeadBytes;
  }

  /** Whether a head is open: begun and not yet ended. */
  get inHead(): boolean {
    return this.#state.kind === "head";
  }

  push(chunk: Uint8Array): FramingStep {
    const step: FramingStep = { headStarted: false, headEnded: false, headTooLarge: false };
    let i = 0;
    while (i < chunk.length) {
      const state = this.#state;
      switch (state.kind) {
        case "raw":
          return step;
        case "idle":
          step.headStarted = true;
          this.#state = { kind: "head", bytes: [] };
          break;
        case "head": {
          state.bytes.push(chunk[i++]);
          if (state.bytes.length > this.#maxHeadBytes) {
            step.headTooLarge = true;
            this.#state = { kind: "raw" };
            return step;
          }
          if (endsHead(state.bytes)) {
            step.headEnded = true;
            this.#state = afterHead(decoder.decode(new Uint8Array(state.bytes)));
          }
          break;
        }
        case "length": {
          const take = Math.min(state.left, chunk.length - i);
          i += take;
          state.left -= take;
          if (state.left === 0) this.#state = { kind: "idle" };
          break;
        }
        case "chunk-size": {
          const byte = chunk[i++];
          if (byte !== LF) {
            // A size line is short; a longer one is not chunked coding the server will accept.
            if (state.line.length > 1024) this.#state = { kind: "raw" };
            else state.line.push(byte);
            break;
          }
          const size = parseInt(decoder.decode(new Uint8Array(state.line)).split(";")[0].trim(), 16);
          if (!Number.isSafeInteger(size) || size < 0) this.#state = { kind: "raw" };
          // Data, then its CRLF, which the next size line's read takes as an empty line before the size.
          else this.#state = size === 0 ? { kind: "trailer", line: 0 } : { kind: "chunk-data", left: size + 2 };
          break;
        }
        case "chunk-data": {
          const take = Math.min(state.left, chunk.length - i);
          i += take;
          state.left -= take;
          if (state.left === 0) this.#state = { kind: "chunk-size", line: [] };
          break;
        }
        case "trailer": {
          const byte = chunk[i++];
          if (byte === LF) {
            // An empty line ends the trailers, and the request.
            if (state.line === 0) this.#state = { kind: "idle" };
            else state.line = 0;
          } else if (byte !== CR) state.line++;
          break;
        }
      }
    }
    return step;
  }
}

/** A blank line: CRLF CRLF, or bare LFs, which servers accept too. */
function endsHead(bytes: number[]): boolean {
  const n = bytes.length;
  if (bytes[n - 1] !== LF) return false;
  if (bytes[n - 2] === LF) return n > 2;
  return bytes[n - 2] === CR && bytes[n - 3] === LF && n > 3;
}

function afterHead(head: string): State {
  const fields = new Map<string, string[]>();
  for (const line of head.split("\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    fields.set(name, [...fields.get(name) ?? [], line.slice(colon + 1).trim()]);
  }
  // After an upgrade (a WebSocket) the bytes are frames, not requests.
  if (fields.has("upgrade")) return { kind: "raw" };
  const coding = fields.get("transfer-encoding");
  if (coding) {
    const last = coding.join(",").split(",").at(-1)?.trim().toLowerCase();
    return last === "chunked" ? { kind: "chunk-size", line: [] } : { kind: "raw" };
  }
  const length = fields.get("content-length");
  if (!length) return { kind: "idle" };
  const values = new Set(length.join(",").split(",").map((value) => value.trim()));
  const size = values.size === 1 && /^\d{1,15}$/.test([...values][0]) ? Number([...values][0]) : NaN;
  if (Number.isNaN(size)) return { kind: "raw" };
  return size === 0 ? { kind: "idle" } : { kind: "length", left: size };
}
