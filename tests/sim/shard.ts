/**
 * One process's share of the simulated fleet and every question the
 * coordinator (cluster.ts) asks of it. Each operation takes and returns
 * plain JSON, so the same shard serves in the simulator's own process or
 * in a child process behind shard_process.ts.
 */

import process from "node:process";
import { Fleet, type FleetEntry, type FleetOptions } from "./fleet.ts";
import { publishFrom, Receivers } from "./delivery.ts";
import { peerLists } from "./graph.ts";
import { type StoreRows, storeRows } from "./store_rows.ts";
import { countWireBytes, wireBytes } from "./wire_bytes.ts";
import { uncaughtCounts } from "../../lib/uncaught.ts";

/** What the coordinator knows of an agent: enough to dial it and to place its events. */
export interface AgentInfo {
  index: number;
  topic: string;
  peerId: string;
  addresses: string[];
}

/** Counters summed over agents: membership events received, catch-up sessions, connects and closes. */
export interface Counters {
  membership: number;
  sessions: number;
  connects: number;
  trimmed: number;
  /** Connections dropped for an unanswered ping. */
  unanswered: number;
  /** Connections closed for any reason, counted at each end. */
  closed: number;
}

/** A process's meters, read at a moment; the coordinator subtracts two readings. */
export interface Meters {
  /** Bytes this process's agents wrote to their peers. */
  wireBytes: number;
  /** User + system CPU of this process, ms. */
  cpuMs: number;
  rss: number;
  heapUsed: number;
  /** Rejections and exceptions nothing caught, which this process survived as `hark run` does. */
  uncaughtRejections: number;
  uncaughtExceptions: number;
}

export interface ShardInit extends FleetOptions {
  /** The fleet's network: its name and secret (hex), shared by every process. */
  network: { name: string; secret: string };
}

/** The operations, by name, as shard_process.ts dispatches them. */
export interface ShardOps {
  start(init: ShardInit): Promise<void>;
  add(entries: FleetEntry[]): Promise<AgentInfo[]>;
  follow(): Promise<void>;
  publish(index: number, body: string): Promise<{ id: string; time: number } | null>;
  /** For each event, how many agents of this shard besides its publisher have it. */
  received(events: { id: string; publisher: number }[]): Promise<number[]>;
  /** Arrival times of `ids` at this shard's agents: [id, [[agent, times]]]. */
  arrivals(ids: string[]): Promise<[string, [number, number[]][]][]>;
  peers(): Promise<{ index: number; peers: string[] }[]>;
  /** Membership events received and catch-up sessions, summed over this shard's agents. */
  counters(): Promise<Counters>;
  storeRows(): Promise<StoreRows[]>;
  firstEvent(index: number, topic: string): Promise<unknown>;
  meters(): Promise<Meters>;
  stop(): Promise<void>;
}

export class Shard implements ShardOps {
  #fleet?: Fleet;
  #receivers?: Receivers;
  #network?: { name: string; secret: Uint8Array; peers: string[] };

  start(init: ShardInit): Promise<void> {
    // Before the first agent starts, so every byte its sockets write is counted.
    countWireBytes();
    this.#network = {
      name: init.network.name,
      secret: Uint8Array.from(init.network.secret.match(/../g)!, (pair) => parseInt(pair, 16)),
      peers: [],
    };
    return Fleet.create(init).then((fleet) => void (this.#fleet = fleet));
  }

  async add(entries: FleetEntry[]): Promise<AgentInfo[]> {
    const added = await this.#started().add(entries, this.#network!);
    return added.map(({ index, topic, peerId, addresses }) => ({ index, topic, peerId, addresses }));
  }

  async follow(): Promise<void> {
    this.#receivers ??= await Receivers.open(this.#started());
  }

  async publish(index: number, body: string): Promise<{ id: string; time: number } | null> {
    const agent = this.#started().agents.find((agent) => agent.index === index);
    if (!agent) throw new Error(`agent ${index} does not run in this process`);
    return await publishFrom(agent, body) ?? null;
  }

  received(events: { id: string; publisher: number }[]): Promise<number[]> {
    const receivers = this.#receivers;
    return Promise.resolve(events.map(({ id, publisher }) => receivers?.receivedBy(id, publisher) ?? 0));
  }

  arrivals(ids: string[]): Promise<[string, [number, number[]][]][]> {
    const arrivals = this.#receivers?.arrivals ?? new Map();
    return Promise.resolve(ids.flatMap((id) => {
      const byAgent = arrivals.get(id);
      return byAgent ? [[id, [...byAgent.entries()]] as [string, [number, number[]][]]] : [];
    }));
  }

  async peers(): Promise<{ index: number; peers: string[] }[]> {
    return await peerLists(this.#started());
  }

  async counters(): Promise<Counters> {
    type Status = {
      events?: { membership_received?: number };
      history?: { sessions?: number };
      connections?: { connects?: number; trimmed?: number; unanswered?: number; closed?: number };
    };
    const statuses = await Promise.all(
      this.#started().agents.map(async (agent) => await agent.client.status() as Status),
    );
    const sum = (read: (status: Status) => number | undefined) =>
      statuses.reduce((total, status) => total + (read(status) ?? 0), 0);
    return {
      membership: sum((status) => status.events?.membership_received),
      sessions: sum((status) => status.history?.sessions),
      connects: sum((status) => status.connections?.connects),
      trimmed: sum((status) => status.connections?.trimmed),
      unanswered: sum((status) => status.connections?.unanswered),
      closed: sum((status) => status.connections?.closed),
    };
  }

  storeRows(): Promise<StoreRows[]> {
    return Promise.resolve(this.#started().agents.map((agent) => storeRows(agent.stateDir)));
  }

  async firstEvent(index: number, topic: string): Promise<unknown> {
    const agent = this.#started().agents.find((agent) => agent.index === index);
    const [event] = await agent?.client.history([topic], { limit: 1 }) ?? [];
    return event ?? {};
  }

  meters(): Promise<Meters> {
    const { user, system } = process.cpuUsage();
    const { rss, heapUsed } = Deno.memoryUsage();
    const uncaught = uncaughtCounts();
    return Promise.resolve({
      wireBytes: wireBytes(),
      cpuMs: (user + system) / 1000,
      rss,
      heapUsed,
      uncaughtRejections: uncaught.rejections,
      uncaughtExceptions: uncaught.exceptions,
    });
  }

  /** Ends the subscriptions and stops every agent. Idempotent. */
  async stop(): Promise<void> {
    const receivers = this.#receivers;
    this.#receivers = undefined;
    await receivers?.close();
    await this.#fleet?.stop();
  }

  #started(): Fleet {
    if (!this.#fleet) throw new Error("the shard has not started: call start() first");
    return this.#fleet;
  }
}
