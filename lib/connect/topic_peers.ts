/**
 * Connects the followers of each topic to each other.
 *
 * Gossipsub forwards a topic's events only among agents that follow it, over
 * connections they already have. Connections come from mDNS, bootstrap
 * peers and peer exchange, none of which look at topics, so in a fleet where
 * each agent follows a few of many topics the followers of one topic may
 * share no connection at all: in the simulator (40 agents in subnets of 10,
 * 8 topics) 96 of 160 deliveries never happened. Every agent hears every
 * member's join and status, which name the member's topics and where to
 * dial it (lib/mesh/membership.ts), so an agent with fewer than `WANTED`
 * connected followers of a topic it follows dials some it knows of.
 *
 * Each follower dials up to `WANTED` others at random, so a topic's
 * followers form a random graph of that degree at least, connected in all
 * but a vanishing share of cases; gossipsub's mesh (D = 3) forms on it.
 * The followers a topic rests on are kept when the connection limit trims
 * (`isKept`), at both ends: the dialed one knows the dialer follows the topic
 * too. A follower whose dial fails waits `RETRY_AFTER_MS`, twice that after
 * a second failure, and so on up to `RETRY_MAX_MS`.
 *
 * Idle cost: one look every `CHECK_MS`, over the topics followed and the
 * connections, and nothing else while every topic has its followers. The
 * members known are walked only for a topic that lacks followers.
 */

import { getLogger } from "@logtape/logtape";
import { shuffle } from "../util/shuffle.ts";

const log = getLogger(["hark", "peers"]);

/** Connected followers wanted per topic: gossipsub's D. */
export const WANTED = 3;
/** How often the topics are looked at. */
const CHECK_MS = 30_000;
/** A member heard of lately is dialed this soon, once things settle. */
const SOON_MS = 1_000;
/** A follower whose dial failed is not dialed again for this long (a busy host may be slow to answer). */
const RETRY_AFTER_MS = 60_000;
/** The longest wait after failures in a row: a member naming a dead or wrong address costs little. */
const RETRY_MAX_MS = 60 * 60_000;
/** How long the kept set stays valid: the trimmer asks once per connection. */
const KEPT_VALID_MS = 1_000;

export interface TopicPeersInit {
  /** The topics this agent follows (events only; not the agents' own `hark.*`). */
  topics: () => string[];
  /** Members that said they follow `topic`, with where to dial them. */
  followersOf: (topic: string) => { peer: string; addresses: string[] }[];
  /** Whether member `peer` said it follows `topic`. */
  follows: (peer: string, topic: string) => boolean;
  /** Connected peers that told gossipsub they subscribe to `topic`. */
  subscribers: (topic: string) => string[];
  /** The peers this agent has a connection to now. */
  connectedPeers: () => string[];
  /** Dials `peer` at `addresses`; rejects when that fails or `signal` ends. */
  dial: (peer: string, addresses: string[], signal: AbortSignal) => Promise<void>;
  /** Whether this agent and `peer` let each other go lately (connection limit). */
  parted?: (peer: string) => boolean;
  self: string;
  dialTimeoutMs?: number;
  now?: () => number;
}

export class TopicPeers {
  #init: TopicPeersInit;
  #timer?: ReturnType<typeof setInterval>;
  #soon?: ReturnType<typeof setTimeout>;
  #dialing = new Set<string>();
  /** Followers whose dial failed, and when. */
  #failed = new Map<string, { at: number; times: number }>();
  #kept?: { at: number; peers: Set<string> };
  #abort?: AbortController;
  #dialed = 0;

  constructor(init: TopicPeersInit) {
    this.#init = init;
  }

