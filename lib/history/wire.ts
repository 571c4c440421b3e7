/**
 * The catch-up protocol, `/hark/history/1.0.0`, on the wire: length-prefixed
 * JSON frames with hard limits, and strict parsers that turn any frame that
 * is not exactly what the protocol allows into a `ProtocolError`.
 *
 * A session, opened by the agent catching up (the requester):
 *
 *   requester → { topics, after, store, have? }   what it wants, from where (have: below)
 *   responder → { keys, publishers, upto, store, end }
 *   requester → { want }                     the keys it lacks
 *   responder → { events, last } …           those events, signed by their publishers
 *   … (keys, want, events) repeat until a keys frame says `end`
 *
 * `after` counts in the responder's own sequence numbers, so neither side's
 * clock, nor any publisher's, decides what is missed. Keys (publisher, id)
 * are the compact summary; only events the requester lacks cross the wire.
 *
 * From the start (`after` 0: a peer never asked for these topics) the
 * responder would offer every key it holds on them. So such a request
 * carries `have`: per (topic, publisher) the requester holds rows of, how
 * many and the sum of their fingerprints (FNV-1a of the event's bytes as
 * published, the same in every store however the event arrived), the largest
 * counts first, at most MAX_SUMMARY_PAIRS. The responder leaves out the keys
 * of pairs where both agree and offers the rest as before; `upto` still
 * means that every key up to it was offered or held alike. A sum can be made
 * to collide, but only by the publisher whose events it sums, and only to
 * hide its own events from a first session: later sessions offer every key
 * after the point reached. Agents before `have` ignore it (requests are read
 * field by field), and a request without it is served as before, so the
 * protocol id stays.
 */

import { TOPIC_PATTERN } from "../event/event.ts";
import type { SignedRecord } from "../event/signed_record.ts";
import type { PairSummary } from "../store/store.ts";

export const HISTORY_PROTOCOL = "/hark/history/1.0.0";
/**
 * Largest frame either side accepts; a bigger one ends the session. It
 * holds one event of the largest size an agent may allow (1 MiB), which
 * base64 makes a third larger.
 */
export const MAX_FRAME_BYTES = 2 * 1024 * 1024;
/** Keys in one keys frame (and so events asked for at once). */
export const KEYS_PER_FRAME = 500;

export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** The peer declined to serve (busy, rate limit, no shared topics): not misbehaviour. */
export class PeerRefusedError extends Error {
  override name = "PeerRefusedError";
}

/** Pairs a request's summary may list: about 1 MB of JSON with real peer ids, half the frame limit. */
export const MAX_SUMMARY_PAIRS = 10_000;

export interface Request {
  topics: string[];
  /** The responder's sequence number the requester has everything up to. */
  after: number;
  /** The responder's store id `after` belongs to, if known. */
  store?: string;
  /**
   * What the requester holds per (topic, publisher) of `topics`, sent with
   * `after` 0 only, the largest counts first; pairs past
   * MAX_SUMMARY_PAIRS are left out (and so offered whole).
   */
  have?: PairSummary[];
}

/** How many rows of one publisher on one topic a store holds, and the sum of their fingerprints (the store's own). */
export type { PairSummary };

export interface Key {
  publisher: string;
  id: string;
}

export interface KeysFrame {
  keys: Key[];
  /** The responder's sequence number this frame covers up to. */
  upto: number;
  store: string;
  /** Nothing more to offer after this frame. */
  end: boolean;
}

