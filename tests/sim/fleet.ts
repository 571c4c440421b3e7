/**
 * The simulated agents this process runs: the `Agent` of lib/agent.ts with
 * its own state dir, store, file sink, control socket and libp2p node on
 * loopback TCP, dialing what `cluster.ts` hands it (`topology.ts`'s plans). Programs reach each agent
 * over its control socket, as `hark send` and `hark tail` do.
 */

import { Agent } from "../../lib/agent.ts";
import { parseConfig, resolveConfig } from "../../lib/config/config.ts";
import { mdnsServiceTag, type Network, saveNetwork } from "../../lib/mesh/network.ts";
import { PEERS_FILE } from "../../lib/connect/peer_book.ts";
import { fnv1a } from "../../lib/util/fnv.ts";
import { connect, type HarkClient } from "../../lib/client/mod.ts";
import type { AgentPlan, Topology } from "./topology.ts";

/** Agents started at once within a wave: more only queue on the one thread. */
const START_CONCURRENCY = 16;

export interface FleetOptions {
  count: number;
  topology: Topology;
  /** Topics `sim0`…: agent i follows `sim{i mod topics}`. */
  topics: number;
  /** membership.status_interval, ms. */
  statusIntervalMs: number;
  /**
   * How long a ping may go unanswered before a link counts as dead. An agent
   * on a host of its own waits 10 s; a simulator process runs many agents on
   * one thread and stalls for longer than any one of them would.
   */
  linkTimeoutMs: number;
  /**
   * How an agent comes to follow its topic: `config` names it in
   * `agent.topics`; `ntfy` has an ntfy client subscribe to it on the
   * agent's http source, which follows it on the fly, as a phone's topic.
   */
  follow: FollowMode;
}

export const FOLLOW_MODES = ["config", "ntfy"] as const;
export type FollowMode = typeof FOLLOW_MODES[number];

/** One agent to start: its plan, the addresses it names in `network.peers`, and those it heard on its segment. */
export interface FleetEntry {
  plan: AgentPlan;
  dials: string[];
  found: string[];
}

export interface SimAgent {
  index: number;
  stateDir: string;
  agent: Agent;
  client: HarkClient;
  topic: string;
  peerId: string;
  addresses: string[];
}

export function topicOf(index: number, topics: number): string {
  return `sim${index % topics}`;
}

function configText(agent: AgentPlan, dials: string[], options: FleetOptions): string {
  return `[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
mdns = false
relay = ${agent.relay}
peers = ${JSON.stringify(dials)}
# The simulator publishes faster than a person; the network's rate limit is not what it measures.
publisher_rate = 1000
publisher_burst = 1000

[agent]
host = "sim-${agent.index}"
${options.follow === "ntfy" ? "" : `topics = ["${topicOf(agent.index, options.topics)}"]`}

[membership]
status_interval = "${options.statusIntervalMs}ms"

[[sink]]
type = "file"
queue = 10000
${
    options.follow === "ntfy"
      ? `
[[source]]
type = "http"
listen = "127.0.0.1:0"
`
      : ""
  }`;
}

export class Fleet implements AsyncDisposable {
  readonly agents: SimAgent[] = [];
  readonly options: FleetOptions;
  #root: string;

  private constructor(root: string, options: FleetOptions) {
    this.#root = root;
    this.options = options;
  }

  /** An empty fleet with its own temporary root; `add` starts agents into it. */
  static async create(options: FleetOptions): Promise<Fleet> {
    return new Fleet(await Deno.makeTempDir({ prefix: "hark-sim-" }), options);
  }

  /**
   * Starts `entries` (one wave, or this process's share of one), at most
   * START_CONCURRENCY at once; each dials the addresses it is given.
   */
  async add(entries: FleetEntry[], network: Network): Promise<SimAgent[]> {
    const added: SimAgent[] = [];
    for (let from = 0; from < entries.length; from += START_CONCURRENCY) {
      const started = await Promise.all(
        entries.slice(from, from + START_CONCURRENCY).map((entry) => this.#startOne(entry, network)),
      );
      this.agents.push(...started);
      added.push(...started);
    }
    return added;
  }

  async #startOne({ plan: agentPlan, dials, found }: FleetEntry, network: Network): Promise<SimAgent> {
    const stateDir = `${this.#root}/agent-${agentPlan.index}`;
    await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
    await saveNetwork(stateDir, network);
    await writeFound(stateDir, found, network);
    const config = resolveConfig(
      parseConfig(configText(agentPlan, dials, this.options), `sim agent ${agentPlan.index}`),
      {
        host: `sim-${agentPlan.index}`,
        stateDir,
      },
    );
    const agent = new Agent({ config, stateDir, drainMs: 200, linkTimeoutMs: this.options.linkTimeoutMs });
    await agent.start();
    try {
      const client = await connect({ stateDir });
      return {
        index: agentPlan.index,
        stateDir,
        agent,
        client,
        topic: topicOf(agentPlan.index, this.options.topics),
        peerId: agent.peerId,
        addresses: agent.addresses,
      };
    } catch (error) {
      await agent.stop();
      throw error;
    }
  }

  /** Stops every agent (they say goodbye, as on a shutdown) and removes their state dirs. Idempotent. */
  async stop(): Promise<void> {
    const agents = this.agents.splice(0);
    for (const agent of agents) agent.client.close();
    await Promise.all(agents.map((agent) => agent.agent.stop()));
    await Deno.remove(this.#root, { recursive: true }).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * What mDNS would have heard on the agent's segment, handed over as the
 * agent's remembered peers (lib/connect/peer_book.ts): the agent dials those
 * only while it is below its low watermark of connections, as it dials mDNS
 * finds (lib/connect/lan_dial.ts). mDNS answers arrive in no set order, so
 * each agent's list is in an order of its own (by a hash of both ends); in
 * index order every agent would dial the fleet's first few. Simulated agents
 * run with mDNS off: multicast on one host would have every agent hear every
 * other.
 */
async function writeFound(stateDir: string, found: string[], network: Network): Promise<void> {
  if (found.length === 0) return;
  const now = Date.now();
  const encoder = new TextEncoder();
  const peers = found.map((address) => {
    const [transport, peer] = address.split("/p2p/");
    // The book dials the most recently seen first.
    return { peer, addresses: [transport], seen: now - fnv1a(encoder.encode(stateDir + peer)) % 1000 };
  });
  const book = { network: await mdnsServiceTag(network), peers };
  await Deno.writeTextFile(`${stateDir}/${PEERS_FILE}`, JSON.stringify(book) + "\n", { mode: 0o600 });
}
