/**
 * The deep-nesting attack from issue #29, on real agents: `data` nested 1,000
 * deep fits in 16 KiB and once broke `hark topics` (SQLite's json_extract)
 * on every agent for the whole retention; a send nested 30,000 deep ended in
 * a stack overflow after spending a rate token. The event model now bounds
 * nesting (DATA_MAX_DEPTH) where an event is made and where one arrives.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { Rogue } from "./helpers/rogue.ts";
import { waitFor } from "./helpers/wait.ts";
import type { MeshCounters } from "../lib/mesh/mesh.ts";

// The rogue runs libp2p inside the test process; libp2p keeps timers of its
// own after stop, which the sanitizers would report (as in security_test.ts).
const inProcessLibp2p = { sanitizeOps: false, sanitizeResources: false };

const nestedJson = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

async function counters(agent: AgentProcess): Promise<MeshCounters> {
  const reply = await agent.request({ op: "status" });
  return (reply.status as { events: MeshCounters }).events;
}

Deno.test({
  name: "an event nested 1,000 deep from a member is refused, and hark topics keeps working",
  ...inProcessLibp2p,
  async fn() {
    await using victim = await startAgent({ config: loopbackConfig() });
    await using rogue = await Rogue.beside(victim);
    const valid = JSON.parse(new TextDecoder().decode(rogue.event({ title: "real", body: "after the deep one" })));
    const deep = { ...valid, id: rogue.nextId(), data: JSON.parse(nestedJson(1000)) };
    const bytes = new TextEncoder().encode(JSON.stringify(deep));
    assert.ok(bytes.length < 16 * 1024, "it fits in the default event size");
    await rogue.publish("default", bytes);
    await rogue.publish("default", new TextEncoder().encode(JSON.stringify(valid)));

    await victim.waitForEvents([valid.id]);
    const seen = await waitFor(async () => {
      const c = await counters(victim);
      return c.malformed >= 1 && c;
    }, { message: "the deep event to be counted as malformed" });
    assert.equal(seen.malformed, 1);
    assert.ok(!(await victim.events()).some((event) => event.id === deep.id), "the deep event reached no sink");
    const topics = await victim.cli(["topics"]);
    assert.equal(topics.code, 0, topics.stderr);
    assert.match(topics.stdout, /^default\s/m);
  },
});

Deno.test("a send nested 30,000 deep is refused with a clear error, before it spends a rate token", async (t) => {
  // Three tokens and almost no refill: the join takes one; a send that spent one per try would soon wait 100 s.
  const network = "publisher_rate = 0.01\npublisher_burst = 3";
  await using agent = await startAgent({ config: loopbackConfig([], "", network) });
  const data = nestedJson(30_000);

  await t.step("hark send --data says what is wrong, without asking the agent", async () => {
    const result = await agent.cli(["send", "--data", data, "deep"]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^hark: data is nested more than 32 levels deep/);
  });

  await t.step("straight to the control socket: refused again and again, and no token is spent", async () => {
    // The control socket's parser refuses the deep one; the agent's publish refuses the oversized body
    // (which the parser passes) before the rate limit too.
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        agent.request({ op: "send", event: { body: "deep", data: JSON.parse(data) } }),
        /data is nested more than 32 levels deep/,
      );
      await assert.rejects(agent.request({ op: "send", event: { body: "x".repeat(5000) } }), /body is 5000 bytes/);
    }
    const id = await agent.send(["still within the burst"]);
    await agent.waitForEvents([id]);
  });
});
