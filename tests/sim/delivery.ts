/**
 * Who got which event, when: one subscription per agent over its control
 * socket (what `hark tail` does), or with `--follow ntfy` an ntfy client's
 * `GET /<topic>/json` on its http source, recording the arrival of every
 * event in the process that runs the agent. Publishing goes through a random agent's
 * control socket, as `hark send`. Times are `Date.now()`, one clock for
 * every process on the machine.
 */

import type { HarkEvent, Subscription } from "../../lib/client/mod.ts";
import { readLines } from "../../lib/util/lines.ts";
import type { Fleet, SimAgent } from "./fleet.ts";

/** event id → agent index → arrival times (ms since the epoch). */
export type Arrivals = Map<string, Map<number, number[]>>;

export interface DeliveryResult {
  expected: number;
  delivered: number;
  duplicates: number;
  /** Publish to arrival, ms, one per delivery. */
  latencies: number[];
  /** Events whose publish failed (the agent refused it). */
  failed: number;
}

/** A small seeded generator, so a run can be repeated with the same publishers. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

export class Receivers {
  readonly arrivals: Arrivals = new Map();
  #subscriptions: Pick<Subscription, "ready" | "close">[] = [];
  #loops: Promise<void>[] = [];

  /** Subscribes every agent to its topic; resolves once each follows it. */
  static async open(fleet: Fleet): Promise<Receivers> {
    const receivers = new Receivers();
    for (const agent of fleet.agents) {
      if (fleet.options.follow === "ntfy") receivers.#followNtfy(agent);
      else receivers.#follow(agent);
    }
    await Promise.all(receivers.#subscriptions.map((subscription) => subscription.ready));
    return receivers;
  }

  #follow(agent: SimAgent): void {
    const subscription = agent.client.subscribe(agent.topic);
    this.#subscriptions.push(subscription);
    this.#loops.push((async () => {
      try {
        for await (const event of subscription) this.#arrived(event, agent.index);
      } catch {
        // The agent stopped: its subscription ends with it.
      }
    })());
  }

  /** As an ntfy app: a streamed `GET /<topic>/json`; ready once the agent says `open`, so it follows the topic. */
  #followNtfy(agent: SimAgent): void {
    const abort = new AbortController();
    let opened!: () => void;
    const ready = new Promise<void>((resolve) => opened = resolve);
    this.#subscriptions.push({ ready, close: () => abort.abort() });
    this.#loops.push((async () => {
      try {
        const { sources } = await agent.client.status() as { sources: { name: string; listen?: string }[] };
        const listen = sources.find((source) => source.name === "http")?.listen;
        if (!listen) throw new Error(`agent ${agent.index} has no http source`);
        const response = await fetch(`http://${listen}/${agent.topic}/json`, { signal: abort.signal });
        if (!response.ok || !response.body) throw new Error(`agent ${agent.index}: ${response.status}`);
        for await (const line of readLines(response.body, 1024 * 1024)) {
          const message = JSON.parse(line) as { id: string; event: string };
          if (message.event === "open") opened();
          if (message.event === "message") this.#arrived(message, agent.index);
        }
      } catch (error) {
        // Closed at the end of the run, or the agent stopped; anything else leaves the subscription not ready.
        if (!abort.signal.aborted) console.error(`sim: ntfy subscription of agent ${agent.index}: ${error}`);
      } finally {
        opened();
      }
    })());
  }

  #arrived(event: Pick<HarkEvent, "id">, index: number): void {
    const now = Date.now();
    let byAgent = this.arrivals.get(event.id);
    if (!byAgent) this.arrivals.set(event.id, byAgent = new Map());
    const times = byAgent.get(index) ?? [];
    times.push(now);
    byAgent.set(index, times);
  }

  /** Agents other than the publisher that hold `event`'s arrival. */
  receivedBy(id: string, publisher: number): number {
    const byAgent = this.arrivals.get(id);
    if (!byAgent) return 0;
    return [...byAgent.keys()].filter((index) => index !== publisher).length;
  }

  async close(): Promise<void> {
    for (const subscription of this.#subscriptions) subscription.close();
    await Promise.all(this.#loops);
  }
}

export interface Published {
  id: string;
  publisher: number;
  time: number;
  /** Agents that follow the topic, the publisher aside. */
  followers: number[];
}

/** Publishes one event from `agent`; undefined when the agent refused it. */
export async function publishFrom(
  agent: SimAgent,
  body: string,
): Promise<{ id: string; time: number } | undefined> {
  try {
    const { event } = await agent.client.send({ topic: agent.topic, body, title: "sim" });
    return { id: event.id, time: Date.parse(event.time) };
  } catch {
    return undefined;
  }
}

export function tally(arrivals: Arrivals, published: Published[], failed: number): DeliveryResult {
  const result: DeliveryResult = { expected: 0, delivered: 0, duplicates: 0, latencies: [], failed };
  for (const event of published) {
    result.expected += event.followers.length;
    const byAgent = arrivals.get(event.id) ?? new Map<number, number[]>();
    for (const follower of event.followers) {
      const times = byAgent.get(follower);
      if (!times) continue;
      result.delivered++;
      result.duplicates += times.length - 1;
      result.latencies.push(times[0] - event.time);
    }
  }
  return result;
}
