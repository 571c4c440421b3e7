/**
 * Decides when to catch up, and with whom: with each peer that speaks the
 * history protocol as soon as it connects (after a restart, a sleep or a
 * healed partition), and each `intervalMs` with one connected peer in turn
 * as anti-entropy, for what gossip missed while connections stayed up. One
 * peer per round keeps an idle agent idle; what one peer lacks it gets
 * from whichever peer it asks next.
 * Sessions run one at a time, so catching up never competes with itself
 * for CPU; a peer that breaks the protocol is left alone for a while.
 */

import type { PeerId } from "@libp2p/interface";
import { getLogger } from "@logtape/logtape";
import type { EventStore } from "../store/store.ts";
import type { SignedRecord } from "../event/signed_record.ts";
import type { Mesh } from "../mesh/mesh.ts";
import type { HarkEvent } from "../event/event.ts";
import { pullHistory } from "./requester.ts";
import { HISTORY_PROTOCOL, PeerRefusedError, ProtocolError } from "./wire.ts";

const log = getLogger(["hark", "history"]);

/** The most topics one request may name (wire.ts). */
const MAX_REQUEST_TOPICS = 256;
/** How long after a connection the second catch-up session runs, once gossip flows both ways. */
const SETTLE_MS = 3000;

/**
 * The responder's words for "all session slots are taken" and "too many
 * sessions from you" (responder.ts): both pass in seconds (a session token
 * comes back every 2 s), so the peer is asked again soon, not after
 * `refusedMs`. A catch-up round takes a session per group of topics, and a
 * topic followed just after a restart must not wait half a minute.
 */
const BUSY = /\bbusy\b|\bslow down\b/;

/** What catching up needs of the mesh: who speaks history, a stream to them, and the network's rules. */
export type HistoryMesh = Pick<
  Mesh,
  "dialProtocol" | "validateRecord" | "historyRoom" | "peersSpeaking" | "onIdentified" | "isConnected"
>;

export interface CatchUpInit {
  mesh: HistoryMesh;
  store: EventStore;
  /** The topics the agent started with (agent.topics and its own). */
  topics: string[];
  /** Topics followed since (lib/follow/), asked for in requests of their own, read at each session. */
  followed?: () => string[];
  onEvent: (event: HarkEvent, fingerprint: number, record: SignedRecord) => void;
  /** Called as a session starts; what it returns, as the session ends (its events all stored). */
  onSession?: () => () => void;
  /** Anti-entropy: how often the next peer in turn is asked. @default 60000 */
  intervalMs?: number;
  /** A peer whose session failed (network) waits this long. @default 5000 */
  retryMs?: number;
  /** The second session after a connection runs this long after the first. @default 3000 */
  settleMs?: number;
  /** A peer that broke the protocol waits this long. @default 600000 */
  penaltyMs?: number;
  /** A peer that declined (rate limit, no shared topics) waits this long; a busy one, `retryMs`. @default 30000 */
  refusedMs?: number;
}

export interface CatchUpCounters {
  sessions: number;
  /** Events this agent got from peers' history. */
  caught_up: number;
  /** Events refused: invalid, not allowed, conflicting, or over their publisher's rate limit by publish time. */
  refused: number;
  failed_sessions: number;
  /** Keys peers offered this agent: about the events they hold that it may lack (a first session's summary keeps it low). */
  keys_offered: number;
}

export class CatchUp {
  readonly counters: CatchUpCounters = { sessions: 0, caught_up: 0, refused: 0, failed_sessions: 0, keys_offered: 0 };
  #init: CatchUpInit;
  #queue: PeerId[] = [];
  #queued = new Set<string>();
  #quietUntil = new Map<string, number>();
  #abort = new AbortController();
  #timer?: ReturnType<typeof setInterval>;
  #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  #draining?: Promise<void>;
  #running = false;
  #lastInTurn = "";
  #stopIdentified?: () => void;

  constructor(init: CatchUpInit) {
    this.#init = init;
  }

  start(): void {
    if (this.#running || this.#init.topics.length === 0) return;
    this.#running = true;
    this.#abort = new AbortController();
    this.#stopIdentified = this.#init.mesh.onIdentified((peer, protocols) => {
      if (!protocols.includes(HISTORY_PROTOCOL)) return;
      this.request(peer);
      // Gossip does not flow both ways until each side has opened its own
      // stream and learned the other's subscriptions: what the peer publishes
      // in those first moments (its join, when both start together) reaches
      // nobody, and the session above may have run before it was stored.
      // One more session once the link has settled picks it up.
      this.#retryLater(peer, this.#init.settleMs ?? SETTLE_MS);
    });
    this.#timer = setInterval(() => this.#nextInTurn(), this.#init.intervalMs ?? 60_000);
    // Peers already connected (identify ran before this started).
    void this.#everyone();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#stopIdentified?.();
    this.#stopIdentified = undefined;
    clearInterval(this.#timer);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    this.#queue = [];
    this.#queued.clear();
    this.#abort.abort(new Error("the agent is stopping"));
    await this.#draining;
  }

