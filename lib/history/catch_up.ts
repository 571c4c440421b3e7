/**
 * Decides when to catch up, and with whom: with each peer that speaks the
 * history protocol as soon as it connects (after a restart, a sleep or a
 * healed partition), and with every peer again each `intervalMs` as
 * anti-entropy, for what gossip missed while connections stayed up.
 * Sessions run one at a time, so catching up never competes with itself
 * for CPU; a peer that breaks the protocol is left alone for a while.
 */

import type { IdentifyResult, Libp2p, PeerId } from "@libp2p/interface";
import { getLogger } from "@logtape/logtape";
import type { EventStore } from "../store.ts";
import type { SignedRecord } from "../signed_record.ts";
import type { EventValidator } from "../validator.ts";
import type { HarkEvent } from "../event.ts";
import { pullHistory } from "./requester.ts";
import { HISTORY_PROTOCOL, PeerRefusedError, ProtocolError } from "./wire.ts";

const log = getLogger(["hark", "history"]);

export interface CatchUpInit {
  node: Libp2p;
  store: EventStore;
  validator: EventValidator;
  topics: string[];
  onEvent: (event: HarkEvent, fingerprint: number, record: SignedRecord) => void;
  /** Anti-entropy: how often every peer is asked again. @default 60000 */
  intervalMs?: number;
  /** A peer whose session failed (network) waits this long. @default 5000 */
  retryMs?: number;
  /** A peer that broke the protocol waits this long. @default 600000 */
  penaltyMs?: number;
  /** A peer that declined (busy, rate limit, no shared topics) waits this long. @default 30000 */
  refusedMs?: number;
}

export interface CatchUpCounters {
  sessions: number;
  /** Events this agent got from peers' history. */
  caught_up: number;
  refused: number;
  failed_sessions: number;
}

export class CatchUp {
  readonly counters: CatchUpCounters = { sessions: 0, caught_up: 0, refused: 0, failed_sessions: 0 };
  #init: CatchUpInit;
  #queue: PeerId[] = [];
  #queued = new Set<string>();
  #quietUntil = new Map<string, number>();
  #abort = new AbortController();
  #timer?: ReturnType<typeof setInterval>;
  #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  #draining?: Promise<void>;
  #running = false;

  constructor(init: CatchUpInit) {
    this.#init = init;
  }

  start(): void {
    if (this.#running || this.#init.topics.length === 0) return;
    this.#running = true;
    this.#abort = new AbortController();
    this.#init.node.addEventListener("peer:identify", this.#onIdentify);
    this.#timer = setInterval(() => this.#everyone(), this.#init.intervalMs ?? 60_000);
    // Peers already connected (identify ran before this started).
    this.#everyone();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#init.node.removeEventListener("peer:identify", this.#onIdentify);
    clearInterval(this.#timer);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    this.#queue = [];
    this.#queued.clear();
    this.#abort.abort(new Error("the agent is stopping"));
    await this.#draining;
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

  #onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    if (evt.detail.protocols.includes(HISTORY_PROTOCOL)) this.request(evt.detail.peerId);
  };

  async #everyone(): Promise<void> {
    const node = this.#init.node;
    const peers = new Map(node.getConnections().map((c) => [c.remotePeer.toString(), c.remotePeer]));
    for (const peer of peers.values()) {
      try {
        const known = await node.peerStore.get(peer);
        if (known.protocols.includes(HISTORY_PROTOCOL)) this.request(peer);
      } catch {
        // Not identified yet; identify will ask for it.
      }
    }
  }

  async #drain(): Promise<void> {
    while (this.#running) {
      const peer = this.#queue.shift();
      if (!peer) return;
      this.#queued.delete(peer.toString());
      await this.#session(peer);
    }
  }

  async #session(peer: PeerId): Promise<void> {
    const id = peer.toString();
    this.counters.sessions++;
    try {
      const result = await pullHistory(peer, { ...this.#init, signal: this.#abort.signal });
      this.counters.caught_up += result.accepted;
      this.counters.refused += result.refused;
      if (result.accepted > 0) {
        log.info("Caught up {count} events from {peer}", { count: result.accepted, peer: id });
      }
      // The peer has more than one session takes; carry on after the others.
      if (!result.complete && result.accepted > 0) this.request(peer);
    } catch (error) {
      if (!this.#running) return;
      this.counters.failed_sessions++;
      const message = (error as Error).message;
      if (error instanceof ProtocolError) {
        log.warn("Catching up from {peer} stopped: {message}", { peer: id, message });
        this.#quietUntil.set(id, Date.now() + (this.#init.penaltyMs ?? 600_000));
        return;
      }
      if (error instanceof PeerRefusedError) {
        log.debug("{peer} declined to serve history: {message}", { peer: id, message });
        this.#quietUntil.set(id, Date.now() + (this.#init.refusedMs ?? 30_000));
        return;
      }
      log.debug("Catching up from {peer} failed: {message}", { peer: id, message });
      this.#retryLater(peer);
    }
  }

  /** A busy or unreachable peer is asked again after a pause, while it stays connected. */
  #retryLater(peer: PeerId): void {
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (this.#init.node.getConnections(peer).length > 0) this.request(peer);
    }, this.#init.retryMs ?? 5000);
    this.#retryTimers.add(timer);
  }
}