  start(): void {
    if (this.#timer) return;
    this.#abort = new AbortController();
    this.#timer = setInterval(() => void this.check(), CHECK_MS);
    this.#scheduleSoon();
  }

  stop(): void {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    clearTimeout(this.#soon);
    this.#timer = undefined;
    this.#soon = undefined;
    this.#abort?.abort();
    this.#abort = undefined;
    this.#failed.clear();
    this.#kept = undefined;
  }

  /** Followers this agent dialed for a topic since it started. */
  get dialed(): number {
    return this.#dialed;
  }

  /** A member said it follows `topics`: look soon, when one of them is this agent's and lacks followers. */
  heard(topics: readonly string[] | undefined): void {
    if (!this.#timer || !topics?.length) return;
    const mine = new Set(this.#init.topics());
    if (topics.some((topic) => mine.has(topic) && this.#connectedFollowers(topic).size < WANTED)) {
      this.#scheduleSoon();
    }
  }

  /**
   * Whether the connection limit must keep `peer`: it is one of the first
   * `WANTED` connected followers (by peer id, so both ends agree) of a topic
   * this agent follows.
   */
  isKept(peer: string): boolean {
    const now = this.#now();
    if (!this.#kept || now - this.#kept.at >= KEPT_VALID_MS) {
      const peers = new Set<string>();
      for (const topic of this.#init.topics()) {
        for (const follower of [...this.#connectedFollowers(topic)].sort().slice(0, WANTED)) peers.add(follower);
      }
      this.#kept = { at: now, peers };
    }
    return this.#kept.peers.has(peer);
  }

  /** Dials followers for every topic with fewer than `WANTED` connected; resolves when those dials end. */
  async check(): Promise<void> {
    const signal = this.#abort?.signal;
    if (!signal) return;
    const now = this.#now();
    const dials: Promise<void>[] = [];
    const chosen = new Set<string>();
    for (const topic of this.#init.topics()) {
      const connected = this.#connectedFollowers(topic);
      let inFlight = 0;
      for (const peer of [...this.#dialing, ...chosen]) if (this.#init.follows(peer, topic)) inFlight++;
      let missing = WANTED - connected.size - inFlight;
      if (missing <= 0) continue;
      const candidates = shuffle(
        this.#init.followersOf(topic).filter(({ peer, addresses }) =>
          peer !== this.#init.self && addresses.length > 0 && !connected.has(peer) && !this.#dialing.has(peer) &&
          !chosen.has(peer) && !this.#waiting(peer, now) && !(this.#init.parted?.(peer) ?? false)
        ),
      );
      for (const candidate of candidates) {
        if (missing-- <= 0) break;
        chosen.add(candidate.peer);
        dials.push(this.#dial(topic, candidate, signal));
      }
    }
    await Promise.all(dials);
  }

  async #dial(topic: string, { peer, addresses }: { peer: string; addresses: string[] }, stop: AbortSignal) {
    this.#dialing.add(peer);
    try {
      await this.#init.dial(
        peer,
        addresses,
        AbortSignal.any([stop, AbortSignal.timeout(this.#init.dialTimeoutMs ?? 5000)]),
      );
      this.#dialed++;
      this.#failed.delete(peer);
      this.#kept = undefined;
      log.debug("Connected to {peer}, which follows {topic} too", { peer, topic });
    } catch (error) {
      if (stop.aborted) return;
      const times = (this.#failed.get(peer)?.times ?? 0) + 1;
      this.#failed.set(peer, { at: this.#now(), times });
      log.debug("Cannot dial {peer}, which follows {topic} too: {error}", {
        peer,
        topic,
        error: (error as Error).message,
      });
    } finally {
      this.#dialing.delete(peer);
    }
  }

  /**
   * Connected peers that follow `topic`: those gossipsub knows subscribe, and
   * members that said so. Walks the connections, not the members: this runs
   * for every join and status heard, and a fleet has far more members than
   * an agent has connections.
   */
  #connectedFollowers(topic: string): Set<string> {
    const followers = new Set(this.#init.subscribers(topic));
    for (const peer of this.#init.connectedPeers()) {
      if (this.#init.follows(peer, topic)) followers.add(peer);
    }
    return followers;
  }

  /** Whether `peer` failed lately: RETRY_AFTER_MS after one failure, doubling with each, at most RETRY_MAX_MS. */
  #waiting(peer: string, now: number): boolean {
    const failed = this.#failed.get(peer);
    if (!failed) return false;
    return now - failed.at < Math.min(RETRY_MAX_MS, RETRY_AFTER_MS * 2 ** (failed.times - 1));
  }

  #scheduleSoon(): void {
    if (this.#soon !== undefined || !this.#timer) return;
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      void this.check();
    }, SOON_MS);
  }

  #now(): number {
    return (this.#init.now ?? Date.now)();
  }
}
