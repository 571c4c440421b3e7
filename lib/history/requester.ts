/**
 * One catch-up session with one peer: ask what it holds after the point
 * last reached with it, take the keys this agent lacks, and check every
 * event it sends before anything is stored: the publisher's signature, that
 * it was asked for, its topic, and the network's rules. A responder that
 * breaks the protocol ends the session at once, and everything it sent
 * before is still checked event by event, so a bad peer can waste a little
 * time but never place an event.
 */

import type { PeerId } from "@libp2p/interface";
import { InvalidDataLengthError, InvalidDataLengthLengthError, lpStream } from "../mesh/libp2p.ts";
import type { EventStore } from "../store/store.ts";
import { type SignedRecord, verifyRecord } from "../event/signed_record.ts";
import type { Mesh } from "../mesh/mesh.ts";
import type { HarkEvent } from "../event/event.ts";
import { ULID_PATTERN, ulidTime } from "../event/ulid.ts";
import {
  decodeEvents,
  decodeKeys,
  encodeRequest,
  encodeWant,
  HISTORY_PROTOCOL,
  type Key,
  MAX_FRAME_BYTES,
  MAX_SUMMARY_PAIRS,
  ProtocolError,
} from "./wire.ts";

/** What a session needs of the mesh: a stream to the peer, and the network's rules for what it sends. */
export type HistoryDialer = Pick<Mesh, "dialProtocol" | "validateRecord" | "historyRoom">;

export interface PullInit {
  mesh: HistoryDialer;
  store: EventStore;
  topics: string[];
  /** Called for each new, valid event, in the order the peer holds them. */
  onEvent: (event: HarkEvent, fingerprint: number, record: SignedRecord) => void;
  signal: AbortSignal;
  /** Longest wait to send or receive one frame. @default 5000 */
  frameMs?: number;
  /** Keys frames in one session; a peer with more is asked again later. @default 40 */
  maxFrames?: number;
  /** Longest a whole session may take. @default 120000 */
  sessionMs?: number;
}

export interface PullResult {
  /** New events taken. */
  accepted: number;
  /** Events the peer sent that this agent refused (invalid, not allowed, conflicting, over the rate limit). */
  refused: number;
  /** Keys not asked for: their publisher had published more around then than its rate limit allows. */
  over_limit: number;
  /** Keys the peer offered. */
  offered: number;
  /** The peer said it had nothing more. */
  complete: boolean;
}

/** Where the point reached with a peer is kept: per peer and set of topics. */
export function syncKey(peer: string, topics: string[]): string {
  return `${peer} ${[...topics].sort().join(",")}`;
}

export async function pullHistory(peer: PeerId, init: PullInit): Promise<PullResult> {
  const { store } = init;
  const frameMs = init.frameMs ?? 5000;
  const signal = AbortSignal.any([init.signal, AbortSignal.timeout(init.sessionMs ?? 120_000)]);
  const key = syncKey(peer.toString(), init.topics);
  const point = store.syncPoint(key);
  // Each step has its own deadline: a stalled connection fails the session in seconds.
  const step = () => AbortSignal.any([signal, AbortSignal.timeout(frameMs)]);
  const stream = await init.mesh.dialProtocol(peer, HISTORY_PROTOCOL, step());
  const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
  const read = async () => {
    try {
      return (await lp.read({ signal: step() })).subarray();
    } catch (error) {
      // A frame over the limit is the responder's doing, not the network's.
      if (error instanceof InvalidDataLengthError || error instanceof InvalidDataLengthLengthError) {
        throw new ProtocolError(`sent a frame over ${MAX_FRAME_BYTES} bytes`);
      }
      throw error;
    }
  };
  const result: PullResult = { accepted: 0, refused: 0, over_limit: 0, offered: 0, complete: false };
  try {
    // From the start, the peer would offer every key it holds; a summary of what this agent holds lets it
    // leave out the (topic, publisher) pairs both hold alike.
    let after = point?.seq ?? 0;
    const have = after === 0 ? store.pairSummaries(init.topics, MAX_SUMMARY_PAIRS) : undefined;
    await lp.write(encodeRequest({ topics: init.topics, after, store: point?.store, have }), { signal: step() });
    let pointStore = point?.store;
    for (let frames = 0; frames < (init.maxFrames ?? 40); frames++) {
      const keys = decodeKeys(await read());
      // Sequence numbers of one store only grow; a new store starts over.
      if (keys.store === pointStore && keys.upto < after) {
        throw new ProtocolError("offered keys before the point asked for");
      }
      result.offered += keys.keys.length;
      if (keys.keys.length > 0) {
        const lacking = wanted(keys.keys, init, result);
        await lp.write(encodeWant([...lacking.values()]), { signal: step() });
        await receive(lacking, read, init, result);
      }
      after = keys.upto;
      pointStore = keys.store;
      store.setSyncPoint(key, { store: keys.store, seq: keys.upto });
      if (keys.end) {
        result.complete = true;
        break;
      }
    }
    await stream.close({ signal: step() }).catch(() => {});
    return result;
  } catch (error) {
    stream.abort(error as Error);
    throw error;
  }
}

