/**
 * Several events from one publisher in one gossip message. Under load the
 * mesh's per-message work (Noise and pnet on every frame, Yamux, protobuf,
 * the gossipsub signature, forwarded copies) was most of an event's cost;
 * a batch pays it once for many events.
 *
 * A single event travels as its JSON bytes, which start with `{`. A batch
 * starts with BATCH_MARK, then per event: a varint length, the event's JSON
 * bytes, and the publisher's own signed-record seqno (8 bytes) and signature
 * (64 bytes) over that event alone (see signed_record.ts). The message's
 * gossipsub signature vouches for the whole batch on arrival; the per-event
 * signatures let any agent later serve one event of it as history.
 */

import { EventError } from "../errors.ts";

/** First byte of a batch; never the first byte of JSON. */
export const BATCH_MARK = 0x01;
const SEQNO_BYTES = 8;
const SIGNATURE_BYTES = 64;

export interface BatchEntry {
  data: Uint8Array;
  seqno: Uint8Array;
  signature: Uint8Array;
}

export function isBatch(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === BATCH_MARK;
}

/** How many bytes `entry` takes in a batch. */
export function entrySize(dataLength: number): number {
  return varintSize(dataLength) + dataLength + SEQNO_BYTES + SIGNATURE_BYTES;
}

export function encodeBatch(entries: BatchEntry[]): Uint8Array {
  let size = 1;
  for (const entry of entries) size += entrySize(entry.data.length);
  const out = new Uint8Array(size);
  out[0] = BATCH_MARK;
  let at = 1;
  for (const { data, seqno, signature } of entries) {
    if (seqno.length !== SEQNO_BYTES || signature.length !== SIGNATURE_BYTES) {
      throw new EventError("a batch entry needs an 8-byte seqno and a 64-byte signature");
    }
    let length = data.length;
    while (length > 0x7f) {
      out[at++] = (length & 0x7f) | 0x80;
      length >>>= 7;
    }
    out[at++] = length;
    out.set(data, at);
    at += data.length;
    out.set(seqno, at);
    at += SEQNO_BYTES;
    out.set(signature, at);
    at += SIGNATURE_BYTES;
  }
  return out;
}

/** The entries of a batch; throws EventError for anything that is not one. */
export function decodeBatch(bytes: Uint8Array, maxEntries: number): BatchEntry[] {
  if (!isBatch(bytes)) throw new EventError("not a batch");
  const entries: BatchEntry[] = [];
  let at = 1;
  while (at < bytes.length) {
    if (entries.length === maxEntries) throw new EventError(`batch holds more than ${maxEntries} events`);
    let length = 0;
    let shift = 0;
    while (true) {
      if (at >= bytes.length || shift > 28) throw new EventError("batch entry length is cut off or too long");
      const byte = bytes[at++];
      length |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
      shift += 7;
    }
    const end = at + length + SEQNO_BYTES + SIGNATURE_BYTES;
    if (length === 0 || end > bytes.length) throw new EventError("batch entry is cut off");
    entries.push({
      data: bytes.subarray(at, at + length),
      seqno: bytes.subarray(at + length, at + length + SEQNO_BYTES),
      signature: bytes.subarray(at + length + SEQNO_BYTES, end),
    });
    at = end;
  }
  if (entries.length === 0) throw new EventError("batch is empty");
  return entries;
}

function varintSize(value: number): number {
  let size = 1;
  while (value > 0x7f) {
    value >>>= 7;
    size++;
  }
  return size;
}
