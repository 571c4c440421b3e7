import assert from "node:assert/strict";
import { generateKeyPair, peerIdFromPrivateKey, peerIdFromString } from "../mesh/libp2p.ts";
import type { Message } from "@libp2p/gossipsub";
import { seqnoBytes, signedBytes, type SignedRecord, signRecord, verifyRecord } from "./signed_record.ts";
import { TOPIC_PREFIX } from "../mesh/validator.ts";
import { Rogue } from "../../tests/helpers/rogue.ts";
import { TEST_NETWORK } from "../../tests/helpers/hark.ts";
import { waitFor } from "../../tests/helpers/wait.ts";

const encoder = new TextEncoder();
/** libp2p nodes leave timers and sockets behind them for a while after stop(). */
const inProcessLibp2p = { sanitizeOps: false, sanitizeResources: false };

function flipped(bytes: Uint8Array, index = 0): Uint8Array {
  const copy = bytes.slice();
  copy[index] ^= 0x01;
  return copy;
}

Deno.test("signRecord() makes a record that verifyRecord() accepts", async (t) => {
  const key = await generateKeyPair("Ed25519");
  const publisher = peerIdFromPrivateKey(key).toString();
  const cases = [
    { name: "a JSON event", topic: "default", data: encoder.encode('{"id":"x","body":"hello"}') },
    { name: "empty data", topic: "builds", data: new Uint8Array(0) },
    { name: "every byte value", topic: "a.b_c-9", data: Uint8Array.from({ length: 256 }, (_, i) => i) },
    // Lengths of 128 and up take a two-byte varint in the signed bytes.
    { name: "data longer than one varint byte", topic: "x".repeat(64), data: new Uint8Array(70_000).fill(7) },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const record = await signRecord(key, c.topic, c.data);
      assert.equal(record.publisher, publisher);
      assert.equal(record.topic, c.topic);
      assert.deepEqual(record.data, c.data);
      assert.equal(record.seqno.length, 8);
      assert.equal(record.signature.length, 64, "an Ed25519 signature");
      assert.equal(await verifyRecord(record), true);
    });
  }
});

Deno.test("signRecord() signs exactly signedBytes() of its fields", async () => {
  const key = await generateKeyPair("Ed25519");
  const data = encoder.encode("payload");
  const record = await signRecord(key, "builds", data);
  const peer = peerIdFromPrivateKey(key);
  const bytes = signedBytes(peer.toMultihash().bytes, data, record.seqno, "builds");
  assert.equal(await key.publicKey.verify(bytes, record.signature), true);
  // The topic is signed with its wire prefix.
  assert.ok(new TextDecoder().decode(bytes).endsWith(TOPIC_PREFIX + "builds"));
  assert.deepEqual(bytes.subarray(0, 14), encoder.encode("libp2p-pubsub:"));
});

Deno.test("signRecord() picks a fresh sequence number each time", async () => {
  const key = await generateKeyPair("Ed25519");
  const data = encoder.encode("same");
  const first = await signRecord(key, "default", data);
  const second = await signRecord(key, "default", data);
  assert.notDeepEqual(first.seqno, second.seqno);
  assert.equal(await verifyRecord(first), true);
  assert.equal(await verifyRecord(second), true);
  // Each signature covers its own sequence number only.
  assert.equal(await verifyRecord({ ...first, seqno: second.seqno }), false);
});

Deno.test("verifyRecord() accepts a record signed with a secp256k1 key", async () => {
  // secp256k1 peer ids, like Ed25519 ones, carry their public key inline.
  const key = await generateKeyPair("secp256k1");
  const record = await signRecord(key, "default", encoder.encode("k1"));
  assert.equal(await verifyRecord(record), true);
  assert.equal(await verifyRecord({ ...record, data: encoder.encode("k2") }), false);
});

Deno.test("verifyRecord() rejects a record that is not exactly what its publisher signed", async (t) => {
  const key = await generateKeyPair("Ed25519");
  const other = await generateKeyPair("Ed25519");
  const record = await signRecord(key, "default", encoder.encode('{"body":"original"}'));
  const byOther = await signRecord(other, "default", record.data);
  assert.equal(await verifyRecord(record), true, "the untouched record");

  const cases: { name: string; record: SignedRecord }[] = [
    { name: "altered data", record: { ...record, data: encoder.encode('{"body":"0riginal"}') } },
    { name: "one bit of data flipped", record: { ...record, data: flipped(record.data, 5) } },
    { name: "data with a byte appended", record: { ...record, data: Uint8Array.from([...record.data, 0]) } },
    { name: "empty data", record: { ...record, data: new Uint8Array(0) } },
    { name: "altered topic", record: { ...record, topic: "builds" } },
    { name: "topic with the wire prefix", record: { ...record, topic: TOPIC_PREFIX + "default" } },
    { name: "altered seqno", record: { ...record, seqno: flipped(record.seqno, 7) } },
    { name: "seqno of 7 bytes", record: { ...record, seqno: record.seqno.subarray(0, 7) } },
    { name: "seqno of 9 bytes", record: { ...record, seqno: Uint8Array.from([...record.seqno, 0]) } },
    { name: "empty seqno", record: { ...record, seqno: new Uint8Array(0) } },
    { name: "altered signature", record: { ...record, signature: flipped(record.signature, 10) } },
    { name: "empty signature", record: { ...record, signature: new Uint8Array(0) } },
    { name: "truncated signature", record: { ...record, signature: record.signature.subarray(0, 63) } },
    {
      name: "signature from another key",
      record: { ...record, signature: byOther.signature, seqno: byOther.seqno },
    },
    {
      name: "another key's record claimed by this publisher",
      record: { ...byOther, publisher: record.publisher },
    },
    { name: "publisher that is not a peer id", record: { ...record, publisher: "not-a-peer-id" } },
    { name: "empty publisher", record: { ...record, publisher: "" } },
    {
      name: "publisher with a character changed",
      record: { ...record, publisher: record.publisher.slice(0, -1) + "x" },
    },
    { name: "publisher that is another valid peer id", record: { ...record, publisher: byOther.publisher } },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      assert.equal(await verifyRecord(c.record), false);
    });
  }
});

