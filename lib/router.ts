/**
 * Routes events to sinks. Each sink has its own bounded queue and its own
 * delivery loop, so a slow or failing sink never delays the others, the
 * control socket or the mesh.
 *
 * With an event store, routing is durable: each sink keeps a cursor in the
 * store, resumes from it after a restart or crash, and a full queue only
 * defers events (they are read back from the store when the queue drains).
 * A failing sink is retried with backoff until it recovers; its backlog
 * waits in the store.
 *
 * For a sink with effects outside the store (`marksRepeats`: file, exec,
 * webhook, plugin) the cursor is exact: before the router starts an event it
 * saves to disk that the event is in flight, and it saves when the event is
 * done (an exec run: when the program exits). After a crash only the events
 * in flight at that moment come again, each with `repeat` set. Other sinks'
 * cursors reach disk within the store's flush interval. Without a store (unit tests, tools), a full queue
 * drops the new event with a warning (Serf's rule: never block the loop)
 * and a failing event is given up after a few attempts.
 */

import { getLogger } from "@logtape/logtape";
import { type HarkEvent, isReservedTopic } from "./event/event.ts";
import type { Running, Sink } from "../sinks/sink.ts";
import type { EventStore } from "./store/store.ts";
import { compileTopicPattern } from "./filter.ts";
import { delay } from "./util/delay.ts";

const log = getLogger(["hark", "router"]);

export interface RouteFilter {
  /** Only topics matching these names or globs (`builds.*`); undefined means all. */
  topics?: string[];
  minPriority: number;
  /** A compiled `when` expression; the event passes only if it returns true. */
  when?: (event: HarkEvent) => boolean;
  /**
   * An event published before this agent joined the network (backfill) is
   * passed only if it is younger than this. @default 10 minutes
   */
  backfillMaxAgeMs?: number;
}

/** How old backfill may be for a sink that sets no max_age. */
export const BACKFILL_MAX_AGE_MS = 10 * 60_000;

/** ok: delivering; retrying: the last attempt failed; suspended: it failed many times in a row. */
export type SinkState = "ok" | "retrying" | "suspended";

export interface SinkHealth {
  name: string;
  topics?: string[];
  min_priority: number;
  state: SinkState;
  /** Events waiting: in memory, plus those deferred to the store. */
  queued: number;
  delivered: number;
  dropped: number;
  /** Failed attempts to deliver (with a store, each is retried until it works). */
  failed: number;
  /** Events given up: retries ran out (no store), or the sink said they can never succeed. */
  given_up: number;
  /** Notifications already replaced, acknowledged or deleted when their turn came; shown when any. */
  passed_over?: number;
  last_error?: string;
  /** When a suspended or retrying sink tries again (ISO time). */
  next_attempt?: string;
  /** What the sink itself reports (running scripts, circuit state, desktop backend). */
  details?: Record<string, unknown>;
}

export interface RouterInit {
  /** Without a store: attempts per event before it is given up. @default 3 */
  attempts?: number;
  /** Delay before the first retry, doubled each time. @default 200 */
  retryDelayMs?: number;
  /** Longest delay between retries of a failing sink with a store. @default 30000 */
  maxRetryDelayMs?: number;
  /** Failures in a row after which a sink counts as suspended. @default 5 */
  suspendAfter?: number;
  /** Longest delay between retries of a suspended sink. @default 300000 */
  maxSuspendedDelayMs?: number;
  /** Makes routing durable; see the module comment. */
  store?: EventStore;
}

/** Compiled topic patterns per filter, so a route does not compile globs per event. */
const topicMatchers = new WeakMap<RouteFilter, (topic: string) => boolean>();

function topicMatcher(filter: RouteFilter): (topic: string) => boolean {
  let matcher = topicMatchers.get(filter);
  if (!matcher) {
    const patterns = (filter.topics ?? []).map(compileTopicPattern);
    matcher = (topic) => patterns.some((pattern) => pattern(topic));
    topicMatchers.set(filter, matcher);
  }
  return matcher;
}

