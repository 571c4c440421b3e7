/**
 * Gossipsub's `fastMsgIdFn`: a key for a message as it arrives, before its
 * signature is checked.
 *
 * Without it gossipsub verifies the Ed25519 signature of every copy of a
 * message, and only then finds the copy is a duplicate. An agent receives
 * each event from each of its mesh peers that had it first, so at 30 agents
 * on 2 cores signature checks of copies were a fifth of a receiver's CPU. With this key a copy of a message already
 * accepted is dropped without a check.
 *
 * The key is the signer and sequence number, which is also gossipsub's
 * message id under `StrictSign`, so it deduplicates exactly what gossipsub's
 * seen cache does. Only the signer can make a valid message with them, and
 * gossipsub remembers a key only once the signature of the message it came
 * with checked out: a forged copy that arrives first is verified, rejected
 * and not remembered, so it cannot shadow the real one.
 */

/** The fields gossipsub's raw `RPC.Message` has that the key is built from. */
export interface RawGossipMessage {
  from?: Uint8Array;
  seqno?: Uint8Array;
}

/** Never the key of a valid message: one without signer or seqno is rejected. */
const UNKEYED = "-";

export function fastMessageId(message: RawGossipMessage): string {
  const { from, seqno } = message;
  if (from === undefined || seqno === undefined || from.length === 0 || seqno.length === 0) return UNKEYED;
  // The signer's length first, so no two (signer, seqno) pairs share a key.
  return `${from.length}:${latin1(from)}${latin1(seqno)}`;
}

/** One character per byte: cheaper than hex or base64, and as unique. */
function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return text;
}
