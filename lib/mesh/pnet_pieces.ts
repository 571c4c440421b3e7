/**
 * Keeps pnet's cipher (xsalsa20 1.2, in WebAssembly) within its memory.
 * Two flaws of that library took whole agents down:
 * - @libp2p/pnet encrypts whatever a connection has queued in one call, and
 *   the cipher's memory (one for the whole process) cannot grow past about
 *   64 MB: a peer that stopped reading until that much was queued made the
 *   call throw. xsalsa20 is a stream cipher, so the same bytes fed in pieces
 *   give the same output: it gets them in pieces the memory always holds.
 * - Each cipher keeps its own view of that memory and grows the memory
 *   whenever its view looks too small. A growth by one cipher empties every
 *   other cipher's view, so each of them grew the memory again on its next
 *   call, until it ran out (seen with 300 agents in one process). Before each
 *   call, a cipher whose view was emptied is given the current one.
 */

/** The most one call of the cipher is given. */
export const CIPHER_PIECE_BYTES = 1 << 20;

export interface StreamCipher {
  update(data: Uint8Array): Uint8Array;
}

/** xsalsa20's WebAssembly state (absent for its JavaScript fallback or another version: then views are left alone). */
interface WasmCipherState {
  _memory?: Uint8Array;
}

/** The newest view of the cipher's memory that any cipher here has seen. */
let current: ArrayBuffer | undefined;

/** Makes `cipher.update` take any length, a piece at a time, on the current memory; the output is what one call gives. */
export function updateInPieces(cipher: StreamCipher): void {
  const state = (cipher as { _xor?: WasmCipherState })._xor;
  const update = cipher.update.bind(cipher);
  const fresh = (data: Uint8Array): Uint8Array => {
    if (state?._memory) {
      // A grown WebAssembly memory detaches its old buffer, which then has no bytes.
      if (state._memory.buffer.byteLength === 0 && current && current.byteLength > 0) {
        state._memory = new Uint8Array(current);
      }
    }
    const out = update(data);
    if (state?._memory && state._memory.buffer.byteLength > 0) current = state._memory.buffer as ArrayBuffer;
    return out;
  };
  if (state?._memory && state._memory.buffer.byteLength > 0) current = state._memory.buffer as ArrayBuffer;
  cipher.update = (data) => {
    if (data.byteLength <= CIPHER_PIECE_BYTES) return fresh(data);
    const out = new Uint8Array(data.byteLength);
    for (let at = 0; at < data.byteLength; at += CIPHER_PIECE_BYTES) {
      out.set(fresh(data.subarray(at, at + CIPHER_PIECE_BYTES)), at);
    }
    return out;
  };
}
