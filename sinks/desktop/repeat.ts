/**
 * The desktop's `repeat` option: a popup of at least the chosen priority
 * comes back (sound, urgency) every `every` until its notification is
 * acknowledged or deleted anywhere in the mesh, or replaced by a newer
 * version (which starts its own repeats). The book decides at each turn
 * (lib/notifications/book.ts), so an ack caught up after an absence stops
 * the repeats too.
 *
 * One timer for all pending repeats, armed for the earliest; none while
 * nothing is pending, so an idle agent stays idle. What is pending is kept
 * in the store and comes back after a restart (or kill -9).
 */

import { getLogger } from "@logtape/logtape";
import type { HarkEvent } from "../../lib/event/event.ts";
import { DESKTOP_REPEAT_SCOPE, type SinkMemory } from "../../lib/notifications/sink_memory.ts";
import type { RepeatOption } from "./config.ts";

const log = getLogger(["hark", "sink", "desktop"]);
const SCOPE = DESKTOP_REPEAT_SCOPE;

export interface RepeatInit extends RepeatOption {
  /** Whether the event is still the newest step of an open notification. */
  isOpen: (event: HarkEvent) => boolean;
  /** Shows the event again, in place of its popup. */
  show: (event: HarkEvent) => Promise<void>;
  memory?: SinkMemory;
  now?: () => number;
}

interface Pending {
  event: HarkEvent;
  due: number;
}

export class RepeatSchedule {
  #init: RepeatInit;
  #pending = new Map<string, Pending>();
  #timer?: ReturnType<typeof setTimeout>;
  #running = false;
  #repeated = 0;

  constructor(init: RepeatInit) {
    this.#init = init;
  }

  /** Brings back what was pending before a restart and arms the timer. Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const [key, value] of this.#init.memory?.all(SCOPE) ?? []) {
      try {
        this.#pending.set(key, JSON.parse(value) as Pending);
      } catch {
        this.#init.memory?.drop(SCOPE, key);
      }
    }
    this.#arm();
  }

  /** A popup was shown for `event` under `key`: repeat it if its priority asks for it. */
  track(key: string, event: HarkEvent): void {
    if (event.priority < this.#init.priority) return this.cancel(key);
    this.#set(key, { event, due: this.#now() + this.#init.every });
    this.#arm();
  }

  /** The popup under `key` was closed (acknowledged or deleted): no more repeats. */
  cancel(key: string): void {
    if (!this.#pending.delete(key)) return;
    this.#init.memory?.drop(SCOPE, key);
    this.#arm();
  }

  stats(): { repeating: number; repeated: number } {
    return { repeating: this.#pending.size, repeated: this.#repeated };
  }

  close(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #now(): number {
    return (this.#init.now ?? Date.now)();
  }

  #set(key: string, pending: Pending): void {
    this.#pending.set(key, pending);
    this.#init.memory?.put(SCOPE, key, JSON.stringify(pending));
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#running || this.#pending.size === 0) return;
    const earliest = Math.min(...[...this.#pending.values()].map((pending) => pending.due));
    this.#timer = setTimeout(() => this.#turn(), Math.max(0, earliest - this.#now()));
  }

  async #turn(): Promise<void> {
    this.#timer = undefined;
    const now = this.#now();
    for (const [key, pending] of [...this.#pending]) {
      if (pending.due > now) continue;
      if (!this.#init.isOpen(pending.event)) {
        this.cancel(key);
        continue;
      }
      this.#set(key, { event: pending.event, due: now + this.#init.every });
      this.#repeated++;
      await this.#init.show(pending.event).catch((error) =>
        log.warn("Cannot repeat the popup of {id}: {error}", { id: pending.event.id, error: error.message })
      );
    }
    this.#arm();
  }
}
