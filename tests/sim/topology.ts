/**
 * How a simulated fleet joins, as plans of who dials whom when it starts.
 * Each agent is given the addresses a real one would have at that moment:
 * what mDNS hears on its segment (`found`, dialed as mDNS finds are: only
 * while the agent is below its low watermark of connections), its
 * configured bootstrap peers (`dials`, always kept); peer exchange
 * (lib/connect/peer_exchange.ts) does the rest at run time.
 */

export type Topology = "lan" | "subnets" | "relay";
export const TOPOLOGIES: readonly Topology[] = ["lan", "subnets", "relay"];

/** Agents on one simulated subnet: mDNS reaches these and no further. */
export const SUBNET_SIZE = 10;
/** One relay per this many agents, at least one. */
export const AGENTS_PER_RELAY = 100;
/** Relays each agent names in `network.peers`: a deployment names a few, not every one it runs. */
export const RELAYS_PER_AGENT = 3;

export interface AgentPlan {
  index: number;
  /** Started with `network.relay = true`. */
  relay: boolean;
  /** Agents of earlier waves this one names in `network.peers`: dialed on start and kept. */
  dials: number[];
  /** Agents of earlier waves this one hears on its segment: dialed while it has room, as mDNS finds are. */
  found: number[];
}

/**
 * Waves of agents to start together: every agent dials only agents of
 * earlier waves, whose addresses exist by then.
 */
export function plan(count: number, topology: Topology): AgentPlan[][] {
  if (count < 1) throw new RangeError(`a fleet needs at least one agent, not ${count}`);
  if (topology === "lan") return lanPlan(count);
  if (topology === "subnets") return subnetPlan(count);
  return relayPlan(count);
}

/** One segment: every agent hears every agent before it, and dials them while it has room. */
function lanPlan(count: number): AgentPlan[][] {
  return Array.from({ length: count }, (_, index) => [{
    index,
    relay: false,
    dials: [],
    found: Array.from({ length: index }, (_, earlier) => earlier),
  }]);
}

/**
 * Subnets of SUBNET_SIZE: full mDNS reach inside each, and every agent's
 * config names agent 0 as its bootstrap peer, the way a team names one
 * server. Wave w starts the w-th agent of every subnet.
 */
function subnetPlan(count: number): AgentPlan[][] {
  const waves: AgentPlan[][] = [];
  const subnets = Math.ceil(count / SUBNET_SIZE);
  for (let member = 0; member < SUBNET_SIZE; member++) {
    const wave: AgentPlan[] = [];
    for (let subnet = 0; subnet < subnets; subnet++) {
      const index = subnet * SUBNET_SIZE + member;
      if (index >= count || index === 0) continue;
      const neighbours = Array.from({ length: member }, (_, earlier) => subnet * SUBNET_SIZE + earlier);
      wave.push({ index, relay: false, dials: [0], found: neighbours.filter((neighbour) => neighbour !== 0) });
    }
    if (member === 0) waves.push([{ index: 0, relay: false, dials: [], found: [] }]);
    if (wave.length > 0) waves.push(wave);
  }
  return waves;
}

/**
 * No mDNS: relays first, each dialing the ones before it; every other agent
 * dials RELAYS_PER_AGENT of them, consecutive from one of its own (agent i
 * starting at relay i mod relays), so each relay serves about as many.
 */
function relayPlan(count: number): AgentPlan[][] {
  const relays = Math.min(count, Math.max(1, Math.ceil(count / AGENTS_PER_RELAY)));
  const waves: AgentPlan[][] = Array.from({ length: relays }, (_, index) => [{
    index,
    relay: true,
    dials: Array.from({ length: index }, (_, earlier) => earlier),
    found: [],
  }]);
  const named = Math.min(relays, RELAYS_PER_AGENT);
  const rest: AgentPlan[] = [];
  for (let index = relays; index < count; index++) {
    const dials = Array.from({ length: named }, (_, k) => (index + k) % relays);
    rest.push({ index, relay: false, dials, found: [] });
  }
  if (rest.length > 0) waves.push(rest);
  return waves;
}
