/**
 * @libp2p/pnet encrypts whatever a connection has queued in one call of
 * xsalsa20's `update()`, whose WebAssembly memory cannot grow past about
 * 64 MB (one memory for all connections of the process). A peer that stops
 * reading until that much is queued (a relay's busy client, say) made the
 * call throw, and the throw took the whole agent down. xsalsa20 is a stream
 * cipher, so the same bytes fed in pieces give the same output: this feeds
 * them in pieces of a size the memory always holds.
 */

/** The most one call of the cipher is given. */
export const CIPHER_PIECE_BYTES = 1 << 20;

export interface StreamCipher {
  update(data: Uint8Array): Uint8Array;
}

/** Makes `cipher.update` take any length, a piece at a time; the output is what one call would give. */
export function updateInPieces(cipher: StreamCipher): void {
  const update = cipher.update.bind(cipher);
  cipher.update = (data) => {
    if (data.byteLength <= CIPHER_PIECE_BYTES) return update(data);
    const out = new Uint8Array(data.byteLength);
    for (let at = 0; at < data.byteLength; at += CIPHER_PIECE_BYTES) {
      out.set(update(data.subarray(at, at + CIPHER_PIECE_BYTES)), at);
    }
    return out;
  };
}