/** Whether an event passes a sink's filter right now. */
export function matches(event: HarkEvent, filter: RouteFilter, now = Date.now(), backfill = false): boolean {
  if (event.priority < filter.minPriority) return false;
  // A new agent keeps old history in its store; only recent events reach its sinks.
  // A scheduled event is news from when it is due.
  const since = Date.parse(event.due ?? event.time);
  if (backfill && now - since > (filter.backfillMaxAgeMs ?? BACKFILL_MAX_AGE_MS)) return false;
  if (filter.topics ? !topicMatcher(filter)(event.topic) : isReservedTopic(event.topic)) return false;
  if (event.expires && Date.parse(event.expires) <= now) return false;
  if (filter.when && !filter.when(event)) return false;
  return true;
}

interface Queued {
  event: HarkEvent;
  seq?: number;
}

/** Events read back from the store at a time. */
const REFILL_BATCH = 256;

class SinkRunner {
  readonly sink: Sink;
  readonly filter: RouteFilter;
  readonly capacity: number;
  /** The sink's cursor name in the store. */
  readonly key: string;
  #queue: Queued[] = [];
  #wake?: () => void;
  #idle?: () => void;
  #busy = false;
  #stopped = false;
  #abort = new AbortController();
  #loop?: Promise<void>;
  #init: RouterInit & Required<Omit<RouterInit, "store">>;
  /** The newest store sequence number this runner has queued or passed over. */
  #queuedUpTo = 0;
  /** Events are waiting in the store because the queue was full. */
  #deferred = false;
  /** For a sink that marks repeats: the newest event it was handed. */
  #startedUpTo = 0;
  /** For a sink that marks repeats: events handed to it that are not done yet. */
  #inFlight = new Set<number>();
  /** Events in flight when the agent last stopped or crashed, queued again as repeats and not started yet. */
  #repeats = new Set<number>();
  delivered = 0;
  dropped = 0;
  failed = 0;
  /** Events this sink will never get: retries ran out (no store) or the sink said it can never take them. */
  givenUp = 0;
  /** Notifications already replaced, acknowledged or deleted when their turn came (sinks that show notifications). */
  passedOver = 0;
  lastError?: string;
  state: SinkState = "ok";
  nextAttemptAt?: number;

  constructor(sink: Sink, filter: RouteFilter, capacity: number, key: string, init: SinkRunner["init"]) {
    this.sink = sink;
    this.filter = filter;
    this.capacity = capacity;
    this.key = key;
    this.#init = init;
  }

  get init() {
    return this.#init;
  }

  get queued(): number {
    const inMemory = this.#queue.length + (this.#busy ? 1 : 0);
    const store = this.#init.store;
    return this.#deferred && store ? inMemory + store.countAfter(this.#queuedUpTo, this.filter.topics) : inMemory;
  }

