/**
 * Remembered peers and peer exchange on one host: agents that know only
 * one member end up connected to the others, and after a restart with no
 * configured peers at all they find each other from what they remember.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import type { MeshPeer } from "../lib/mesh/mesh.ts";

async function peersOf(agent: AgentProcess): Promise<MeshPeer[]> {
  return (await agent.request({ op: "peers" })).peers as MeshPeer[];
}

/** Waits until `agent` is connected to every one of `others`; returns its peers then. */
async function waitConnected(agent: AgentProcess, others: AgentProcess[], timeoutMs = 20_000): Promise<MeshPeer[]> {
  return await waitFor(async () => {
    const peers = await peersOf(agent);
    const ids = new Set(peers.map((peer) => peer.peer));
    return others.every((other) => ids.has(other.peerId)) && peers;
  }, { timeoutMs, intervalMs: 200, message: `${agent.peerId} to connect to all others` });
}

Deno.test("agents that know one member connect to the others through peer exchange, then rejoin from memory alone", async () => {
  const agents: AgentProcess[] = [];
  try {
    const first = await startAgent({ config: loopbackConfig() });
    agents.push(first);
    for (let i = 0; i < 3; i++) agents.push(await startAgent({ config: loopbackConfig(first.addresses) }));
    const [, b, c, d] = agents;

    const seenByD = await waitConnected(d, [first, b, c]);
    for (const other of [b, c]) {
      const peer = seenByD.find((p) => p.peer === other.peerId)!;
      // d was told of b and c by first, or they dialed d after being told of it.
      assert.ok(["exchange", "inbound"].includes(peer.origin), `${peer.origin} for a peer d was never configured with`);
      assert.equal(peer.connection, "direct");
    }
    assert.equal(seenByD.find((p) => p.peer === first.peerId)!.origin, "configured");
    const table = await d.cli(["peers"]);
    assert.match(table.stdout, /^PEER +HOST +CONNECTION +FOUND +ADDRESS +RTT/m);
    assert.match(table.stdout, /direct +configured/);

    // Everyone restarts with no bootstrap peers and no mDNS: only what they remember.
    const stateDirs = agents.map((agent) => agent.stateDir);
    const ports = agents.map((agent) => agent.addresses[0].match(/\/tcp\/(\d+)/)![1]);
    for (const agent of agents) await agent.stop();
    agents.length = 0;
    for (const [i, stateDir] of stateDirs.entries()) {
      const config = loopbackConfig([]).replace("/tcp/0", `/tcp/${ports[i]}`);
      agents.push(await startAgent({ config, stateDir, removeStateDir: true }));
    }
    const views = new Map<string, MeshPeer[]>();
    for (const agent of agents) {
      views.set(agent.peerId, await waitConnected(agent, agents.filter((other) => other !== agent), 30_000));
    }
    // Every connection was dialed from memory by one of its two ends.
    const origin = (from: AgentProcess, to: AgentProcess) =>
      views.get(from.peerId)!.find((p) => p.peer === to.peerId)!.origin;
    for (const [i, x] of agents.entries()) {
      for (const y of agents.slice(i + 1)) {
        assert.ok(
          origin(x, y) === "remembered" || origin(y, x) === "remembered",
          `${origin(x, y)} / ${origin(y, x)}: one end dialed the other from memory`,
        );
      }
    }
    const id = await agents[3].send(["-t", "default", "from memory"]);
    for (const agent of agents.slice(0, 3)) await agent.waitForEvents([id]);
  } finally {
    for (const agent of agents) await agent[Symbol.asyncDispose]();
  }
});
