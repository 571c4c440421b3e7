import assert from "node:assert/strict";
import { plan, SUBNET_SIZE, TOPOLOGIES } from "./topology.ts";

Deno.test("plan() starts every agent once and dials only agents of earlier waves", async (t) => {
  for (const topology of TOPOLOGIES) {
    for (const count of [1, 5, 23, 301]) {
      await t.step(`${topology}, ${count} agents`, () => {
        const started = new Set<number>();
        for (const wave of plan(count, topology)) {
          for (const agent of wave) {
            for (const dial of agent.dials) assert.ok(started.has(dial), `${agent.index}→${dial}`);
          }
          for (const agent of wave) {
            assert.ok(!started.has(agent.index));
            started.add(agent.index);
          }
        }
        assert.equal(started.size, count);
      });
    }
  }
});

Deno.test("plan() keeps mDNS dials inside a subnet, plus the one bootstrap peer", () => {
  for (const agent of plan(45, "subnets").flat()) {
    const subnet = Math.floor(agent.index / SUBNET_SIZE);
    assert.ok(agent.dials.every((dial) => dial === 0 || Math.floor(dial / SUBNET_SIZE) === subnet));
    if (agent.index !== 0) assert.ok(agent.dials.includes(0));
  }
});

Deno.test("plan() gives the relay topology one relay per hundred agents", () => {
  const agents = plan(250, "relay").flat();
  assert.equal(agents.filter((agent) => agent.relay).length, 3);
  assert.ok(agents.filter((agent) => !agent.relay).every((agent) => agent.dials.length === 3));
});