  /**
   * Asks every peer now, for a topic just followed, so that its first
   * subscriber finds the mesh's history; resolves once those sessions are
   * done, or after `timeoutMs` (they carry on).
   */
  async refresh(timeoutMs: number): Promise<void> {
    if (!this.#running) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs));
    try {
      await Promise.race([
        (async () => {
          await this.#everyone();
          await this.#draining;
        })(),
        deadline,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Asks `peer` for what this agent missed, soon. Repeated calls for one peer queue it once. */
  request(peer: PeerId): void {
    const id = peer.toString();
    if (!this.#running || this.#queued.has(id)) return;
    if ((this.#quietUntil.get(id) ?? 0) > Date.now()) return;
    this.#queued.add(id);
    this.#queue.push(peer);
    this.#draining ??= this.#drain().finally(() => (this.#draining = undefined));
  }

  async #everyone(): Promise<void> {
    for (const peer of await this.#historyPeers()) this.request(peer);
  }

  async #nextInTurn(): Promise<void> {
    const peers = (await this.#historyPeers()).sort((a, b) => a.toString().localeCompare(b.toString()));
    if (peers.length === 0) return;
    // The first peer after the one asked last time, by id: every peer gets its turn.
    const next = peers.find((peer) => peer.toString() > this.#lastInTurn) ?? peers[0];
    this.#lastInTurn = next.toString();
    this.request(next);
  }

  #historyPeers(): Promise<PeerId[]> {
    return this.#init.mesh.peersSpeaking(HISTORY_PROTOCOL);
  }

  async #drain(): Promise<void> {
    while (this.#running) {
      const peer = this.#queue.shift();
      if (!peer) return;
      this.#queued.delete(peer.toString());
      // Queued behind others while it left (or was let go to stay within
      // max_connections): asking would dial it again. It is asked when it
      // comes back, as every identified peer is.
      if (!this.#init.mesh.isConnected(peer.toString())) continue;
      await this.#session(peer);
    }
  }

  async #session(peer: PeerId): Promise<void> {
    const id = peer.toString();
    this.counters.sessions++;
    const ended = this.#init.onSession?.();
    try {
      let more = false;
      for (const topics of this.#groups()) {
        const result = await pullHistory(peer, { ...this.#init, topics, signal: this.#abort.signal });
        this.counters.caught_up += result.accepted;
        this.counters.keys_offered += result.offered;
        // Keys left unasked because their publisher was over its rate limit are refused events too.
        this.counters.refused += result.refused + result.over_limit;
        if (result.accepted > 0) {
          log.info("Caught up {count} events from {peer}", { count: result.accepted, peer: id });
        }
        if (result.over_limit > 0) {
          log.info("Left out {count} events {peer} offered: their publishers were over the rate limit then", {
            count: result.over_limit,
            peer: id,
          });
        }
        if (!result.complete && result.accepted > 0) more = true;
      }
      // The peer has more than one session takes; carry on after the others.
      if (more) this.request(peer);
    } catch (error) {
      if (!this.#running) return;
      this.counters.failed_sessions++;
      const message = (error as Error).message;
      if (error instanceof ProtocolError) {
        log.warn("Catching up from {peer} stopped: {message}", { peer: id, message });
        this.#quietUntil.set(id, Date.now() + (this.#init.penaltyMs ?? 600_000));
        return;
      }
      if (error instanceof PeerRefusedError && BUSY.test(message)) {
        // Everyone catches up from a peer that just came back; it serves a few at a time.
        log.debug("{peer} is busy serving history: {message}", { peer: id, message });
        this.#retryLater(peer);
        return;
      }
      if (error instanceof PeerRefusedError) {
        log.debug("{peer} declined to serve history: {message}", { peer: id, message });
        this.#quietUntil.set(id, Date.now() + (this.#init.refusedMs ?? 30_000));
        return;
      }
      log.debug("Catching up from {peer} failed: {message}", { peer: id, message });
      this.#retryLater(peer);
    } finally {
      ended?.();
    }
  }

  /**
   * The topics asked for, one request each: the agent's own, then those
   * followed since, so that following a new topic (which starts its
   * request's point with each peer again, as for any new set of topics)
   * leaves the point of the agent's own topics where it was.
   */
  #groups(): string[][] {
    const followed = (this.#init.followed?.() ?? []).toSorted();
    const groups = [this.#init.topics];
    for (let i = 0; i < followed.length; i += MAX_REQUEST_TOPICS) {
      groups.push(followed.slice(i, i + MAX_REQUEST_TOPICS));
    }
    return groups;
  }

  /** A busy or unreachable peer is asked again after a pause, while it stays connected. */
  #retryLater(peer: PeerId, delayMs = this.#init.retryMs ?? 5000): void {
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (this.#init.mesh.isConnected(peer.toString())) this.request(peer);
    }, delayMs);
    this.#retryTimers.add(timer);
  }
}
