/**
 * Two groups of hosts (network namespaces on two bridges joined by one
 * link) lose each other for 30 s while both sides publish. Once the link is
 * back, every agent has every event exactly once within 10 s.
 */

import assert from "node:assert/strict";
import { type AgentProcess, startAgent } from "./helpers/hark.ts";
import { Lan, netnsAvailable } from "./helpers/netns.ts";
import { ControlClient } from "../lib/control/client.ts";

const available = await netnsAvailable("partition_netns_test");

const PARTITION_MS = 30_000;

/** Each agent publishes one event every `everyMs` until `ms` have passed; returns all ids. */
async function publishFor(agents: AgentProcess[], ms: number, everyMs: number): Promise<string[]> {
  const ids: string[] = [];
  const end = Date.now() + ms;
  await Promise.all(agents.map(async (agent, n) => {
    await using client = await ControlClient.connect(agent.stateDir);
    for (let i = 0; Date.now() < end; i++) {
      const reply = await client.request({ op: "send", event: { body: `agent ${n} event ${i}` } });
      assert.equal(reply.ok, true, String(reply.error));
      ids.push(reply.id as string);
      // Paces the load; nothing waits on this for correctness.
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }));
  return ids;
}

Deno.test({
  name: "after a 30 s partition heals, every agent on both sides has every event exactly once within 10 s",
  ignore: !available,
  async fn() {
    await using lan = await Lan.create(4, 1, 2);
    const addresses = lan.hosts.map((host) => `/ip4/${host.address}/tcp/4001`);
    const agents: AgentProcess[] = [];
    try {
      for (const [i, host] of lan.hosts.entries()) {
        const peers = addresses.filter((_, j) => j !== i);
        const config = `[network]\nlisten = ["/ip4/0.0.0.0/tcp/4001"]\nmdns = true\npeers = ${JSON.stringify(peers)}\n`;
        agents.push(await startAgent({ config, netns: host.name, args: ["--host", `host-${i + 1}`] }));
      }
      for (const agent of agents) {
        await agent.waitForPeers(
          agents.filter((other) => other !== agent).map((other) => other.peerId),
          "default",
          30_000,
        );
      }

      await lan.partition();
      const published = await publishFor(agents, PARTITION_MS, 500);
      await lan.heal();

      const healed = Date.now();
      for (const agent of agents) {
        const left = 10_000 - (Date.now() - healed);
        const events = await agent.waitForEvents(published, Math.max(left, 1));
        const ids = events.map((event) => event.id);
        assert.equal(new Set(ids).size, ids.length, `${agent.peerId} has no event twice`);
      }
    } finally {
      for (const agent of agents) await agent[Symbol.asyncDispose]();
    }
  },
});
