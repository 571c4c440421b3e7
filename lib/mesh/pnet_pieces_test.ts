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

Deno.test("ciphers taking turns after one grew the memory stay within it (each grew it again before)", () => {
  const [a, b] = [xsalsa20(nonce, key), xsalsa20(nonce, key)];
  updateInPieces(a);
  updateInPieces(b);
  a.update(new Uint8Array(100));
  // A cipher outside (pnet's handshake, say) grows the memory: every view taken before it is emptied.
  xsalsa20(nonce, key).update(new Uint8Array(16 * CIPHER_PIECE_BYTES));
  for (let i = 0; i < 5_000; i++) (i % 2 ? a : b).update(new Uint8Array(100));
  // And they still agree with a cipher that never shared the memory: same key and nonce, same bytes in.
  const check = xsalsa20(nonce, key);
  updateInPieces(check);
  const input = bytes(4096);
  assert.deepEqual(xsalsa20(nonce, key).update(input), check.update(input));
});
