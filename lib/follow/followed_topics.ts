/**
 * Topics followed on the fly. ntfy creates a topic when someone subscribes
 * or publishes to it; so does an agent for its http source's subscribers:
 * it subscribes to the topic on the mesh, stores and catches up its events,
 * and keeps doing so for the store's retention after the last subscriber
 * left, so a phone that comes back with `since=<last id>` finds everything
 * it missed. The list and when each topic's last subscriber left live in
 * the store, so following survives a restart.
 *
 * One timer, set to the next expiry, does the forgetting: an idle agent
 * wakes once per expiring topic, never to poll.
 */

import { HarkError } from "../errors.ts";

/** Where followed topics are kept (the event store). */
export interface FollowedStore {
  followedTopics(): { topic: string; leftAt: number | null }[];
  saveFollowed(topic: string, leftAt: number | null): void;
  forgetFollowed(topic: string): void;
}

export interface FollowedTopicsInit {
  store: FollowedStore;
  /** How long a topic is kept after its last subscriber left: the store's retention (ms). */
  keepMs: number;
  /** Topics the agent follows anyway (agent.topics and its own): never followed on the fly. */
  fixed: ReadonlySet<string>;
  /** The agent starts following `topic` (not called for the topics restore() returns). */
  onFollow(topic: string): void;
  /** The agent stops following `topic`: its last subscriber left `keepMs` ago. */
  onUnfollow(topic: string): void;
  now?: () => number;
}

/** A followed topic as `hark status` shows it. */
export interface FollowedTopic {
  topic: string;
  subscribers: number;
  /** When the last subscriber left (ISO time); null while one is connected. */
  left_at: string | null;
  /** When the agent stops following it, unless a subscriber comes; null while one is connected. */
  expires_at: string | null;
}

/** Following one more topic would pass the limit. */
export class FollowLimitError extends HarkError {
  override name = "FollowLimitError";
}

/** setTimeout's longest delay; a later expiry is checked again when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry {
  subscribers: number;
  /** When the last subscriber left; null while one is connected. */
  leftAt: number | null;
}

export class FollowedTopics {
  readonly #init: FollowedTopicsInit;
  readonly #now: () => number;
  readonly #topics = new Map<string, Entry>();
  #timer?: ReturnType<typeof setTimeout>;
  #running = false;

  constructor(init: FollowedTopicsInit) {
    this.#init = init;
    this.#now = init.now ?? Date.now;
  }

  /**
   * Reads the stored list and starts the expiry timer; returns the topics
   * still followed. One that had subscribers when the agent stopped counts
   * as left now: they left no later than that. Idempotent.
   */
  restore(): string[] {
    if (this.#running) return [...this.#topics.keys()];
    this.#running = true;
    const now = this.#now();
    for (const { topic, leftAt } of this.#init.store.followedTopics()) {
      if (this.#init.fixed.has(topic) || (leftAt !== null && leftAt + this.#init.keepMs <= now)) {
        this.#init.store.forgetFollowed(topic);
        continue;
      }
      if (leftAt === null) this.#init.store.saveFollowed(topic, now);
      this.#topics.set(topic, { subscribers: 0, leftAt: leftAt ?? now });
    }
    this.#arm();
    return [...this.#topics.keys()];
  }

  /** Stops the timer; the stored list stays for the next start. Idempotent. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#topics.clear();
  }

  get size(): number {
    return this.#topics.size;
  }

  has(topic: string): boolean {
    return this.#topics.has(topic);
  }

  /** The topics followed on the fly now. */
  topics(): string[] {
    return [...this.#topics.keys()];
  }

  /**
   * Follows each topic not followed yet; one without subscribers counts as
   * used now, so its time starts again. Throws FollowLimitError, following
   * none, when the new ones would make more than `max`. Returns the new ones.
   */
  follow(topics: Iterable<string>, max: number): string[] {
    if (!this.#running) throw new HarkError("the agent is not running");
    const now = this.#now();
    const wanted = [...new Set(topics)];
    const fresh = wanted.filter((topic) => !this.#init.fixed.has(topic) && !this.#topics.has(topic));
    if (fresh.length > 0 && this.#topics.size + fresh.length > max) {
      throw new FollowLimitError(
        `limit reached: this agent follows ${this.#topics.size} topics for subscribers, at most ${max}; raise follow_max in the http [[source]], or wait until unused ones expire`,
      );
    }
    for (const topic of wanted) {
      const entry = this.#topics.get(topic);
      if (!entry || entry.subscribers > 0) continue;
      entry.leftAt = now;
      this.#init.store.saveFollowed(topic, now);
    }
    for (const topic of fresh) {
      this.#topics.set(topic, { subscribers: 0, leftAt: now });
      this.#init.store.saveFollowed(topic, now);
      this.#init.onFollow(topic);
    }
    this.#arm();
    return fresh;
  }

  /**
   * Counts a subscriber on each followed topic among `topics` until the
   * returned function is called (idempotent); when the last one leaves, the
   * topic's retention starts.
   */
  hold(topics: Iterable<string>): () => void {
    const held = [...new Set(topics)].filter((topic) => this.#topics.has(topic));
    for (const topic of held) {
      const entry = this.#topics.get(topic)!;
      if (entry.subscribers++ === 0) {
        entry.leftAt = null;
        this.#init.store.saveFollowed(topic, null);
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = this.#now();
      for (const topic of held) {
        const entry = this.#topics.get(topic);
        // Expired meanwhile cannot happen while held; gone only when the agent stopped.
        if (!entry || --entry.subscribers > 0) continue;
        entry.leftAt = now;
        this.#init.store.saveFollowed(topic, now);
      }
      this.#arm();
    };
  }

  /** What `hark status` shows, by topic. */
  list(): FollowedTopic[] {
    const time = (ms: number | null) => ms === null ? null : new Date(ms).toISOString();
    return [...this.#topics].sort(([a], [b]) => a.localeCompare(b)).map(([topic, entry]) => ({
      topic,
      subscribers: entry.subscribers,
      left_at: time(entry.leftAt),
      expires_at: time(entry.leftAt === null ? null : entry.leftAt + this.#init.keepMs),
    }));
  }

  /** Sets the one timer to the next expiry, if any topic has none connected. */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#running) return;
    let next = Infinity;
    for (const entry of this.#topics.values()) {
      if (entry.leftAt !== null) next = Math.min(next, entry.leftAt + this.#init.keepMs);
    }
    if (next === Infinity) return;
    const delay = Math.min(Math.max(0, next - this.#now()), MAX_TIMER_MS);
    this.#timer = setTimeout(() => this.#expire(), delay);
  }

  #expire(): void {
    this.#timer = undefined;
    const now = this.#now();
    for (const [topic, entry] of [...this.#topics]) {
      if (entry.leftAt === null || entry.leftAt + this.#init.keepMs > now) continue;
      this.#topics.delete(topic);
      this.#init.store.forgetFollowed(topic);
      this.#init.onUnfollow(topic);
    }
    this.#arm();
  }
}
