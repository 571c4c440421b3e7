/**
 * Popup rate limit: a burst of events (a CI matrix finishing, a flapping
 * check) must not bury the desktop in popups. At most `limit` events pop up
 * per window of `windowMs`; the rest of that window's events are counted and
 * become one summary popup when the window ends:
 * `7 more events: builds 5, default 2`.
 *
 * Windows are fixed, starting at the first event after a quiet spell, so a
 * steady trickle below the limit never collapses. The class is pure: it keeps
 * no timer. The caller shows what `offer()` passes, and at `dueAt()` (set a
 * timer for it) shows what `flush()` returns.
 */

export interface PopupLimitInit {
  /** Popups per window; more events than this in one window collapse. @default 5 */
  limit?: number;
  /** Window length in milliseconds. @default 10000 */
  windowMs?: number;
  /** The clock. @default Date.now */
  now?: () => number;
}

export class PopupLimit {
  #limit: number;
  #windowMs: number;
  #now: () => number;
  /** Start of the current window, or undefined before the first event. */
  #start?: number;
  #passed = 0;
  #collapsed = new Map<string, number>();

  constructor(init: PopupLimitInit = {}) {
    this.#limit = init.limit ?? 5;
    this.#windowMs = init.windowMs ?? 10_000;
    this.#now = init.now ?? Date.now;
    if (!Number.isInteger(this.#limit) || this.#limit < 0) throw new RangeError(`invalid popup limit ${init.limit}`);
    if (!(this.#windowMs > 0)) throw new RangeError(`invalid popup window ${init.windowMs} ms`);
  }

  /**
   * Decides about one event of `topic`: true to show it now, false when it
   * was collapsed into the summary. Call `flush()` first when `dueAt()` has
   * passed, or the previous window's summary is shown late.
   */
  offer(topic: string): boolean {
    const now = this.#now();
    if (this.#start === undefined || now >= this.#start + this.#windowMs) {
      // A new window. Anything collapsed in the old one stays for flush().
      if (this.#collapsed.size > 0) return this.#collapse(topic);
      this.#start = now;
      this.#passed = 0;
    }
    if (this.#passed < this.#limit) {
      this.#passed++;
      return true;
    }
    return this.#collapse(topic);
  }

  #collapse(topic: string): boolean {
    this.#collapsed.set(topic, (this.#collapsed.get(topic) ?? 0) + 1);
    return false;
  }

  /** When the summary is due (the window's end), or undefined if nothing was collapsed. */
  dueAt(): number | undefined {
    return this.#collapsed.size > 0 ? this.#start! + this.#windowMs : undefined;
  }

  /** Events collapsed so far in this window. */
  get pending(): number {
    let count = 0;
    for (const n of this.#collapsed.values()) count += n;
    return count;
  }

  /**
   * The summary of what was collapsed, once the window is over (or at once
   * with `force`, for shutdown); undefined when there is nothing to show yet.
   */
  flush(force = false): string | undefined {
    const due = this.dueAt();
    if (due === undefined) return undefined;
    const now = this.#now();
    if (!force && now < due) return undefined;
    const text = summarizeCollapsed(this.#collapsed);
    this.#collapsed.clear();
    // The summary popup itself opens a new window: a burst that goes on
    // gets one popup per window, not `limit` more each time.
    this.#start = now;
    this.#passed = 1;
    return text;
  }
}

/** `7 more events: builds 5, default 2` (most first, then by name). */
export function summarizeCollapsed(byTopic: Map<string, number>): string {
  const entries = [...byTopic].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  const topics = entries.map(([topic, n]) => `${topic} ${n}`).join(", ");
  return `${total} more ${total === 1 ? "event" : "events"}: ${topics}`;
}
