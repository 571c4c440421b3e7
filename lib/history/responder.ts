/**
 * Serves `/hark/history/1.0.0`: tells a peer catching up which events this
 * agent holds after the point it names, and sends the ones it lacks, each
 * with its publisher's signature. Only topics the peer subscribes to are
 * served (whatever this agent holds on them: events it published itself on
 * topics it does not follow too); sessions are rate-limited per peer and few run at once, so a peer
 * cannot turn history into a way to load this agent.
 */

import type { Connection, Libp2p, PeerId, PrivateKey, Stream } from "@libp2p/interface";
import type { GossipSub } from "@libp2p/gossipsub";
import { lpStream } from "../mesh/libp2p.ts";
import { getLogger } from "@logtape/logtape";
import type { EventStore, PairKey, ServedRow } from "../store/store.ts";
import { type SignedRecord, signRecord, verifyRecord } from "../event/signed_record.ts";
import { TokenBuckets } from "../rate_limit.ts";
import { TOPIC_PREFIX } from "../mesh/validator.ts";
import {
  decodeRequest,
  decodeWant,
  encodeError,
  encodeEvents,
  encodeKeys,
  HISTORY_PROTOCOL,
  type Key,
  KEYS_PER_FRAME,
  MAX_FRAME_BYTES,
  type PairSummary,
  ProtocolError,
  recordFrameBytes,
} from "./wire.ts";

const log = getLogger(["hark", "history"]);

/** Rows remembered as checked: a store's default cap, at 8 bytes or so each. */
const CHECKED_ROWS = 100_000;

/** Pairs whose rows up to `upto` the asking peer holds already. */
interface HeldAlike {
  pairs: PairKey[];
  upto: number;
}

export interface ResponderInit {
  node: Libp2p<{ pubsub: GossipSub }>;
  store: EventStore;
  privateKey: PrivateKey;
  /** Sessions one peer may start per second, on average. @default 0.5 */
  sessionRate?: number;
  /** Sessions one peer may start at once after a quiet spell. @default 5 */
  sessionBurst?: number;
  /** Sessions served at the same time, from all peers. @default 4 */
  maxSessions?: number;
  /** Longest a whole session may take. @default 120000 */
  sessionMs?: number;
  /** Longest wait for the peer's next frame. @default 10000 */
  frameMs?: number;
  /** How long to wait for a new peer's subscriptions to arrive. @default 2000 */
  subscriptionGraceMs?: number;
}

export class HistoryResponder {
  #init: ResponderInit;
  #buckets: TokenBuckets;
  #active = new Set<AbortController>();
  #running = false;
  /**
   * Stored rows (by sequence number, which the store never gives to another
   * event) whose publisher's signature was checked once already: a fleet's
   * agents ask each one for the same events, and checking again each time
   * was the responder's largest cost when many agents met at once.
   */
  #checked = new Set<number>();

