/**
 * A sink is where events end up: a terminal, a file, a desktop popup, a
 * script, a webhook or a plugin. The router gives each sink its own queue,
 * so a sink may take its time; it must honour `signal` when the agent stops.
 */

import type { EventDraft, HarkEvent } from "../lib/event/event.ts";

export interface Sink {
  /** Shown in logs and `hark status`, e.g. `file:/var/log/hark.jsonl`. */
  readonly name: string;
  deliver(event: HarkEvent, options: { signal: AbortSignal }): Promise<void>;
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
}
