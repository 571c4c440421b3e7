/**
 * Per-publisher token buckets: each publisher may send `burst` events at
 * once and `rate` per second after that. The table of publishers is bounded,
 * so a flood of fresh identities cannot grow it without limit; a forgotten
 * publisher simply starts again with a full bucket.
 */

export interface RateLimit {
  /** Events per second, sustained. */
  rate: number;
  /** Events allowed at once. */
  burst: number;
}

/**
 * Seconds of a publisher's rate that receivers allow on top of its burst.
 * A publisher keeps to its own bucket when it takes tokens, but its events
 * reach a receiver after delays that vary (waiting in its outbox behind the
 * previous publish, leaving together in a batch, a busy event loop on
 * either side). A receiver that enforced exactly the publisher's bucket
 * would see two events a little closer together than the rate now and then,
 * and reject an honest publisher at full speed (1 in 600 events, issue #29).
 * With this allowance, events that left within the limit are accepted
 * whenever their delays differ by less than this much.
 */
export const JITTER_ALLOWANCE_S = 2;

/** The limit a receiver enforces on a publisher that keeps to `limit`: the same rate, a larger burst. */
export function receiverLimit(limit: RateLimit): RateLimit {
  return { rate: limit.rate, burst: limit.burst + Math.ceil(limit.rate * JITTER_ALLOWANCE_S) };
}

/**
 * The most events a publisher within `limit` can have published in any
 * span of `spanMs`: a token bucket admits at most its burst plus its rate
 * times the span. Receivers judge catch-up by this, over the events' own
 * publish times, with their jitter allowance.
 */
export function spanCapacity(limit: RateLimit, spanMs: number): number {
  return receiverLimit(limit).burst + Math.ceil((limit.rate * spanMs) / 1000);
}

interface Bucket {
  tokens: number;
  updated: number;
}

export class TokenBuckets {
  #limit: RateLimit;
  #buckets = new Map<string, Bucket>();
  #capacity: number;
  #now: () => number;

  constructor(limit: RateLimit, options: { capacity?: number; now?: () => number } = {}) {
    this.#limit = limit;
    this.#capacity = options.capacity ?? 10_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Takes `count` tokens for `key`; false (taking none) when its bucket has fewer. */
  take(key: string, count = 1): boolean {
    const bucket = this.#refill(key);
    if (bucket.tokens < count) return false;
    bucket.tokens -= count;
    return true;
  }

  /** Milliseconds until `key` has a token again (0 when it has one now). */
  wait(key: string): number {
    const bucket = this.#refill(key);
    return bucket.tokens >= 1 ? 0 : Math.ceil(((1 - bucket.tokens) / this.#limit.rate) * 1000);
  }

  #refill(key: string): Bucket {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.#limit.burst, updated: now };
      if (this.#buckets.size >= this.#capacity) this.#buckets.delete(this.#buckets.keys().next().value!);
    } else {
      // Re-insert so the map's order stays least-recently-used first.
      this.#buckets.delete(key);
      bucket.tokens = Math.min(this.#limit.burst, bucket.tokens + ((now - bucket.updated) / 1000) * this.#limit.rate);
      bucket.updated = now;
    }
    this.#buckets.set(key, bucket);
    return bucket;
  }
}
