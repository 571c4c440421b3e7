/**
 * The fleet's connection graph as the agents report it (`hark peers`), and
 * distances in it. Gossipsub messages carry no hop count, so the hops an
 * event took are bounded by its receivers' distance from the publisher.
 */

import { requestAgent } from "../../lib/control/client.ts";
import type { Fleet } from "./fleet.ts";

/** Agent index → indices of the agents it is connected to. */
export type Graph = Map<number, Set<number>>;

export async function connectionGraph(fleet: Fleet): Promise<Graph> {
  const byPeer = new Map(fleet.agents.map((agent) => [agent.peerId, agent.index]));
  const graph: Graph = new Map();
  await Promise.all(fleet.agents.map(async (agent) => {
    const reply = await requestAgent(agent.stateDir, { op: "peers" });
    const peers = (reply.peers as { peer: string }[]).map(({ peer }) => byPeer.get(peer))
      .filter((index): index is number => index !== undefined);
    graph.set(agent.index, new Set(peers));
  }));
  return graph;
}

/** Hops from `from` to every agent it reaches. */
export function distances(graph: Graph, from: number): Map<number, number> {
  const seen = new Map([[from, 0]]);
  let frontier = [from];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const node of frontier) {
      for (const peer of graph.get(node) ?? []) {
        if (seen.has(peer)) continue;
        seen.set(peer, seen.get(node)! + 1);
        next.push(peer);
      }
    }
    frontier = next;
  }
  return seen;
}
