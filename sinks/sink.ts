/**
 * A sink is where events end up: a terminal, a file, a desktop popup, a
 * script, a webhook or a plugin. The router gives each sink its own queue,
 * so a sink may take its time; it must honour `signal` when the agent stops.
 */

import type { EventDraft, HarkEvent } from "../lib/event/event.ts";
import type { PopupMemory } from "../lib/notifications/popups.ts";
import type { SinkMemory } from "../lib/notifications/sink_memory.ts";

export interface DeliverOptions {
  signal: AbortSignal;
  /**
   * This event was started before a crash and may have taken effect: the
   * sink skips it if its own output shows it (file) or marks it so that the
   * receiver can drop it (exec, webhook). Only for sinks with `marksRepeats`.
   */
  repeat?: boolean;
}

/** What `deliver` returns when the effect goes on after it returned (an exec run). */
export interface Running {
  /**
   * Calls `done` when the effect is over: at once if it is over already, and
   * otherwise before the sink lets another effect take its place, so the
   * router's record of what is in flight never lags behind what runs.
   */
  whenOver(done: () => void): void;
}

export interface Sink {
  /** Shown in logs and `hark status`, e.g. `file:/var/log/hark.jsonl`. */
  readonly name: string;
  /**
   * The sink's effects live outside the store (a file, a script, a request).
   * The router then saves on disk which events it has started, before it
   * starts each one, and which are done, so that after a crash only events
   * in flight at that moment come again, with `repeat` set. Without it (a
   * terminal, a popup) the few events of the last `cursorFlushMs` may come
   * again unmarked.
   */
  readonly marksRepeats?: boolean;
  /**
   * The sink shows notifications a later event replaces or closes (a
   * desktop). The router hands it an event only while that event is the
   * newest step of its notification (lib/notifications/): a version
   * already replaced, or a notification already acknowledged or deleted by
   * the time its turn comes (caught up after an absence, repeated after a
   * crash) is passed over rather than popped up. Other sinks get every
   * event, with its `kind` and `sequence`.
   */
  readonly showsNotifications?: boolean;
  deliver(event: HarkEvent, options: DeliverOptions): Promise<void | Running>;
  /** Releases what the sink holds (file handles). Idempotent. */
  close(): Promise<void>;
  /** Sink-specific state for `hark status` (running scripts, circuit, backend). */
  stats?(): Record<string, unknown>;
  /** Called when the router starts the sink, for sinks with work of their own (a plugin's watch). Idempotent. */
  start?(): void;
}

/** What the agent lends sinks that act on its behalf. */
export interface SinkContext {
  /** Publishes as this agent, under `hark send`'s rules. */
  publish(draft: EventDraft): Promise<HarkEvent>;
  /** Which popup shows which notification, kept across restarts (the store's). */
  popups?: PopupMemory;
  /** What a sink keeps across restarts beyond its cursor (the store's). */
  memory?: SinkMemory;
  /** Whether the event is still the newest step of an open notification: not acknowledged, deleted or replaced. */
  isOpen?: (event: HarkEvent) => boolean;
}
