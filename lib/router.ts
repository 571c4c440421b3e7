/**
 * Routes events to sinks. Each sink has its own bounded queue and its own
 * delivery loop, so a slow or failing sink never delays the others, the
 * control socket or the mesh. When a queue is full the new event is dropped
 * for that sink and a warning logged (Serf's rule: never block the loop).
 */

import { getLogger } from "@logtape/logtape";
import type { HarkEvent } from "./event.ts";
import type { Sink } from "../sinks/mod.ts";

const log = getLogger(["hark", "router"]);

export interface RouteFilter {
  /** Only these topics; undefined means all. */
  topics?: string[];
  minPriority: number;
}

export interface SinkHealth {
  name: string;
  topics?: string[];
  min_priority: number;
  queued: number;
  delivered: number;
  dropped: number;
  failed: number;
  last_error?: string;
}

export interface RouterInit {
  /** Attempts per event before it is given up. @default 3 */
  attempts?: number;
  /** Delay before the first retry, doubled each time. @default 200 */
  retryDelayMs?: number;
}

/** Whether an event passes a sink's filter right now. */
export function matches(event: HarkEvent, filter: RouteFilter, now = Date.now()): boolean {
  if (event.priority < filter.minPriority) return false;
  if (filter.topics && !filter.topics.includes(event.topic)) return false;
  if (event.expires && Date.parse(event.expires) <= now) return false;
  return true;
}

class SinkRunner {
  readonly sink: Sink;
  readonly filter: RouteFilter;
  readonly capacity: number;
  #queue: HarkEvent[] = [];
  #wake?: () => void;
  #idle?: () => void;
  #busy = false;
  #stopped = false;
  #abort = new AbortController();
  #loop?: Promise<void>;
  #init: Required<RouterInit>;
  delivered = 0;
  dropped = 0;
  failed = 0;
  lastError?: string;

  constructor(sink: Sink, filter: RouteFilter, capacity: number, init: Required<RouterInit>) {
    this.sink = sink;
    this.filter = filter;
    this.capacity = capacity;
    this.#init = init;
  }

  get queued(): number {
    return this.#queue.length + (this.#busy ? 1 : 0);
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  offer(event: HarkEvent): void {
    if (this.#stopped) return;
    if (this.#queue.length >= this.capacity) {
      this.dropped++;
      log.warn("Sink {sink} is {count} events behind; dropped event {id}", {
        sink: this.sink.name,
        count: this.#queue.length,
        id: event.id,
      });
      return;
    }
    this.#queue.push(event);
    this.#wake?.();
  }

  /** Resolves when the queue is empty and nothing is being delivered. */
  idle(): Promise<void> {
    if (this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.#idle;
      this.#idle = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** Stops after the queue drains or `signal` aborts, then closes the sink. */
  async stop(signal: AbortSignal): Promise<void> {
    if (this.#stopped) return;
    const onAbort = () => this.#abort.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) this.#abort.abort();
    await Promise.race([this.idle(), abortPromise(this.#abort.signal)]);
    this.#stopped = true;
    this.#abort.abort();
    this.#wake?.();
    await this.#loop;
    signal.removeEventListener("abort", onAbort);
    if (this.#queue.length > 0) {
      log.warn("Sink {sink} stopped with {count} events undelivered", {
        sink: this.sink.name,
        count: this.#queue.length,
      });
    }
    await this.sink.close();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const event = this.#queue.shift();
      if (!event) {
        const idle = this.#idle;
        this.#idle = undefined;
        idle?.();
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      this.#busy = true;
      await this.#deliver(event);
      this.#busy = false;
    }
  }

  async #deliver(event: HarkEvent): Promise<void> {
    const signal = this.#abort.signal;
    for (let attempt = 1; attempt <= this.#init.attempts && !signal.aborted; attempt++) {
      try {
        await this.sink.deliver(event, { signal });
        this.delivered++;
        return;
      } catch (error) {
        this.lastError = (error as Error).message;
        if (attempt < this.#init.attempts) {
          await delay(this.#init.retryDelayMs * 2 ** (attempt - 1), signal);
        }
      }
    }
    this.failed++;
    log.error("Sink {sink} could not deliver event {id}: {error}", {
      sink: this.sink.name,
      id: event.id,
      error: this.lastError,
    });
  }
}

export class Router {
  #runners: SinkRunner[] = [];
  #init: Required<RouterInit>;
  #started = false;
  #stopping?: Promise<void>;

  constructor(init: RouterInit = {}) {
    this.#init = { attempts: init.attempts ?? 3, retryDelayMs: init.retryDelayMs ?? 200 };
  }

  /** Adds a sink; call before `start`. */
  add(sink: Sink, filter: RouteFilter, capacity: number): void {
    const runner = new SinkRunner(sink, filter, capacity, this.#init);
    this.#runners.push(runner);
    if (this.#started) runner.start();
  }

  start(): void {
    if (this.#started || this.#stopping) return;
    this.#started = true;
    for (const runner of this.#runners) runner.start();
  }

  /** Queues the event for every sink whose filter it passes. Never blocks. */
  route(event: HarkEvent): void {
    const now = Date.now();
    for (const runner of this.#runners) {
      if (matches(event, runner.filter, now)) runner.offer(event);
    }
  }

  /** Resolves when every sink has delivered what it was given. */
  async idle(): Promise<void> {
    await Promise.all(this.#runners.map((runner) => runner.idle()));
  }

  /** Drains the queues until `signal` aborts, then closes every sink. */
  stop(signal: AbortSignal): Promise<void> {
    // Every caller waits for the same drain, also one that comes while it runs.
    this.#stopping ??= Promise.all(this.#runners.map((runner) => runner.stop(signal))).then(() => {});
    this.#started = false;
    return this.#stopping;
  }

  health(): SinkHealth[] {
    return this.#runners.map((runner) => ({
      name: runner.sink.name,
      topics: runner.filter.topics,
      min_priority: runner.filter.minPriority,
      queued: runner.queued,
      delivered: runner.delivered,
      dropped: runner.dropped,
      failed: runner.failed,
      last_error: runner.lastError,
    }));
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