/**
 * The offered keys this agent lacks and would accept: a publisher's events
 * beyond what its rate limit allowed around their publish time (a flood
 * that live validation cut short, kept in the flooder's own store) are not
 * fetched. The time is the one in the id; the event's own is checked again
 * when it arrives.
 */
function wanted(offered: Key[], init: PullInit, result: PullResult): Map<string, Key> {
  const lacking = new Map<string, Key>();
  const pending = new Map<string, number[]>();
  for (const key of offered) {
    if (init.store.has(key.publisher, key.id)) continue;
    const time = idTime(key.id);
    const times = pending.get(key.publisher) ?? [];
    if (time !== undefined && !init.mesh.historyRoom(key.publisher, time, times)) {
      result.over_limit++;
      continue;
    }
    if (time !== undefined) times.push(time);
    pending.set(key.publisher, times);
    lacking.set(`${key.publisher}/${key.id}`, key);
  }
  return lacking;
}

/** The time in a ULID id, or undefined for an id that is not one (the event is then judged when it arrives). */
function idTime(id: string): number | undefined {
  return ULID_PATTERN.test(id) ? ulidTime(id) : undefined;
}

/** Reads events frames until the last, taking only what was asked for. */
async function receive(
  lacking: Map<string, Key>,
  read: () => Promise<Uint8Array>,
  init: PullInit,
  result: PullResult,
): Promise<void> {
  const topics = new Set(init.topics);
  let allowed = lacking.size;
  for (;;) {
    const frame = decodeEvents(await read());
    for (const record of frame.events) {
      if (--allowed < 0) throw new ProtocolError("sent more events than were asked for");
      if (!topics.has(record.topic)) throw new ProtocolError(`sent an event on "${record.topic}", not asked for`);
      if (!(await verifyRecord(record))) {
        throw new ProtocolError(`sent an event whose signature is not its publisher's (${record.publisher})`);
      }
    }
    // Taken without an await between them, so the store commits the frame as one group before any sink
    // gets a turn: a notification's versions and its ack caught up together leave a desktop nothing to
    // show, where taking each after its own signature check let the first version pop up, then close.
    for (const record of frame.events) {
      const verdict = init.mesh.validateRecord(record);
      if ("event" in verdict) {
        // Each wanted key is taken once; a second copy, or one never asked for, breaks the protocol.
        if (!lacking.delete(`${record.publisher}/${verdict.event.id}`)) {
          throw new ProtocolError(`sent event ${verdict.event.id}, which was not asked for`);
        }
        init.onEvent(verdict.event, verdict.fingerprint, record);
        result.accepted++;
      } else if (verdict.reason !== "duplicate") {
        result.refused++;
      }
    }
    if (frame.last) return;
    // Every frame but the last carries events; anything else could go on forever.
    if (frame.events.length === 0) throw new ProtocolError("sent an empty events frame that was not the last");
  }
}
