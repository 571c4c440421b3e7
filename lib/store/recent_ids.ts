/**
 * The ids of recent events that the store does not keep (ntfy's
 * `Cache: no`). The store is what drops a second copy of an event by its
 * id; for events it never holds, this bounded set stands in, so each
 * reaches this agent's sinks and subscribers once. Beyond its capacity the
 * oldest ids are forgotten: by then gossip has long stopped repeating them,
 * and catch-up never serves such events.
 */

/** About 300 KB of ids: more than gossip's repeats and the validator's memory span. */
export const RECENT_IDS_CAPACITY = 10_000;

export class RecentIds {
  readonly #capacity: number;
  /** Insertion order is age, oldest first. */
  readonly #ids = new Set<string>();

  constructor(capacity = RECENT_IDS_CAPACITY) {
    this.#capacity = capacity;
  }

  /** Remembers `id`; false when it was already known (a copy). */
  add(id: string): boolean {
    if (this.#ids.has(id)) return false;
    this.#ids.add(id);
    if (this.#ids.size > this.#capacity) this.#ids.delete(this.#ids.values().next().value!);
    return true;
  }

  get size(): number {
    return this.#ids.size;
  }
}
