import type { EventDraft, HarkEvent } from "../event.ts";
/** Publishes a draft through the agent (publisher rules, rate limit, store, local sinks); throws HarkError when refused. */
export type Publish = (draft: EventDraft) => Promise<HarkEvent>;
/** A long-lived producer of events. start/stop are idempotent; stop releases every handle and timer. */
export interface Source {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): Record<string, unknown>;
}
