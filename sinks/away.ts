/**
 * "While you were away": a sink that shows events to a person (stdout,
 * desktop) should not replay a flood of old events one by one after the
 * agent was offline or restarted. Events older than `maxAgeMs` are held for
 * a moment; if more than `summarizeAfter` of them gather, one summary is
 * shown instead. Fresh events always pass straight through.
 */

import type { HarkEvent } from "../lib/event/event.ts";

export interface AwayInit {
  /** Older than this, an event is stale. */
  maxAgeMs: number;
  /** More stale events than this become one summary. */
  summarizeAfter: number;
  /** How long stale events gather before they are shown. @default 250 */
  settleMs?: number;
  now?: () => number;
}

export interface AwayOutput {
  events(events: HarkEvent[]): Promise<void>;
  summary(text: string): Promise<void>;
}

export class AwayGate {
  #init: Required<AwayInit>;
  #output: AwayOutput;
  #stale: HarkEvent[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  #flushing: Promise<void> = Promise.resolve();

  constructor(init: AwayInit, output: AwayOutput) {
    this.#init = { settleMs: 250, now: Date.now, ...init };
    this.#output = output;
  }

  /** Shows a fresh event now (after any stale ones held); holds a stale one. */
  async offer(event: HarkEvent): Promise<void> {
    if (this.#init.now() - Date.parse(event.time) > this.#init.maxAgeMs) {
      this.#stale.push(event);
      this.#timer ??= setTimeout(() => void this.flush(), this.#init.settleMs);
      return;
    }
    await this.flush();
    await this.#output.events([event]);
  }

  /** Shows what is held: each event, or one summary when there are many. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const held = this.#stale;
    this.#stale = [];
    this.#flushing = this.#flushing.then(async () => {
      if (held.length === 0) return;
      if (held.length <= this.#init.summarizeAfter) await this.#output.events(held);
      else await this.#output.summary(summarize(held));
    });
    return this.#flushing;
  }
}

/** `37 events while away, 01:02 to 01:38 UTC: builds 30, default 7. Run \`hark history\` to read them.` */
export function summarize(events: HarkEvent[]): string {
  const times = events.map((event) => event.time).sort();
  const byTopic = new Map<string, number>();
  for (const event of events) byTopic.set(event.topic, (byTopic.get(event.topic) ?? 0) + 1);
  const topics = [...byTopic].sort((a, b) => b[1] - a[1]).map(([topic, count]) => `${topic} ${count}`).join(", ");
  const span = `${times[0].slice(11, 16)} to ${times.at(-1)!.slice(11, 16)} UTC`;
  return `${events.length} events while away, ${span}: ${topics}. Run \`hark history\` to read them.`;
}
