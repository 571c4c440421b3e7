/**
 * How many of a relay fleet's other agents hold a connection to a relay:
 * in the `relay` topology that connection is an agent's only way in, so an
 * agent without one is cut off however well the rest of the mesh does.
 */

import type { Graph } from "./graph.ts";
import { plan, type Topology } from "./topology.ts";

export interface RelayReach {
  /** Non-relay agents connected to at least one relay. */
  connected: number;
  /** Non-relay agents. */
  agents: number;
  /** Connections each relay holds, by relay index. */
  relayPeers: number[];
}

/** Undefined for topologies without relays. */
export function relayReach(graph: Graph, count: number, topology: Topology): RelayReach | undefined {
  const relays = plan(count, topology).flat().filter((agent) => agent.relay).map((agent) => agent.index);
  if (relays.length === 0) return undefined;
  const isRelay = new Set(relays);
  let connected = 0;
  let agents = 0;
  for (const [index, peers] of graph) {
    if (isRelay.has(index)) continue;
    agents++;
    if (relays.some((relay) => peers.has(relay) || graph.get(relay)?.has(index))) connected++;
  }
  return { connected, agents, relayPeers: relays.map((relay) => graph.get(relay)?.size ?? 0) };
}
