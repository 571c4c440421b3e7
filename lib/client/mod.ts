/**
 * hark's client library: how a program on this machine publishes events and
 * follows them through the local agent, without starting a `hark` process
 * per event.
 *
 * ```ts
 * import { connect } from "@hark/hark/client";
 *
 * await using hark = await connect(); // the agent of $HARK_STATE_DIR or the default state dir
 * await hark.send({ topic: "builds", title: "build 42 passed", priority: 3 });
 * for await (const event of hark.subscribe("alerts", { since: "10m", when: "priority >= 4" })) {
 *   console.log(event.title);
 * }
 * ```
 *
 * It speaks the control socket (lib/control_protocol.ts) and loads nothing
 * of libp2p, so it costs a program little to import.
 */

import { ControlClient } from "../control/client.ts";
import type { ControlReply, ControlRequest } from "../control/protocol.ts";
import { AgentReplyError, HarkError } from "../errors.ts";
import type { EventDraft, HarkEvent } from "../event/event.ts";
import { defaultPaths } from "../config/paths.ts";
import { parseSince, type Since } from "../store/since.ts";

export type { EventDraft, HarkEvent, Priority } from "../event/event.ts";
export type { EventAction } from "../event/actions.ts";
export { AgentReplyError, HarkError, NoAgentError } from "../errors.ts";

export interface ConnectOptions {
  /** The agent's state dir; default `$HARK_STATE_DIR`, else the platform's default (as `hark` uses). */
  stateDir?: string;
}

export interface SendResult {
  /** The event's id (a ULID), for `since` and `hark history`. */
  id: string;
  /** Agents subscribed to its topic when it left. */
  recipients: number;
  /** The event as published, with its id, time and source. */
  event: HarkEvent;
}

export interface SubscribeOptions {
  /**
   * First yield stored events after this point, then follow: a duration back
   * from now (`"10m"`), an event id (resume after it), an RFC 3339 time or a
   * Date. Without it, only events from now on.
   */
  since?: string | Date;
  /** Only events matching this filter, in the syntax of a sink's `when` (`"priority >= 4"`). */
  when?: string;
  /** Aborting it ends the subscription, as `close()` does. */
  signal?: AbortSignal;
}

/** Connects to the local agent; throws `NoAgentError` if none runs for the state dir. */
export async function connect(options: ConnectOptions = {}): Promise<HarkClient> {
  const stateDir = options.stateDir ?? (Deno.env.get("HARK_STATE_DIR") || defaultPaths().stateDir);
  return new HarkClient(stateDir, await ControlClient.connect(stateDir));
}

/** A program's connection to its agent. `await using` (or `close()`) ends it and its subscriptions. */
export class HarkClient {
  readonly stateDir: string;
  #control: ControlClient;
  /** Requests are written one after another, so replies, which come in request order, match them. */
  #writes: Promise<void> = Promise.resolve();
  #reads: Promise<unknown> = Promise.resolve();
  #subscriptions = new Set<Subscription>();
  #closed = false;

  constructor(stateDir: string, control: ControlClient) {
    this.stateDir = stateDir;
    this.#control = control;
  }

  /** Publishes one event. Throws `AgentReplyError` with the agent's reason when it refuses. */
  async send(draft: EventDraft): Promise<SendResult> {
    const reply = await this.#request({ op: "send", event: draft });
    return { id: reply.id as string, recipients: reply.recipients as number, event: reply.event as HarkEvent };
  }

