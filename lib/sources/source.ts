import type { EventDraft, HarkEvent } from "../event/event.ts";
import type { Page } from "../store/history_pages.ts";
/** Publishes a draft through the agent (publisher rules, rate limit, store, local sinks); throws HarkError when refused. */
export type Publish = (draft: EventDraft) => Promise<HarkEvent>;
/** A long-lived producer of events. start/stop are idempotent; stop releases every handle and timer. */
export interface Source {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): Record<string, unknown>;
}

/** Which stored events a subscriber wants before the live ones. */
export type Since =
  | { kind: "none" }
  | { kind: "all" }
  /** The newest stored event only. */
  | { kind: "latest" }
  /** Events whose time is at or after this instant (ms). */
  | { kind: "time"; ms: number }
  /** Events this agent stored after the one with this id; all stored ones when it holds no such event. */
  | { kind: "id"; id: string };

/** Stored events a page at a time, and with a follower, the live ones after them. */
export interface FeedReader {
  /** The stored events, a page at a time; each page's release() once it has left the agent. */
  readonly pages: { next(signal?: AbortSignal): Promise<Page> };
  /** Stops following live events (nothing to do without a follower). Idempotent. */
  stop(): void;
}

/**
 * hark's own narrowing of the stored events a subscriber gets (ntfy has no
 * such parameters), done by the store so the web page's history and search
 * never download the store: `q=`, `limit=` and `before=`.
 */
export interface StoredFilter {
  /** Only notifications whose title or body holds this text, and their clears and deletes. */
  text?: string;
  /** Only the newest this many of the stored events asked for (live ones after them are not counted). */
  limit?: number;
  /** Only events this agent stored before the one with this id; none when it holds no such event. */
  before?: string;
  /** Also the stored events held until due (ntfy's `sched=1`). */
  scheduled?: boolean;
}

/**
 * The events this agent has and gets, for sources that also serve
 * subscribers (the http source's ntfy subscribe API).
 */
export interface Feed {
  /** The topics this agent subscribes to now (`follow` adds to them): the only ones a follower can get. */
  readonly topics: ReadonlySet<string>;
  /**
   * Stored events on `topics` since `since`, oldest first, read a page at a
   * time. With `push`, every new event after them goes to it as it arrives,
   * each once and none missed in between, from the moment the last page is
   * read.
   */
  read(
    topics: ReadonlySet<string>,
    since: Since,
    push?: (event: HarkEvent) => void,
    filter?: StoredFilter,
  ): FeedReader;
  /**
   * Makes the agent follow `topics` it does not yet (ntfy creates a topic
   * when it is first used): it subscribes on the mesh, stores their events,
   * and keeps them for the store's retention after their last subscriber
   * left (a `read` with `push` is a subscriber). Resolves once peers' history of a
   * new topic is in, or after a few seconds. Throws FollowLimitError when
   * the agent would follow more than `max` topics on the fly.
   */
  follow(topics: ReadonlySet<string>, max: number): Promise<void>;
  /** How long the store keeps an event (ms): when one that sets no expiry is gone. */
  readonly retentionMs: number;
}

/** What the agent's web page shows besides events: who it is, its peers and its sinks. */
export interface AgentView {
  host: string;
  peer: string;
  network: string | null;
  topics: string[];
  peers: { peer: string; host?: string; connection: string; latencyMs?: number }[];
  sinks: { name: string; state: string; delivered: number; queued: number; failed: number; last_error?: string }[];
}
