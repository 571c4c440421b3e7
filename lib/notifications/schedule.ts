/**
 * Scheduled events: every agent stores one as it arrives (so catch-up
 * spreads it and a restart keeps it) and hands it to sinks and subscribers
 * only when it is due. One timer, to the soonest due time in the store: no
 * polling, and an agent with nothing scheduled has no timer at all. At
 * start the timer is armed from the store, so a due time that passed while
 * the agent was down is delivered at once, once.
 *
 * The store decides, in one transaction, whether a due event is delivered
 * (it moves after every stored event, so each sink's cursor meets it once)
 * or withdrawn: one replaced by a newer event of its notification, or
 * acknowledged or deleted before it was due, is never delivered. "Newer" is
 * by publish time, as for every step of a notification, not by due time:
 * each good backup's `--delay 1h --sequence backup-db01` replaces the
 * pending one, which is what makes it a dead man's switch.
 *
 * Nothing is released while a catch-up session is storing events (`hold`):
 * a session may bring a past-due version long before its replacement (a
 * frame of keys apart), and released at once it would be delivered. For
 * the same reason, at start what fell due while the agent was down waits
 * until the first catch-up session is over (`caughtUp`), or `startHoldMs`
 * has passed without one: a newer version may have been published in the
 * meantime, and a machine that merely restarted must not fire a dead man's
 * switch. What falls due after the start is delivered on time.
 */

import { getLogger } from "@logtape/logtape";
import type { HarkEvent } from "../event/event.ts";
import type { EventStore, StoredEvent } from "../store/store.ts";

const log = getLogger(["hark", "schedule"]);

/**
 * The longest the timer sleeps before it looks at the clock again. Timers
 * run on a monotonic clock that stops while a laptop sleeps; waking up now
 * and then (only while something is scheduled) keeps a due time from
 * slipping by the length of a suspend.
 */
const MAX_SLEEP_MS = 60_000;

/** How long what fell due while the agent was down waits at start for a catch-up session. */
export const START_HOLD_MS = 10_000;

export interface ScheduleInit {
  store: EventStore;
  /** Delivers a released event (after its commit): to sinks and live subscribers. */
  deliver: (released: StoredEvent) => void;
  /** @default START_HOLD_MS */
  startHoldMs?: number;
  now?: () => number;
}

export class Schedule {
  #init: ScheduleInit;
  #timer?: ReturnType<typeof setTimeout>;
  #armedFor?: number;
  #running = false;
  #holds = 0;
  /** While set: what was due by this time (the start) waits for `caughtUp`. */
  #startHold?: { dueBy: number; timer: ReturnType<typeof setTimeout> };

  constructor(init: ScheduleInit) {
    this.#init = init;
  }

  /** Arms the timer from the store, once caught up (or after `startHoldMs`). Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const timer = setTimeout(() => this.caughtUp(), this.#init.startHoldMs ?? START_HOLD_MS);
    this.#startHold = { dueBy: this.#now(), timer };
    this.#arm();
  }

  /** A catch-up session is over: what fell due while the agent was down may go now. */
  caughtUp(): void {
    if (!this.#startHold) return;
    clearTimeout(this.#startHold.timer);
    this.#startHold = undefined;
    this.#arm();
  }

  /** Clears the timer; what is held stays in the store for the next start. Idempotent. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#startHold?.timer);
    this.#startHold = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = undefined;
  }

  /** A scheduled event was stored: it may be due sooner than the timer. */
  held(event: HarkEvent): void {
    if (!this.#running || event.due === undefined) return;
    const due = Date.parse(event.due);
    if (this.#armedFor === undefined || due < this.#armedFor) this.#arm();
  }

  /**
   * Holds every release until the returned function is called (once per
   * hold; holds nest): for a catch-up session, whose later events may
   * replace, acknowledge or delete the ones it brought first.
   */
  hold(): () => void {
    this.#holds++;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = undefined;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holds === 0) this.#arm();
    };
  }

  #now(): number {
    return (this.#init.now ?? Date.now)();
  }

  /** `atLeastMs`: after a failure, so a store that keeps failing is not retried in a busy loop. */
  #arm(atLeastMs = 0): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = undefined;
    if (!this.#running || this.#holds > 0) return;
    const due = this.#init.store.nextDue(this.#startHold?.dueBy);
    if (due === undefined) return;
    this.#armedFor = due;
    const wait = Math.max(atLeastMs, Math.min(Math.max(0, due - this.#now()), MAX_SLEEP_MS));
    this.#timer = setTimeout(() => this.#fire(), wait);
  }

  #fire(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    const { store, deliver } = this.#init;
    let failed = false;
    try {
      const { released, withdrawn } = store.releaseDue(this.#now(), this.#startHold?.dueBy);
      for (const event of withdrawn) {
        log.debug("Scheduled event {id} on {topic} was replaced, acknowledged or deleted before it was due", {
          id: event.id,
          topic: event.topic,
        });
      }
      store.afterCommit(() => {
        for (const stored of released) deliver(stored);
      });
    } catch (error) {
      failed = true;
      log.error("Cannot release scheduled events: {error}; trying again in a minute", {
        error: (error as Error).message,
      });
    }
    this.#arm(failed ? MAX_SLEEP_MS : 0);
  }
}