export interface EventsFrame {
  events: SignedRecord[];
  /** The last events frame for the current want. */
  last: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeRequest(request: Request): Uint8Array {
  const frame: Record<string, unknown> = { topics: request.topics, after: request.after, store: request.store ?? null };
  if (request.have) frame.have = encodeSummary(request.have, request.topics);
  return encodeFrame(frame);
}

/**
 * A summary as `{ publishers, pairs: [[topic index, publisher index, count,
 * sum], …] }`: each publisher named once, each topic by its place in the
 * request's `topics`, as a keys frame names publishers.
 */
function encodeSummary(have: PairSummary[], topics: string[]): unknown {
  const topicIndex = new Map(topics.map((topic, i) => [topic, i]));
  const publishers: string[] = [];
  const publisherIndex = new Map<string, number>();
  const pairs: number[][] = [];
  for (const { topic, publisher, count, sum } of have) {
    const t = topicIndex.get(topic);
    if (t === undefined) continue;
    if (pairs.length === MAX_SUMMARY_PAIRS) break;
    let p = publisherIndex.get(publisher);
    if (p === undefined) {
      p = publishers.push(publisher) - 1;
      publisherIndex.set(publisher, p);
    }
    pairs.push([t, p, count, sum]);
  }
  return { publishers, pairs };
}

export function encodeKeys(frame: KeysFrame): Uint8Array {
  const publishers: string[] = [];
  const index = new Map<string, number>();
  const keys = frame.keys.map(({ publisher, id }) => {
    let at = index.get(publisher);
    if (at === undefined) {
      at = publishers.push(publisher) - 1;
      index.set(publisher, at);
    }
    return [at, id];
  });
  return encodeFrame({ keys, publishers, upto: frame.upto, store: frame.store, end: frame.end });
}

export function encodeWant(keys: Key[]): Uint8Array {
  return encodeFrame({ want: keys.map(({ publisher, id }) => [publisher, id]) });
}

export function encodeEvents(frame: EventsFrame): Uint8Array {
  const events = frame.events.map((record) => ({
    p: record.publisher,
    t: record.topic,
    d: record.data.toBase64(),
    q: record.seqno.toBase64(),
    s: record.signature.toBase64(),
  }));
  return encodeFrame({ events, last: frame.last });
}

export function encodeError(message: string): Uint8Array {
  return encodeFrame({ error: message });
}

/** Bytes an event adds to an events frame beyond its data, base64 aside. */
export const RECORD_OVERHEAD_BYTES = 256;

/** How large an events frame holding this record becomes, about. */
export function recordFrameBytes(record: SignedRecord): number {
  return Math.ceil(record.data.length * 4 / 3) + RECORD_OVERHEAD_BYTES;
}

function encodeFrame(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function parseFrame(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new ProtocolError("frame is not UTF-8 JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("frame is not a JSON object");
  }
  const frame = value as Record<string, unknown>;
  if (typeof frame.error === "string") throw new PeerRefusedError(`peer refused: ${frame.error.slice(0, 200)}`);
  return frame;
}

export function decodeRequest(bytes: Uint8Array): Request {
  const frame = parseFrame(bytes);
  const topics = frame.topics;
  if (!Array.isArray(topics) || topics.length > 256 || !topics.every(isTopic)) {
    throw new ProtocolError("topics must be a list of topic names");
  }
  const after = sequence(frame.after, "after");
  if (frame.store != null && typeof frame.store !== "string") throw new ProtocolError("store must be a string");
  const request: Request = { topics, after, store: frame.store ?? undefined };
  if (frame.have != null) request.have = decodeSummary(frame.have, topics);
  return request;
}

function decodeSummary(value: unknown, topics: string[]): PairSummary[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("have must be an object of publishers and pairs");
  }
  const { publishers, pairs } = value as Record<string, unknown>;
  if (
    !Array.isArray(publishers) || publishers.length > MAX_SUMMARY_PAIRS ||
    !publishers.every((p) => typeof p === "string" && p.length > 0 && p.length <= 128)
  ) {
    throw new ProtocolError(`have.publishers must be a list of at most ${MAX_SUMMARY_PAIRS} peer ids`);
  }
  if (!Array.isArray(pairs) || pairs.length > MAX_SUMMARY_PAIRS) {
    throw new ProtocolError(`have.pairs must be a list of at most ${MAX_SUMMARY_PAIRS}`);
  }
  const seen = new Set<string>();
  return pairs.map((pair): PairSummary => {
    if (!Array.isArray(pair) || pair.length !== 4 || !pair.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw new ProtocolError("a pair must be [topic index, publisher index, count, sum] of whole numbers");
    }
    const [t, p, count, sum] = pair as number[];
    const topic = topics[t];
    const publisher = publishers[p] as string | undefined;
    if (topic === undefined || publisher === undefined) throw new ProtocolError("a pair names no topic or publisher");
    if (count === 0) throw new ProtocolError("a pair must count at least one event");
    // A second (count, sum) for one pair would leave which one counts to the responder's reading order.
    const key = `${t} ${publisher}`;
    if (seen.has(key)) throw new ProtocolError(`a pair is listed twice (${topic}, ${publisher})`);
    seen.add(key);
    return { topic, publisher, count, sum };
  });
}

export function decodeKeys(bytes: Uint8Array): KeysFrame {
  const frame = parseFrame(bytes);
  const { publishers, keys } = frame;
  if (!Array.isArray(publishers) || !publishers.every((p) => typeof p === "string" && p.length <= 128)) {
    throw new ProtocolError("publishers must be a list of peer ids");
  }
  if (!Array.isArray(keys) || keys.length > KEYS_PER_FRAME) {
    throw new ProtocolError(`keys must be a list of at most ${KEYS_PER_FRAME}`);
  }
  const decoded = keys.map((key): Key => {
    if (!Array.isArray(key) || key.length !== 2 || typeof key[1] !== "string" || key[1].length > 64) {
      throw new ProtocolError("a key must be [publisher index, id]");
    }
    const publisher = publishers[key[0]];
    if (!Number.isInteger(key[0]) || publisher === undefined) throw new ProtocolError("a key names no publisher");
    return { publisher, id: key[1] };
  });
  if (typeof frame.store !== "string" || frame.store.length > 64) throw new ProtocolError("store must be a string");
  if (typeof frame.end !== "boolean") throw new ProtocolError("end must be true or false");
  return { keys: decoded, upto: sequence(frame.upto, "upto"), store: frame.store, end: frame.end };
}

export function decodeWant(bytes: Uint8Array): Key[] {
  const { want } = parseFrame(bytes);
  if (!Array.isArray(want) || want.length > KEYS_PER_FRAME) {
    throw new ProtocolError(`want must be a list of at most ${KEYS_PER_FRAME} keys`);
  }
  return want.map((key) => {
    if (!Array.isArray(key) || key.length !== 2 || typeof key[0] !== "string" || typeof key[1] !== "string") {
      throw new ProtocolError("a wanted key must be [publisher, id]");
    }
    return { publisher: key[0], id: key[1] };
  });
}

export function decodeEvents(bytes: Uint8Array): EventsFrame {
  const frame = parseFrame(bytes);
  if (!Array.isArray(frame.events)) throw new ProtocolError("events must be a list");
  if (typeof frame.last !== "boolean") throw new ProtocolError("last must be true or false");
  const events = frame.events.map((value): SignedRecord => {
    const record = value as Record<string, unknown>;
    if (typeof record !== "object" || record === null) throw new ProtocolError("an event must be an object");
    const { p, t, d, q, s } = record;
    if (
      typeof p !== "string" || !isTopic(t) || typeof d !== "string" || typeof q !== "string" || typeof s !== "string"
    ) {
      throw new ProtocolError("an event needs p, t, d, q and s");
    }
    try {
      return {
        publisher: p,
        topic: t,
        data: Uint8Array.fromBase64(d),
        seqno: Uint8Array.fromBase64(q),
        signature: Uint8Array.fromBase64(s),
      };
    } catch {
      throw new ProtocolError("an event's bytes are not base64");
    }
  });
  return { events, last: frame.last };
}

function isTopic(value: unknown): value is string {
  return typeof value === "string" && TOPIC_PATTERN.test(value);
}

function sequence(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new ProtocolError(`${name} must be a whole number`);
  }
  return value;
}
