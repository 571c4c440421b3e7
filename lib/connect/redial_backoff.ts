/**
 * When to redial a peer that could not be reached: exponential backoff with
 * full jitter. The n-th retry waits a uniformly random time between 0 and
 * min(max, min · 2ⁿ), so hundreds of agents that lost the same relay (or
 * all started at once) spread their dials over the whole window instead of
 * arriving together at a peer that is busy finishing handshakes.
 */

export interface RedialBackoff {
  /** The window of the first retry; it doubles with each failure. */
  minMs: number;
  /** The widest window: no retry waits longer than this. */
  maxMs: number;
}

/** The window the retry after `failures` failed dials is drawn from. */
export function redialWindowMs(failures: number, backoff: RedialBackoff): number {
  // 2 ** 60 overflows nothing that matters, but keeps the exponent bounded for peers down for weeks.
  return Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(failures, 60));
}

/** Milliseconds to wait before the retry after `failures` failed dials; `random` returns [0, 1). */
export function redialDelayMs(failures: number, backoff: RedialBackoff, random: () => number = Math.random): number {
  return Math.floor(random() * redialWindowMs(failures, backoff));
}
