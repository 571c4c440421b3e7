import assert from "node:assert/strict";
import { fastMessageId } from "./fast_message_id.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

Deno.test("fastMessageId is the same for copies and differs for any other signer or seqno", () => {
  const message = { from: bytes(0, 36, 8, 1, 47), seqno: bytes(0, 0, 0, 0, 0, 0, 0, 7) };
  assert.equal(fastMessageId(message), fastMessageId({ from: message.from.slice(), seqno: message.seqno.slice() }));
  assert.notEqual(fastMessageId(message), fastMessageId({ ...message, seqno: bytes(0, 0, 0, 0, 0, 0, 0, 8) }));
  assert.notEqual(fastMessageId(message), fastMessageId({ ...message, from: bytes(0, 36, 8, 1, 48) }));
});

Deno.test("fastMessageId cannot be matched by moving bytes between signer and seqno", () => {
  assert.notEqual(
    fastMessageId({ from: bytes(1, 2), seqno: bytes(3, 4, 5) }),
    fastMessageId({ from: bytes(1, 2, 3), seqno: bytes(4, 5) }),
  );
});

Deno.test("fastMessageId gives a message without signer or seqno a key no signed message has", () => {
  const unkeyed = fastMessageId({});
  assert.equal(fastMessageId({ from: bytes(1) }), unkeyed);
  assert.equal(fastMessageId({ seqno: bytes(1) }), unkeyed);
  assert.equal(fastMessageId({ from: new Uint8Array(0), seqno: bytes(1) }), unkeyed);
  assert.notEqual(fastMessageId({ from: bytes(1), seqno: bytes(1) }), unkeyed);
});