  /** Stored events of `topics` (`[]`: all), oldest first, as `hark history` shows them. */
  async history(
    topics: string | string[],
    options: { since?: string | Date; limit?: number } = {},
  ): Promise<HarkEvent[]> {
    const request: ControlRequest = { op: "history", topics: typeof topics === "string" ? [topics] : topics };
    Object.assign(request, sinceFields(options.since));
    if (options.limit !== undefined) request.limit = options.limit;
    const events: HarkEvent[] = [];
    // The agent sends history a page a line; every page is read before the next request's reply.
    await this.#request(request, async (control) => {
      let last: ControlReply | undefined;
      for await (const page of control.pages()) {
        events.push(...page.events as HarkEvent[]);
        last = page;
      }
      return last!;
    });
    return events;
  }

  /** What `hark status --json` shows. */
  async status(): Promise<Record<string, unknown>> {
    return (await this.#request({ op: "status" })).status as Record<string, unknown>;
  }

  /**
   * The events of `topics` (one, several, or `[]` for every topic the agent
   * subscribes to) as they arrive, each once, in the agent's order. The
   * iteration ends when the subscription is closed and throws when the agent
   * stops; `lastId` tells where to resume (`since: sub.lastId`).
   */
  subscribe(topics: string | string[], options: SubscribeOptions = {}): Subscription {
    if (this.#closed) throw new HarkError("this hark client is closed; connect() again");
    const subscription = new Subscription(this.stateDir, typeof topics === "string" ? [topics] : topics, options);
    this.#subscriptions.add(subscription);
    subscription.closed.then(() => this.#subscriptions.delete(subscription));
    return subscription;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#control.close();
    for (const subscription of this.#subscriptions) subscription.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #request(
    request: ControlRequest,
    read: (control: ControlClient) => Promise<ControlReply> = (control) => control.next(),
  ): Promise<ControlReply> {
    if (this.#closed) return Promise.reject(new HarkError("this hark client is closed; connect() again"));
    const written = this.#writes.then(() => this.#control.send(request));
    // The next request waits for this write only, not for this reply: requests pipeline.
    this.#writes = written.catch(() => {});
    // Replies are read in request order, a paged one whole before the next.
    const replied = Promise.all([written, this.#reads]).then(() => read(this.#control));
    this.#reads = replied.catch(() => {});
    return replied;
  }
}

/** One subscription: an async iterator of events over a connection of its own. */
export class Subscription implements AsyncIterableIterator<HarkEvent> {
  /** The id of the last event yielded, to resume from after a restart. */
  lastId?: string;
  /**
   * Resolves once the agent follows the topics for this subscription: an
   * event sent after it is sure to come. Rejects as the first `next()` would.
   */
  readonly ready: Promise<void>;
  /** Resolves once the subscription has ended, however it ended. */
  readonly closed: Promise<void>;
  #ready: Promise<AsyncIterator<{ event?: HarkEvent }>>;
  #client?: ControlClient;
  #done = false;
  #markClosed!: () => void;
  #signal?: AbortSignal;
  #onAbort = () => this.close();

  constructor(stateDir: string, topics: string[], options: SubscribeOptions) {
    this.closed = new Promise((resolve) => this.#markClosed = resolve);
    this.#signal = options.signal;
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#ready = this.#open(stateDir, topics, options);
    this.ready = this.#ready.then(() => {});
    // The first next() reports a failure to subscribe; until then, it waits here.
    this.ready.catch(() => {});
    if (this.#signal?.aborted) this.close();
  }

  async #open(stateDir: string, topics: string[], options: SubscribeOptions) {
    const request: ControlRequest = { op: "tail", topics };
    Object.assign(request, sinceFields(options.since));
    if (options.when !== undefined) request.when = options.when;
    const client = await ControlClient.connect(stateDir);
    this.#client = client;
    if (this.#done) {
      client.close();
      throw new HarkError("the subscription was closed");
    }
    await client.request(request);
    return client.stream()[Symbol.asyncIterator]() as AsyncIterator<{ event?: HarkEvent }>;
  }

  async next(): Promise<IteratorResult<HarkEvent, undefined>> {
    if (this.#done) return { done: true, value: undefined };
    let lines: AsyncIterator<{ event?: HarkEvent }>;
    try {
      lines = await this.#ready;
    } catch (error) {
      if (this.#done) return { done: true, value: undefined };
      this.close();
      throw error;
    }
    while (true) {
      let line: IteratorResult<{ event?: HarkEvent }>;
      try {
        line = await lines.next();
      } catch (error) {
        // Closing the connection under a pending read ends it with an error.
        if (this.#done) return { done: true, value: undefined };
        this.close();
        throw error;
      }
      if (this.#done) return { done: true, value: undefined };
      if (line.done) {
        this.close();
        throw new AgentReplyError(
          `the hark agent stopped${this.lastId ? `; subscribe again with since: "${this.lastId}" to resume` : ""}`,
        );
      }
      const event = line.value.event;
      if (event) {
        this.lastId = event.id;
        return { done: false, value: event };
      }
    }
  }

  /** `break` in a `for await` ends the subscription. */
  return(): Promise<IteratorResult<HarkEvent, undefined>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends the subscription: a pending `next()` resolves as done. Idempotent. */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#client?.close();
    this.#markClosed();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** `since` as the control protocol's since_time or since_id. */
function sinceFields(since: string | Date | undefined): Partial<Since> {
  if (since === undefined) return {};
  if (since instanceof Date) return { since_time: since.getTime() };
  return parseSince(since, Date.now(), "since");
}
