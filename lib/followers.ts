/**
 * The followers of new events: each `hark tail`, and each subscriber of a
 * source that serves them (the http source's streams). They see news only;
 * history reaches them from the store before they are added.
 */

import type { HarkEvent } from "./event/event.ts";

export interface Follower {
  /** The topics followed; without them, every topic but the agents' own hark.* ones. */
  topics?: ReadonlySet<string>;
  push(event: HarkEvent): void;
}

export class Followers {
  #all = new Set<Follower>();

  /** Adds a follower; returns the function that removes it. */
  add(follower: Follower): () => void {
    this.#all.add(follower);
    return () => this.#all.delete(follower);
  }

  /** Hands a new event to everyone following its topic. `reserved`: on a hark.* topic. */
  deliver(event: HarkEvent, reserved: boolean): void {
    for (const follower of this.#all) {
      if (follower.topics ? follower.topics.has(event.topic) : !reserved) follower.push(event);
    }
  }

  clear(): void {
    this.#all.clear();
  }
}