Deno.test("verifyRecord() rejects an RSA publisher, whose peer id does not hold its key", async () => {
  const key = await generateKeyPair("RSA", 1024);
  const peer = peerIdFromPrivateKey(key);
  assert.equal(peerIdFromString(peer.toString()).publicKey, undefined, "premise: an RSA peer id is a hash of the key");
  const data = encoder.encode("rsa");
  const seqno = seqnoBytes(1n);
  const signature = await key.sign(signedBytes(peer.toMultihash().bytes, data, seqno, "default"));
  assert.equal(await verifyRecord({ publisher: peer.toString(), topic: "default", data, seqno, signature }), false);
});

Deno.test("seqnoBytes() writes 8 big-endian bytes", async (t) => {
  const cases: { name: string; value: bigint; bytes: number[] }[] = [
    { name: "zero", value: 0n, bytes: [0, 0, 0, 0, 0, 0, 0, 0] },
    { name: "one", value: 1n, bytes: [0, 0, 0, 0, 0, 0, 0, 1] },
    { name: "mixed", value: 0x0102030405060708n, bytes: [1, 2, 3, 4, 5, 6, 7, 8] },
    { name: "the largest", value: 2n ** 64n - 1n, bytes: [255, 255, 255, 255, 255, 255, 255, 255] },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.deepEqual(seqnoBytes(c.value), Uint8Array.from(c.bytes)));
  }
});

/** Two gossipsub nodes on "hark/default"; returns what the receiver got of what the publisher sent, in order. */
async function receiveFromGossipsub(
  publisherKey: Awaited<ReturnType<typeof generateKeyPair>>,
  payloads: Uint8Array[],
): Promise<Message[]> {
  await using publisher = await Rogue.start(TEST_NETWORK, publisherKey);
  await using receiver = await Rogue.start(TEST_NETWORK);
  const received: Message[] = [];
  receiver.node.services.pubsub.addEventListener("message", (event) => {
    if (event.detail.topic === "hark/default") received.push(event.detail);
  });
  await publisher.dial(receiver.node.getMultiaddrs()[0].toString());
  await Promise.all([publisher.join("default", receiver.peerId), receiver.join("default", publisher.peerId)]);
  for (const data of payloads) await publisher.publish("default", data);
  await waitFor(() => received.length >= payloads.length, { message: "the receiver to get every message" });
  return received;
}

Deno.test(
  "verifyRecord() accepts messages as gossipsub signed and delivered them",
  inProcessLibp2p,
  async () => {
    const key = await generateKeyPair("Ed25519");
    // The long one needs a two-byte length in the signed protobuf.
    const payloads = [
      encoder.encode('{"body":"over the wire"}'),
      encoder.encode(JSON.stringify({ body: "y".repeat(300) })),
    ];
    const messages = await receiveFromGossipsub(key, payloads);
    assert.equal(messages.length, payloads.length);
    for (const [i, message] of messages.entries()) {
      assert.equal(message.type, "signed");
      if (message.type !== "signed") return;
      assert.equal(message.from.toString(), peerIdFromPrivateKey(key).toString());
      assert.deepEqual(message.data, payloads[i]);

      const record: SignedRecord = {
        publisher: message.from.toString(),
        topic: message.topic.slice(TOPIC_PREFIX.length),
        data: message.data,
        seqno: seqnoBytes(message.sequenceNumber),
        signature: message.signature,
      };
      assert.equal(record.topic, "default");
      assert.equal(await verifyRecord(record), true, `message ${i}: gossipsub's own signature verifies`);
      assert.equal(await verifyRecord({ ...record, data: flipped(record.data) }), false, "and covers the data");
      assert.equal(await verifyRecord({ ...record, topic: "builds" }), false, "and the topic");
      const nextSeqno = seqnoBytes(message.sequenceNumber + 1n);
      assert.equal(await verifyRecord({ ...record, seqno: nextSeqno }), false, "and the sequence number");
    }
  },
);
