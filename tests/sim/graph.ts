/**
 * The fleet's connection graph as the agents report it (`hark peers`), and
 * distances in it. Gossipsub messages carry no hop count, so the hops an
 * event took are bounded by its receivers' distance from the publisher.
 */

import { requestAgent } from "../../lib/control/client.ts";
import type { Fleet } from "./fleet.ts";

/** Agent index → indices of the agents it is connected to. */
export type Graph = Map<number, Set<number>>;

/** Each agent's connected peers, by peer id, as its `hark peers` lists them. */
export async function peerLists(fleet: Fleet): Promise<{ index: number; peers: string[] }[]> {
  return await Promise.all(fleet.agents.map(async (agent) => {
    const reply = await requestAgent(agent.stateDir, { op: "peers" });
    return { index: agent.index, peers: (reply.peers as { peer: string }[]).map(({ peer }) => peer) };
  }));
}

/** The graph of `lists` gathered from every process; `byPeer` maps a peer id to its agent's index. */
export function connectionGraph(lists: { index: number; peers: string[] }[], byPeer: Map<string, number>): Graph {
  const graph: Graph = new Map();
  for (const { index, peers } of lists) {
    graph.set(
      index,
      new Set(peers.map((peer) => byPeer.get(peer)).filter((peer): peer is number => peer !== undefined)),
    );
  }
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
