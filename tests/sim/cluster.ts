/**
 * The whole simulated fleet, spread over `procs` processes: agent i runs in
 * shard i mod procs. With one process the shard runs in the simulator's own
 * process (as before, and what tests use for small N); with more, each shard
 * is a child process (remote_shard.ts), so the agents no longer share one
 * JavaScript thread. The cluster starts the agents wave by wave as
 * topology.ts plans, handing each the addresses of the agents it dials,
 * and gathers every shard's figures.
 */

import { newNetwork } from "../../lib/mesh/network.ts";
import type { FleetEntry, FleetOptions } from "./fleet.ts";
import type { Arrivals, Published } from "./delivery.ts";
import { connectionGraph, type Graph } from "./graph.ts";
import { RemoteShard } from "./remote_shard.ts";
import { type AgentInfo, type Counters, type Meters, Shard, type ShardOps } from "./shard.ts";
import type { StoreRows } from "./store_rows.ts";
import { plan } from "./topology.ts";

/** One shard, wherever it runs. */
interface ShardHandle {
  call<K extends keyof ShardOps>(op: K, ...args: Parameters<ShardOps[K]>): ReturnType<ShardOps[K]>;
  stop(): Promise<void>;
}

class LocalShard implements ShardHandle {
  #shard = new Shard();
  call<K extends keyof ShardOps>(op: K, ...args: Parameters<ShardOps[K]>): ReturnType<ShardOps[K]> {
    // deno-lint-ignore no-explicit-any
    return (this.#shard[op] as (...args: any[]) => any).apply(this.#shard, args);
  }
  stop(): Promise<void> {
    return this.#shard.stop();
  }
}

export interface ClusterOptions extends FleetOptions {
  /** Processes to spread the agents over; 1 runs them in this process. */
  procs: number;
  /** Child process i listens for a debugger on this port + i (`--inspect-port`). */
  inspectPort?: number;
}

export class Cluster implements AsyncDisposable {
  /** Every agent, by index. */
  readonly agents: AgentInfo[] = [];
  readonly options: ClusterOptions;
  /** Every process's meters once its code has loaded, before its first agent started. */
  baseline?: Meters;
  #shards: ShardHandle[];

  private constructor(options: ClusterOptions) {
    this.options = options;
    this.#shards = options.procs === 1 ? [new LocalShard()] : Array.from(
      { length: options.procs },
      (_, shard) =>
        new RemoteShard(
          `sim process ${shard}`,
          options.inspectPort === undefined ? undefined : options.inspectPort + shard,
        ),
    );
  }

