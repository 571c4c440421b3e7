import assert from "node:assert/strict";
import xsalsa20 from "xsalsa20";
import { CIPHER_PIECE_BYTES, updateInPieces } from "./pnet_pieces.ts";

const key = crypto.getRandomValues(new Uint8Array(32));
const nonce = crypto.getRandomValues(new Uint8Array(24));

/** Bytes that are not all zero, without asking getRandomValues for more than 64 KiB at a time. */
function bytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  const block = crypto.getRandomValues(new Uint8Array(65536));
  for (let at = 0; at < length; at += block.length) out.set(block.subarray(0, Math.min(block.length, length - at)), at);
  return out;
}

Deno.test("pnet's cipher alone cannot take what a stalled peer lets queue up (the agent crashed on it)", () => {
  assert.throws(() => xsalsa20(nonce, key).update(new Uint8Array(70_000_000)), /memory/i);
});

Deno.test("updateInPieces() takes any length and gives what one call gives, also across calls", () => {
  const data = bytes(3 * CIPHER_PIECE_BYTES + 12_345);
  const whole = xsalsa20(nonce, key).update(data);
  const cipher = xsalsa20(nonce, key);
  updateInPieces(cipher);
  const first = cipher.update(data.subarray(0, 100));
  const rest = cipher.update(data.subarray(100));
  assert.deepEqual(new Uint8Array([...first, ...rest]), whole);
});

Deno.test("updateInPieces() encrypts 70 MB queued at once", () => {
  const cipher = xsalsa20(nonce, key);
  updateInPieces(cipher);
  assert.equal(cipher.update(new Uint8Array(70_000_000)).byteLength, 70_000_000);
});