  start(): void {
    if (this.#loop) return;
    this.sink.start?.();
    const store = this.#init.store;
    if (store) {
      // A sink the store has not seen starts from now: history is not replayed into it.
      const progress = store.progress(this.key);
      this.#queuedUpTo = progress?.seq ?? store.lastSeq();
      this.#startedUpTo = this.#queuedUpTo;
      if (progress === undefined) store.setCursor(this.key, this.#queuedUpTo);
      // What was in flight at a crash (or a stop mid-retry) goes first, marked as a possible repeat.
      const now = Date.now();
      for (const { seq, event, backfill } of store.at(progress?.inFlight ?? [])) {
        if (!matches(event, this.filter, now, backfill)) continue;
        this.#queue.push({ event, seq });
        this.#repeats.add(seq);
      }
      // Whatever arrived after the cursor (before a restart or crash) comes first.
      this.#deferred = true;
    }
    this.#loop = this.#run();
  }

  offer(event: HarkEvent, seq?: number): void {
    if (this.#stopped) return;
    if (seq !== undefined && this.#init.store) {
      if (seq <= this.#queuedUpTo) return;
      // Order is kept: once anything waits in the store, newer events wait behind it.
      if (this.#deferred || this.#queue.length >= this.capacity) {
        this.#deferred = true;
        this.#wake?.();
        return;
      }
      this.#queuedUpTo = seq;
    } else if (this.#queue.length >= this.capacity) {
      this.dropped++;
      log.warn("Sink {sink} is {count} events behind; dropped event {id}", {
        sink: this.sink.name,
        count: this.#queue.length,
        id: event.id,
      });
      return;
    }
    this.#queue.push({ event, seq });
    this.#wake?.();
  }

  /** Moves events the queue had no room for from the store into the queue. */
  #refill(): void {
    const store = this.#init.store;
    if (!store || !this.#deferred) return;
    const now = Date.now();
    while (this.#queue.length < this.capacity) {
      const batch = store.after(this.#queuedUpTo, this.filter.topics, Math.min(REFILL_BATCH, this.capacity));
      for (const { seq, event, backfill } of batch) {
        this.#queuedUpTo = seq;
        if (matches(event, this.filter, now, backfill)) this.#queue.push({ event, seq });
      }
      if (batch.length === 0) {
        this.#deferred = false;
        return;
      }
    }
  }

  /** Resolves when nothing waits and nothing is being delivered. */
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
    const left = this.queued;
    if (left > 0) {
      const where = this.#init.store ? "; they wait in the store for the next start" : "";
      log.warn("Sink {sink} stopped with {count} events undelivered{where}", {
        sink: this.sink.name,
        count: left,
        where,
      });
    }
    await this.sink.close();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      if (this.#queue.length === 0) this.#refill();
      const next = this.#queue.shift();
      if (!next) {
        const idle = this.#idle;
        this.#idle = undefined;
        idle?.();
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      this.#busy = true;
      await this.#deliver(next);
      this.#busy = false;
    }
  }

  /**
   * Counts a failed attempt. A sink that fails `suspendAfter` times in a row
   * is suspended: it is still retried, but less and less often (up to every
   * 5 minutes), so a dead webhook or a broken script costs next to nothing.
   */
  #failing(event: HarkEvent, attempt: number): void {
    const properties = { sink: this.sink.name, id: event.id, attempt, error: this.lastError };
    if (attempt >= this.#init.suspendAfter && this.state !== "suspended") {
      this.state = "suspended";
      log.error(
        "Sink {sink} failed {attempt} times in a row and is suspended; retrying less often: {error}",
        properties,
      );
    } else if (this.state === "ok") {
      this.state = "retrying";
      log.warn("Sink {sink} failed to deliver event {id}: {error}; retrying", properties);
    } else {
      log.debug("Sink {sink} failed to deliver event {id} (attempt {attempt}): {error}", properties);
    }
  }

  #recovered(): void {
    if (this.state !== "ok") log.info("Sink {sink} delivers again", { sink: this.sink.name });
    this.state = "ok";
    // An error from before a success is history (the log keeps it); status shows what is wrong now.
    this.lastError = undefined;
    this.nextAttemptAt = undefined;
  }

  async #deliver({ event, seq }: Queued): Promise<void> {
    const signal = this.#abort.signal;
    const durable = seq !== undefined && this.#init.store !== undefined;
    // Asked when its turn comes, not when queued: a replacement or an ack may have arrived since.
    if (durable && this.sink.showsNotifications && this.#init.store!.notifications.superseded(event)) {
      this.passedOver++;
      this.#init.store!.setCursor(this.key, seq);
      return;
    }
    const exact = durable && this.sink.marksRepeats === true;
    const repeat = exact && this.#repeats.delete(seq);
    if (exact) this.#begin(seq!);
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        const running = await this.sink.deliver(event, exact ? { signal, repeat } : { signal });
        this.delivered++;
        if (exact) this.#whenFinished(seq, running);
        else if (durable) this.#init.store!.setCursor(this.key, seq);
        this.#recovered();
        return;
      } catch (error) {
        this.lastError = (error as Error).message;
        this.failed++;
        this.#failing(event, attempt);
        // A sink that says this event can never succeed (a webhook's 400)
        // gives it up, rather than block every event behind it for good.
        if ((error as { retryable?: boolean }).retryable === false) {
          this.#giveUp(event, seq);
          return;
        }
        if (!durable && attempt >= this.#init.attempts) break;
        const ceiling = this.state === "suspended" ? this.#init.maxSuspendedDelayMs : this.#init.maxRetryDelayMs;
        const backoff = Math.min(ceiling, this.#init.retryDelayMs * 2 ** (attempt - 1));
        this.nextAttemptAt = Date.now() + backoff;
        await delay(backoff, signal);
      }
    }
    if (durable) {
      // Stopped while retrying: put it back so `queued` counts it; the store keeps it for the next start.
      this.#queue.unshift({ event, seq });
      return;
    }
    this.#giveUp(event, seq);
  }

  #giveUp(event: HarkEvent, seq: number | undefined): void {
    this.givenUp++;
    log.error("Sink {sink} gave up on event {id} and goes on with the next: {error}", {
      sink: this.sink.name,
      id: event.id,
      error: this.lastError,
    });
    if (seq === undefined || !this.#init.store) return;
    if (this.#inFlight.has(seq)) this.#end(seq, true);
    else this.#init.store.setCursor(this.key, seq);
  }

  /** Saves to disk that `seq` is in flight, before the sink acts on it. */
  #begin(seq: number): void {
    this.#inFlight.add(seq);
    this.#startedUpTo = Math.max(this.#startedUpTo, seq);
    this.#save(true);
  }

  /** Ends `seq` once its effect is over: at once, or when an exec run exits. */
  #whenFinished(seq: number, running: void | Running): void {
    if (!running) {
      // The next event's start saves this end in the same transaction; alone, it is saved now.
      this.#end(seq, this.#queue.length === 0);
      return;
    }
    running.whenOver(() => this.#end(seq, true));
  }

  #end(seq: number, now: boolean): void {
    this.#inFlight.delete(seq);
    this.#save(now);
  }

  /**
   * The cursor is the newest event handed over; the events in flight below
   * it are listed with it. So an exec run that ends before an older one is
   * done for good, and only what is listed comes again after a crash.
   */
  #save(now: boolean): void {
    const store = this.#init.store!;
    // Queued again but not started yet: still possible repeats if the agent crashes once more.
    const inFlight = [...this.#inFlight, ...this.#repeats].sort((a, b) => a - b);
    if (now) store.saveCursor(this.key, this.#startedUpTo, inFlight);
    else store.setCursor(this.key, this.#startedUpTo, inFlight);
  }
}

export class Router {
  #runners: SinkRunner[] = [];
  #init: SinkRunner["init"];
  #started = false;
  #stopping?: Promise<void>;

  constructor(init: RouterInit = {}) {
    this.#init = {
      attempts: init.attempts ?? 3,
      retryDelayMs: init.retryDelayMs ?? 200,
      maxRetryDelayMs: init.maxRetryDelayMs ?? 30_000,
      suspendAfter: init.suspendAfter ?? 5,
      maxSuspendedDelayMs: init.maxSuspendedDelayMs ?? 300_000,
      store: init.store,
    };
  }

  /**
   * Adds a sink; call before `start`. `key` names its cursor in the store
   * and must stay the same across restarts. @default sink.name
   */
  add(sink: Sink, filter: RouteFilter, capacity: number, key = sink.name): void {
    const runner = new SinkRunner(sink, filter, capacity, key, this.#init);
    this.#runners.push(runner);
    if (this.#started) runner.start();
  }

  start(): void {
    if (this.#started || this.#stopping) return;
    this.#started = true;
    for (const runner of this.#runners) runner.start();
  }

  /**
   * Queues the event for every sink whose filter it passes. Never blocks.
   * `seq` is the event's number in the store, when there is one; `backfill`
   * marks an event published before this agent joined.
   */
  route(event: HarkEvent, seq?: number, backfill = false): void {
    const now = Date.now();
    for (const runner of this.#runners) {
      if (matches(event, runner.filter, now, backfill)) runner.offer(event, seq);
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
    return this.#runners.map((runner) => {
      const health: SinkHealth = {
        name: runner.sink.name,
        topics: runner.filter.topics,
        min_priority: runner.filter.minPriority,
        state: runner.state,
        queued: runner.queued,
        delivered: runner.delivered,
        dropped: runner.dropped,
        failed: runner.failed,
        given_up: runner.givenUp,
        last_error: runner.lastError,
      };
      if (runner.passedOver > 0) health.passed_over = runner.passedOver;
      if (runner.nextAttemptAt !== undefined) health.next_attempt = new Date(runner.nextAttemptAt).toISOString();
      const details = runner.sink.stats?.();
      if (details) health.details = details;
      return health;
    });
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
