import assert from "node:assert/strict";
import type { Graph } from "./graph.ts";
import { relayReach } from "./relay_reach.ts";

function graphOf(edges: [number, number][], count: number): Graph {
  const graph: Graph = new Map(Array.from({ length: count }, (_, index) => [index, new Set<number>()]));
  for (const [from, to] of edges) graph.get(from)!.add(to);
  return graph;
}

Deno.test("relayReach counts the agents that hold a connection to a relay, whichever side reported it", () => {
  // 150 agents: relays 0 and 1. Agent 2 reports relay 0, relay 1 reports agent 3, agent 4 has a peer but no relay.
  const graph = graphOf([[2, 0], [1, 3], [4, 5]], 150);
  assert.deepEqual(relayReach(graph, 150, "relay"), { connected: 2, agents: 148, relayPeers: [0, 1] });
});

Deno.test("relayReach has nothing to say where the topology has no relays", () => {
  assert.equal(relayReach(graphOf([[1, 0]], 10), 10, "lan"), undefined);
});