  /** Starts every agent, wave by wave; `onProgress` hears how many are up. */
  static async start(options: ClusterOptions, onProgress: (up: number) => void = () => {}): Promise<Cluster> {
    const cluster = new Cluster(options);
    try {
      const network = newNetwork("sim");
      const secret = Array.from(network.secret, (byte) => byte.toString(16).padStart(2, "0")).join("");
      const { count, topology, topics, statusIntervalMs, linkTimeoutMs, follow } = options;
      await cluster.#all("start", {
        count,
        topology,
        topics,
        statusIntervalMs,
        linkTimeoutMs,
        follow,
        network: { name: network.name, secret },
      });
      cluster.baseline = await cluster.meters();
      for (const wave of plan(options.count, options.topology)) {
        const byShard = cluster.#shards.map(() => [] as FleetEntry[]);
        const addressesOf = (indexes: number[]) =>
          indexes.flatMap((index) => cluster.agents[index].addresses.slice(0, 1));
        for (const agentPlan of wave) {
          const entry = { plan: agentPlan, dials: addressesOf(agentPlan.dials), found: addressesOf(agentPlan.found) };
          byShard[agentPlan.index % byShard.length].push(entry);
        }
        const started = await Promise.all(
          cluster.#shards.map((shard, at) => byShard[at].length ? shard.call("add", byShard[at]) : []),
        );
        for (const agent of started.flat()) cluster.agents[agent.index] = agent;
        onProgress(cluster.agents.filter(Boolean).length);
      }
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  #shardOf(index: number): ShardHandle {
    return this.#shards[index % this.#shards.length];
  }

  async #all<K extends keyof ShardOps>(
    op: K,
    ...args: Parameters<ShardOps[K]>
  ): Promise<Awaited<ReturnType<ShardOps[K]>>[]> {
    return await Promise.all(this.#shards.map((shard) => shard.call(op, ...args)));
  }

  /** Subscribes every agent to its topic, as `hark tail`; resolves once each follows it. */
  async follow(): Promise<void> {
    await this.#all("follow");
  }

  /** Publishes one event from agent `index`; undefined when the agent refused it. */
  async publish(index: number, body: string): Promise<Published | undefined> {
    const sent = await this.#shardOf(index).call("publish", index, body);
    if (!sent) return undefined;
    const topic = this.agents[index].topic;
    const followers = this.agents.filter((other) => other.topic === topic && other.index !== index)
      .map((other) => other.index);
    return { ...sent, publisher: index, followers };
  }

  /** Followers that have each published event so far, out of all it should reach. */
  async reached(published: Published[]): Promise<{ delivered: number; expected: number }> {
    const events = published.map(({ id, publisher }) => ({ id, publisher }));
    const counts = await this.#all("received", events);
    let delivered = 0, expected = 0;
    published.forEach((event, at) => {
      expected += event.followers.length;
      delivered += Math.min(event.followers.length, counts.reduce((sum, shard) => sum + shard[at], 0));
    });
    return { delivered, expected };
  }

  /** Whether every follower of every published event has it. */
  async allDelivered(published: Published[]): Promise<boolean> {
    const { delivered, expected } = await this.reached(published);
    return delivered >= expected;
  }

  /** Every shard's arrivals of `published`, in one map. */
  async arrivals(published: Published[]): Promise<Arrivals> {
    const merged: Arrivals = new Map();
    for (const shard of await this.#all("arrivals", published.map(({ id }) => id))) {
      for (const [id, byAgent] of shard) {
        const into = merged.get(id) ?? new Map<number, number[]>();
        for (const [index, times] of byAgent) into.set(index, times);
        merged.set(id, into);
      }
    }
    return merged;
  }

  async graph(): Promise<Graph> {
    const byPeer = new Map(this.agents.map((agent) => [agent.peerId, agent.index]));
    return connectionGraph((await this.#all("peers")).flat(), byPeer);
  }

  /** Membership events received, catch-up sessions, connects and closes, summed over the fleet. */
  async counters(): Promise<Counters> {
    const all = await this.#all("counters");
    const sum = (key: keyof Counters) => all.reduce((total, shard) => total + shard[key], 0);
    return {
      membership: sum("membership"),
      sessions: sum("sessions"),
      connects: sum("connects"),
      trimmed: sum("trimmed"),
      unanswered: sum("unanswered"),
      closed: sum("closed"),
    };
  }

  async storeRows(): Promise<StoreRows[]> {
    return (await this.#all("storeRows")).flat();
  }

  async firstEvent(event: Published): Promise<unknown> {
    return await this.#shardOf(event.publisher).call("firstEvent", event.publisher, this.agents[event.publisher].topic);
  }

  /** Every process's meters, summed: bytes and CPU of the whole fleet, memory of every process. */
  async meters(): Promise<Meters> {
    const all = await this.#all("meters");
    const sum = (pick: (meters: Meters) => number) => all.reduce((total, meters) => total + pick(meters), 0);
    return {
      wireBytes: sum((meters) => meters.wireBytes),
      cpuMs: sum((meters) => meters.cpuMs),
      rss: sum((meters) => meters.rss),
      heapUsed: sum((meters) => meters.heapUsed),
      uncaughtRejections: sum((meters) => meters.uncaughtRejections),
      uncaughtExceptions: sum((meters) => meters.uncaughtExceptions),
    };
  }

  /** Stops every agent in every process. Idempotent. */
  async stop(): Promise<void> {
    await Promise.all(this.#shards.map((shard) => shard.stop()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
