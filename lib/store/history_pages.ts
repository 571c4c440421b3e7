/**
 * Stored events read a page at a time, for every reader of history: ntfy
 * subscribers and pollers, `hark history`, `hark tail --since`. A page is
 * a fixed number of events and bytes past the last one sent (keyset by
 * sequence number), so a reader holds one page, whatever the store holds;
 * its bytes come from the agent-wide HistoryBudget and go back once the
 * page has left.
 */

import type { HarkEvent } from "../event/event.ts";
import type { EventStore, HistoryQuery } from "./store.ts";
import type { HistoryBudget } from "./history_budget.ts";

/** Events in one page. */
export const PAGE_EVENTS = 200;
/** Bytes of stored JSON in one page; a larger event makes a page of its own. */
export const PAGE_BYTES = 256 * 1024;

export interface Page {
  events: HarkEvent[];
  /** No page follows: the reader has everything the query asked for. */
  last: boolean;
  /** Gives the page's bytes back to the budget once it has left the agent. Idempotent. */
  release(): void;
}

export interface HistoryPagesInit {
  store: EventStore;
  budget: HistoryBudget;
  /** What to read; `limit` means the newest that many, oldest first. */
  query: HistoryQuery;
  /**
   * Runs in the same synchronous step as the read that found nothing newer:
   * a follower of live events added here misses none and sees none twice.
   */
  onCaughtUp?: () => void;
  /** @default PAGE_EVENTS */
  pageEvents?: number;
  /** @default PAGE_BYTES */
  pageBytes?: number;
}

export class HistoryPages {
  #init: HistoryPagesInit;
  #after: number | undefined;
  #remaining: number;
  #done = false;
  #started = false;

  constructor(init: HistoryPagesInit) {
    this.#init = init;
    this.#after = init.query.afterSeq;
    // A follower wants everything up to the live events: `limit` only sets where it starts.
    this.#remaining = init.onCaughtUp ? Infinity : init.query.limit ?? Infinity;
  }

  get done(): boolean {
    return this.#done;
  }

  /** The next page; after the one marked last, an empty last page. */
  async next(signal?: AbortSignal): Promise<Page> {
    const { store, budget, query } = this.#init;
    if (this.#done) return { events: [], last: true, release: () => {} };
    // Where the newest `limit` start is fixed on the first read.
    this.#after ??= query.limit === undefined
      ? 0
      : Math.max(query.afterSeq ?? 0, store.seqBeforeNewest(query, query.limit));
    const want = Math.min(this.#init.pageEvents ?? PAGE_EVENTS, this.#remaining);
    const sizes = store.sizesAfter(this.#after, query, want);
    const maxBytes = this.#init.pageBytes ?? PAGE_BYTES;
    let bytes = 0;
    let count = 0;
    for (const size of sizes) {
      if (count > 0 && bytes + size.bytes > maxBytes) break;
      bytes += size.bytes;
      count++;
    }
    // Only the first page may be refused: a reader already being served waits its turn instead.
    const waitMs = this.#started ? Infinity : undefined;
    this.#started = true;
    const release = count > 0 ? await budget.take(bytes, signal, waitMs) : () => {};
    // From here to the end, one synchronous step: nothing is appended in between.
    const upto = count > 0 ? sizes[count - 1].seq : this.#after;
    const events = count > 0 ? store.between(this.#after, upto, query).map((stored) => stored.event) : [];
    this.#after = upto;
    this.#remaining -= events.length;
    const caughtUp = store.sizesAfter(upto, query, 1).length === 0;
    this.#done = this.#remaining <= 0 || caughtUp;
    if (caughtUp) this.#init.onCaughtUp?.();
    return { events, last: this.#done, release };
  }
}