  constructor(init: ResponderInit) {
    this.#init = init;
    this.#buckets = new TokenBuckets({ rate: init.sessionRate ?? 0.5, burst: init.sessionBurst ?? 5 });
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#init.node.handle(HISTORY_PROTOCOL, (stream, connection) => this.#serve(stream, connection), {
      // A peer runs one session at a time; the second stream leaves room for
      // the next session while the last one's close is still on its way.
      maxInboundStreams: 2,
      maxOutboundStreams: 2,
      // Agents behind NAT may have only relayed connections.
      runOnLimitedConnection: true,
    });
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const session of this.#active) session.abort(new Error("the agent is stopping"));
    await this.#init.node.unhandle(HISTORY_PROTOCOL).catch(() => {});
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer;
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
    const session = new AbortController();
    const frameMs = this.#init.frameMs ?? 10_000;
    const deadline = AbortSignal.any([session.signal, AbortSignal.timeout(this.#init.sessionMs ?? 120_000)]);
    // Each step has its own deadline: a stalled peer cannot hold a session slot for long.
    const step = () => AbortSignal.any([deadline, AbortSignal.timeout(frameMs)]);
    const read = () => lp.read({ signal: step() });
    try {
      if (!this.#running) throw new ProtocolError("the agent is stopping");
      if (this.#active.size >= (this.#init.maxSessions ?? 4)) throw new ProtocolError("busy; try again later");
      if (!this.#buckets.take(peer.toString())) throw new ProtocolError("too many history requests; slow down");
      this.#active.add(session);
      const request = decodeRequest((await read()).subarray());
      const topics = await this.#servableTopics(peer, request.topics, deadline);
      if (topics.length === 0) {
        throw new ProtocolError(
          `none of ${request.topics.join(", ") || "(no topics)"} is a topic the asking agent subscribes to`,
        );
      }
      const after = request.store === this.#init.store.id ? request.after : 0;
      // A summary speaks for the whole of the peer's store: it is of use only to a session from the start.
      const skip = after === 0 && request.have?.length ? this.#heldAlike(request.have, topics) : undefined;
      await this.#offer(lp, read, step, topics, after, skip);
      await stream.close({ signal: step() });
    } catch (error) {
      const message = (error as Error).message;
      if (error instanceof ProtocolError) {
        log.debug("History request from {peer} refused: {message}", { peer: peer.toString(), message });
        await lp.write(encodeError(message), { signal: AbortSignal.timeout(frameMs) }).catch(() => {});
        await stream.close({ signal: AbortSignal.timeout(frameMs) }).catch(() => stream.abort(error as Error));
      } else {
        log.debug("History session with {peer} ended: {message}", { peer: peer.toString(), message });
        stream.abort(error as Error);
      }
    } finally {
      this.#active.delete(session);
    }
  }

  /** Offers keys after `after` in frames; sends the events the peer asks for after each. */
  async #offer(
    lp: ReturnType<typeof lpStream>,
    read: () => Promise<{ subarray(): Uint8Array }>,
    step: () => AbortSignal,
    topics: string[],
    after: number,
    skip?: HeldAlike,
  ): Promise<void> {
    const store = this.#init.store;
    for (;;) {
      // The pairs the peer holds alike are left out by the query itself, so a full page is full of keys to offer,
      // `upto` still means "every key up to here was offered or is held alike", and only the last frame is empty.
      const rows = store.keysAfter(after, topics, KEYS_PER_FRAME, skip);
      const end = rows.length < KEYS_PER_FRAME;
      // With nothing left, the peer's point moves to the newest event (other topics included); so it does
      // after a last frame with pairs left out, whose last key may lie far before the newest row.
      const upto = rows.length === 0 || (end && skip) ? Math.max(after, store.lastSeq()) : rows.at(-1)!.seq;
      const keys = rows.map(({ publisher, id }) => ({ publisher, id }));
      await lp.write(encodeKeys({ keys, upto, store: store.id, end }), { signal: step() });
      if (keys.length === 0) return;
      const offered = new Set(keys.map(keyText));
      const want = decodeWant((await read()).subarray());
      // Each offered key may be asked for once: a cheap request must not buy many copies.
      if (!want.every((key) => offered.delete(keyText(key)))) {
        throw new ProtocolError("asked for a key not offered, or twice");
      }
      await this.#sendEvents(lp, want, step);
      if (end) return;
      after = upto;
    }
  }

  /**
   * The (topic, publisher) pairs of which the peer holds as many events as
   * this agent, with the same fingerprints' sum: their keys need not cross.
   * Only rows stored now: an event of such a pair that arrives during the
   * session is offered like any other.
   */
  #heldAlike(have: PairSummary[], topics: string[]): HeldAlike {
    const store = this.#init.store;
    const upto = store.lastSeq();
    const theirs = new Map(have.map((pair) => [`${pair.topic} ${pair.publisher}`, pair]));
    const pairs = store.pairSummaries(topics).filter((ours) => {
      const peer = theirs.get(`${ours.topic} ${ours.publisher}`);
      return peer !== undefined && peer.count === ours.count && peer.sum === ours.sum;
    });
    return { pairs, upto };
  }

  async #sendEvents(lp: ReturnType<typeof lpStream>, want: Key[], step: () => AbortSignal): Promise<void> {
    // Well under the frame limit: the estimate is rough, and one event of the largest size must fit alone.
    const budget = MAX_FRAME_BYTES / 2;
    let frame: SignedRecord[] = [];
    let size = 0;
    for (const row of this.#init.store.served(want)) {
      const record = await this.#record(row);
      if (!record) continue;
      const bytes = recordFrameBytes(record);
      if (frame.length > 0 && size + bytes > budget) {
        await lp.write(encodeEvents({ events: frame, last: false }), { signal: step() });
        frame = [];
        size = 0;
      }
      frame.push(record);
      size += bytes;
    }
    await lp.write(encodeEvents({ events: frame, last: true }), { signal: step() });
  }

  /**
   * A stored event as a signed record; this agent's own events are signed
   * now. An event that came in a batch was vouched for by the batch's
   * signature, not yet by its own (the publisher's, carried along for this):
   * that one is checked here, on the rare path, instead of on every arrival,
   * so a publisher's bad signature is never passed on as this agent's error.
   */
  async #record(row: ServedRow): Promise<SignedRecord | undefined> {
    if (!row.signed) return await signRecord(this.#init.privateKey, row.topic, row.data);
    const record = { publisher: row.publisher, topic: row.topic, data: row.data, ...row.signed };
    if (this.#checked.has(row.seq)) return record;
    if (await verifyRecord(record)) {
      // Oldest first out: a Set iterates in insertion order.
      if (this.#checked.size >= CHECKED_ROWS) this.#checked.delete(this.#checked.values().next().value!);
      this.#checked.add(row.seq);
      return record;
    }
    log.warn("Not serving stored event {id} from {publisher}: its signature does not check", {
      id: row.id,
      publisher: row.publisher,
    });
    return undefined;
  }

  /**
   * The requested topics the peer subscribes to. Not only those this agent
   * subscribes to: a peer that follows a topic (on the fly, for a phone)
   * finds there what this agent published on it while the peer was away.
   * Nothing is given away by this: any member can subscribe to any topic.
   * A peer that has just connected, or just followed a topic, may ask
   * before its subscription arrives; wait a little for it.
   */
  async #servableTopics(peer: PeerId, requested: string[], signal: AbortSignal): Promise<string[]> {
    const pubsub = this.#init.node.services.pubsub;
    const servable = () =>
      requested.filter((topic) => pubsub.getSubscribers(TOPIC_PREFIX + topic).some((id) => id.equals(peer)));
    let topics = servable();
    if (topics.length > 0) return topics;
    const grace = AbortSignal.any([signal, AbortSignal.timeout(this.#init.subscriptionGraceMs ?? 5000)]);
    await new Promise<void>((resolve) => {
      const done = () => {
        pubsub.removeEventListener("subscription-change", check);
        grace.removeEventListener("abort", done);
        resolve();
      };
      const check = () => {
        topics = servable();
        if (topics.length > 0) done();
      };
      pubsub.addEventListener("subscription-change", check);
      grace.addEventListener("abort", done, { once: true });
      check();
    });
    return topics;
  }
}

function keyText(key: Key): string {
  return `${key.publisher}/${key.id}`;
}
