/**
 * An event as its publisher signed it. Gossipsub (StrictSign) signs the
 * bytes "libp2p-pubsub:" + protobuf { from, data, seqno, topic }; keeping
 * those four fields and the signature lets any agent hand a stored event to
 * another, which checks it against the publisher's key. A peer serving
 * history can therefore withhold events, but never forge or alter one.
 */

import { Buffer } from "node:buffer";
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import type { PrivateKey } from "@libp2p/interface";
import { peerIdFromPrivateKey, peerIdFromString } from "../mesh/libp2p.ts";
import { TOPIC_PREFIX } from "../mesh/validator.ts";
import { concatBytes } from "../util/bytes.ts";

export interface SignedRecord {
  /** The publisher's peer id, which holds its public key. */
  publisher: string;
  /** The event's topic, without the `hark/` prefix. */
  topic: string;
  /** The event exactly as published (JSON bytes). */
  data: Uint8Array;
  /** Gossipsub's 8-byte sequence number, part of what is signed. */
  seqno: Uint8Array;
  signature: Uint8Array;
}

const SIGN_PREFIX = new TextEncoder().encode("libp2p-pubsub:");
const encoder = new TextEncoder();

/** The bytes a publisher signs, as gossipsub builds them. */
export function signedBytes(fromMultihash: Uint8Array, data: Uint8Array, seqno: Uint8Array, topic: string): Uint8Array {
  // Field order and wire types match gossipsub's RPC.Message (all length-delimited).
  const parts = [SIGN_PREFIX];
  field(parts, 1, fromMultihash);
  field(parts, 2, data);
  field(parts, 3, seqno);
  field(parts, 4, encoder.encode(TOPIC_PREFIX + topic));
  return concatBytes(parts);
}

function field(parts: Uint8Array[], number: number, value: Uint8Array): void {
  parts.push(varint((number << 3) | 2), varint(value.length), value);
}

function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  bytes.push(value);
  return Uint8Array.from(bytes);
}

/** Gossipsub's bigint sequence number as the 8 big-endian bytes that were signed. */
export function seqnoBytes(sequenceNumber: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, sequenceNumber, false);
  return out;
}

/**
 * Signs an event this agent published, for serving it as history. The
 * sequence number need not match the gossiped copy: receivers identify an
 * event by publisher and id, and compare content by its bytes.
 */
export async function signRecord(privateKey: PrivateKey, topic: string, data: Uint8Array): Promise<SignedRecord> {
  const publisher = peerIdFromPrivateKey(privateKey);
  const seqno = crypto.getRandomValues(new Uint8Array(8));
  const signature = await privateKey.sign(signedBytes(publisher.toMultihash().bytes, data, seqno, topic));
  return { publisher: publisher.toString(), topic, data, seqno, signature };
}

/** Whether the record's signature is the publisher's own over exactly these fields. */
export async function verifyRecord(record: SignedRecord): Promise<boolean> {
  if (record.seqno.length !== 8) return false;
  try {
    const signer = signerOf(record.publisher);
    if (!signer) return false;
    return await signer.verify(
      signedBytes(signer.multihash, record.data, record.seqno, record.topic),
      record.signature,
    );
  } catch {
    return false;
  }
}

/** A publisher's peer id as signed over, and a check of its signatures. */
interface Signer {
  multihash: Uint8Array;
  verify(bytes: Uint8Array, signature: Uint8Array): boolean | Promise<boolean>;
}

/**
 * Decoding a peer id and importing its key cost a third as much as the
 * check itself, for every event caught up; a fleet has a bounded number of
 * publishers, so each is decoded once.
 */
const signers = new Map<string, Signer | null>();
const MAX_SIGNERS = 10_000;
/** DER of an Ed25519 SubjectPublicKeyInfo up to the 32 key bytes (RFC 8410). */
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/**
 * Null for a peer id without its public key inside (RSA ids cannot be
 * checked offline). Ed25519 keys, every agent's, are imported once into
 * node:crypto; others (secp256k1) are checked by libp2p's key.
 */
function signerOf(publisher: string): Signer | null {
  let signer = signers.get(publisher);
  if (signer !== undefined) return signer;
  const peer = peerIdFromString(publisher);
  const publicKey = peer.publicKey;
  const multihash = peer.toMultihash().bytes;
  if (!publicKey) signer = null;
  else if (publicKey.type === "Ed25519") {
    const spki = Buffer.from(concatBytes([ED25519_SPKI_PREFIX, publicKey.raw]));
    const key: KeyObject = createPublicKey({ key: spki, format: "der", type: "spki" });
    signer = { multihash, verify: (bytes, signature) => verify(null, bytes, key, signature) };
  } else signer = { multihash, verify: (bytes, signature) => publicKey.verify(bytes, signature) };
  if (signers.size >= MAX_SIGNERS) signers.delete(signers.keys().next().value!);
  signers.set(publisher, signer);
  return signer;
}
