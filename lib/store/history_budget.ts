/**
 * How many bytes of stored history all readers together may hold at once:
 * ntfy pollers, `hark history`, `hark tail --since`. Each reader takes a
 * page's bytes before it loads the page and gives them back once the page
 * has left the agent (its client read it, or the socket took it). Readers
 * over the budget wait their turn, first come first served; one that waits
 * too long is refused, so many slow clients make others wait or retry,
 * never make the agent run out of memory.
 */

import { HarkError } from "../errors.ts";

/** Thrown when a reader waited its longest for room: the agent is busy serving history. */
export class HistoryBusyError extends HarkError {
  override name = "HistoryBusyError";
}

export interface HistoryBudgetInit {
  /** Bytes of stored events in flight across all readers. @default 16 MiB */
  bytes?: number;
  /** Longest a reader waits for room before it is refused. @default 10000 */
  waitMs?: number;
}

interface Waiter {
  bytes: number;
  grant(): void;
}

export class HistoryBudget {
  readonly limit: number;
  readonly waitMs: number;
  #held = 0;
  #queue: Waiter[] = [];

  constructor(init: HistoryBudgetInit = {}) {
    this.limit = init.bytes ?? 16 * 1024 * 1024;
    this.waitMs = init.waitMs ?? 10_000;
  }

  /** Bytes taken and not yet given back. */
  get held(): number {
    return this.#held;
  }

  /**
   * Takes `bytes` (a page larger than the whole budget is let through
   * alone); resolves with the function that gives them back (idempotent).
   * Rejects with HistoryBusyError after `waitMs` (by default the budget's),
   * or with the signal's reason.
   */
  take(bytes: number, signal?: AbortSignal, waitMs: number = this.waitMs): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.#queue.length === 0 && this.#fits(bytes)) return Promise.resolve(this.#grant(bytes));
    return new Promise((resolve, reject) => {
      const busy = () =>
        fail(
          new HistoryBusyError(
            `the agent is busy sending stored events to other clients (${this.#megabytes()} MiB in flight); try again shortly`,
          ),
        );
      const timer = Number.isFinite(waitMs) ? setTimeout(busy, waitMs) : undefined;
      const onAbort = () => fail(signal!.reason);
      const waiter: Waiter = {
        bytes,
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve(this.#grant(bytes));
        },
      };
      const fail = (error: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const index = this.#queue.indexOf(waiter);
        if (index >= 0) this.#queue.splice(index, 1);
        // The next in line may fit now that this one gave up.
        this.#wake();
        reject(error);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  #fits(bytes: number): boolean {
    return this.#held === 0 || this.#held + bytes <= this.limit;
  }

  #grant(bytes: number): () => void {
    this.#held += bytes;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#held -= bytes;
      this.#wake();
    };
  }

  #wake(): void {
    while (this.#queue.length > 0 && this.#fits(this.#queue[0].bytes)) this.#queue.shift()!.grant();
  }

  #megabytes(): string {
    return (this.#held / 1024 / 1024).toFixed(1);
  }
}
