import assert from "node:assert/strict";
import { plan, SUBNET_SIZE, TOPOLOGIES } from "./topology.ts";

Deno.test("plan() starts every agent once and dials only agents of earlier waves", async (t) => {
  for (const topology of TOPOLOGIES) {
    for (const count of [1, 5, 23, 301]) {
      await t.step(`${topology}, ${count} agents`, () => {
        const started = new Set<number>();
        for (const wave of plan(count, topology)) {
          for (const agent of wave) {
            for (const dial of [...agent.dials, ...agent.found]) assert.ok(started.has(dial), `${agent.index}→${dial}`);
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

Deno.test("plan() keeps mDNS finds inside a subnet, and configures the one bootstrap peer", () => {
  for (const agent of plan(45, "subnets").flat()) {
    const subnet = Math.floor(agent.index / SUBNET_SIZE);
    assert.ok(agent.found.every((found) => Math.floor(found / SUBNET_SIZE) === subnet));
    assert.deepEqual(agent.dials, agent.index === 0 ? [] : [0]);
  }
});

Deno.test("plan() has a LAN's agents find each other rather than configure each other", () => {
  for (const agent of plan(60, "lan").flat()) {
    assert.deepEqual(agent.dials, []);
    assert.equal(agent.found.length, agent.index);
  }
});

Deno.test("plan() gives the relay topology one relay per hundred agents", () => {
  const agents = plan(250, "relay").flat();
  assert.equal(agents.filter((agent) => agent.relay).length, 3);
  assert.ok(agents.filter((agent) => !agent.relay).every((agent) => agent.dials.length === 3));
});

Deno.test("plan() has each agent of a large relay fleet name three relays, spread evenly over them", () => {
  const agents = plan(1000, "relay").flat();
  const relays = agents.filter((agent) => agent.relay);
  assert.equal(relays.length, 10);
  const others = agents.filter((agent) => !agent.relay);
  assert.ok(others.every((agent) => agent.dials.length === 3 && new Set(agent.dials).size === 3));
  assert.ok(others.every((agent) => agent.dials.every((relay) => relay < 10)));
  const named = relays.map((relay) => others.filter((agent) => agent.dials.includes(relay.index)).length);
  assert.ok(Math.max(...named) - Math.min(...named) <= 3, `${named}`);
});
