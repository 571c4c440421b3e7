/**
 * A watch source's storm limit: up to `rate` events a minute, and each
 * further matching line counted instead, into one summary event per topic
 * when the minute ends. A log storm reaches people as one message, not a
 * flood.
 */

import { BODY_MAX_BYTES, type EventDraft, type Priority, TITLE_MAX_CHARS } from "../event/event.ts";
import { clipBytes, clipChars } from "./watch_template.ts";

const MINUTE_MS = 60_000;

export interface StormLimitInit {
  /** Events per minute. */
  rate: number;
  /** The file, named in summaries. */
  path: string;
  host: string;
  /** Publishes a summary; a failure goes to `onPublishError`. */
  publish: (draft: EventDraft) => Promise<unknown>;
  onPublishError: (error: unknown) => void;
  now: () => number;
}

interface Window {
  start: number;
  published: number;
  /** Suppressed matching lines per topic (undefined: the agent's default), with the highest priority among them. */
  suppressed: Map<string | undefined, { count: number; priority: Priority }>;
}

export class StormLimit {
  /** Lines counted instead of published, and summaries published. */
  readonly stats = { suppressed: 0, summaries: 0 };
  #init: StormLimitInit;
  #window: Window | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #summaries = new Set<Promise<void>>();
  #running = false;

  constructor(init: StormLimitInit) {
    this.#init = init;
  }

  start(): void {
    this.#running = true;
  }

  /** Ends the minute now: a counted storm would otherwise be lost with the process. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#flush();
    await Promise.all(this.#summaries);
  }

  /** Counts one event against this minute; false when it is to be summarised instead. */
  admit(topic: string | undefined, priority: Priority): boolean {
    const now = this.#init.now();
    if (this.#window && now - this.#window.start >= MINUTE_MS) this.#flush();
    const window = this.#window ??= { start: now, published: 0, suppressed: new Map() };
    if (window.published < this.#init.rate) {
      window.published++;
      return true;
    }
    this.stats.suppressed++;
    const entry = window.suppressed.get(topic);
    if (entry) {
      entry.count++;
      entry.priority = Math.max(entry.priority, priority) as Priority;
    } else {
      window.suppressed.set(topic, { count: 1, priority });
    }
    this.#scheduleWindowEnd();
    return false;
  }

  #scheduleWindowEnd(): void {
    if (this.#timer !== undefined || !this.#running || !this.#window) return;
    // The injected clock may not follow real time: wait at most a minute, then look again.
    const left = Math.min(MINUTE_MS, Math.max(0, this.#window.start + MINUTE_MS - this.#init.now()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#window && this.#init.now() - this.#window.start >= MINUTE_MS) this.#flush();
      else this.#scheduleWindowEnd();
    }, left);
  }

  /** Ends the current minute; publishes one summary per topic that had lines suppressed. */
  #flush(): void {
    const window = this.#window;
    this.#window = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!window) return;
    const { path, host } = this.#init;
    for (const [topic, { count, priority }] of window.suppressed) {
      const text = `${count} more matching ${count === 1 ? "line" : "lines"} in ${path}`;
      const draft: EventDraft = {
        ...(topic === undefined ? {} : { topic }),
        title: clipChars(`${text} on ${host}`, TITLE_MAX_CHARS),
        body: clipBytes(`${text} in the last minute`, BODY_MAX_BYTES),
        priority,
        tags: ["summary"],
        data: { path, suppressed: count },
      };
      const sent: Promise<void> = this.#init.publish(draft).then(
        () => {
          this.stats.summaries++;
        },
        (error) => this.#init.onPublishError(error),
      ).finally(() => this.#summaries.delete(sent));
      this.#summaries.add(sent);
    }
  }
}
