/**
 * Tells when a peer holds another network key. The private-network layer
 * (@libp2p/pnet) cannot say so itself: each side XORs what it sends with a
 * stream cipher under its own key, so with two keys each side reads noise,
 * and libp2p fails the upgrade with a generic error it logs at debug level
 * (or waits for its timeout). What a peer sends first once that layer is up
 * is always multistream-select's header, so:
 * - a side that reads anything else knows the keys differ, reports it, and
 *   closes the connection at once rather than wait for the timeout;
 * - a side that read nothing when the other end closed concludes the same
 *   (a peer with the key always answers with that header).
 */

import type { ProtectorInit } from "@libp2p/pnet";
import { preSharedKey } from "./libp2p.ts";
import type { AbortOptions, ConnectionProtector, MessageStream } from "@libp2p/interface";
import { type StreamCipher, updateInPieces } from "./pnet_pieces.ts";

/** multistream-select's first message: its length (19) and `/multistream/1.0.0\n`. */
const MULTISTREAM_HEADER = new TextEncoder().encode("\x13/multistream/1.0.0\n");

export interface KeyMismatch {
  /** The peer's address on this connection (its multiaddr). */
  address: string;
  direction: "inbound" | "outbound";
}

/** The parts of pnet's protected stream the check reads (pnet 3.x; without them nothing is checked). */
interface ProtectedStream {
  inboundXor?: StreamCipher;
  outboundXor?: StreamCipher;
  readBuffer?: { subarray(): Uint8Array };
}

interface RawConnection {
  remoteAddr?: { toString(): string };
  direction?: "inbound" | "outbound";
  addEventListener(
    type: "close",
    listener: (event: { local?: boolean; error?: { message?: string; code?: string } }) => void,
    options?: { once: boolean },
  ): void;
  abort(error: Error): void;
}

/**
 * `preSharedKey(init)` that also calls `onMismatch` when the peer holds
 * another key, and feeds its cipher in pieces (./pnet_pieces.ts).
 */
export function checkedPreSharedKey(
  init: ProtectorInit,
  onMismatch: (mismatch: KeyMismatch) => void,
): () => ConnectionProtector {
  const inner = preSharedKey(init);
  return () => {
    const protector = inner();
    return {
      async protect(connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
        const stream = await protector.protect(connection, options);
        const ciphers = stream as unknown as ProtectedStream;
        for (const cipher of [ciphers.inboundXor, ciphers.outboundXor]) if (cipher) updateInPieces(cipher);
        watchFirstBytes(connection as unknown as RawConnection, stream as unknown as ProtectedStream, onMismatch);
        return stream;
      },
    };
  };
}

function watchFirstBytes(
  connection: RawConnection,
  stream: ProtectedStream,
  onMismatch: (mismatch: KeyMismatch) => void,
): void {
  const xor = stream.inboundXor;
  if (!xor) return;
  let matched = 0;
  let decided = false;
  const mismatch = () => {
    decided = true;
    onMismatch({ address: String(connection.remoteAddr ?? "an unknown address"), direction: connection.direction! });
  };
  const check = (bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length && !decided; i++) {
      if (bytes[i] !== MULTISTREAM_HEADER[matched]) {
        mismatch();
        connection.abort(new Error("the peer holds another network key"));
      } else if (++matched === MULTISTREAM_HEADER.length) decided = true;
    }
  };
  const update = xor.update.bind(xor);
  xor.update = (data) => {
    const plain = update(data);
    if (!decided) check(plain);
    return plain;
  };
  // Bytes that came with the peer's nonce were decrypted before this point.
  const early = stream.readBuffer?.subarray();
  if (early && early.length > 0) check(early);
  connection.addEventListener("close", (event) => {
    if (!decided && matched === 0 && closedByPeer(event)) mismatch();
  }, { once: true });
}

/** The peer closed or reset the connection (TCP reports a reset as a local error), rather than this side giving up. */
function closedByPeer(event: { local?: boolean; error?: { message?: string; code?: string } }): boolean {
  if (event.local !== true) return true;
  return /ECONNRESET|EPIPE/.test(`${event.error?.code ?? ""} ${event.error?.message ?? ""}`);
}
