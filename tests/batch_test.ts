/**
 * Batches with real agents: a burst leaves in few gossip messages, arrives
 * once and in order everywhere, and every event of a batch can be served
 * alone as history, signed by its publisher, to an agent that joins later.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { ControlClient } from "../lib/control/client.ts";
import type { HarkEvent } from "../lib/event/event.ts";
import type { MeshCounters } from "../lib/mesh/mesh.ts";

const FAST = "publisher_rate = 100000\npublisher_burst = 100000";
const COUNT = 400;

/** Publishes `count` events pipelined on one control connection; returns their ids in publish order. */
async function burst(agent: AgentProcess, count: number): Promise<string[]> {
  await using client = await ControlClient.connect(agent.stateDir);
  for (let i = 0; i < count; i++) await client.send({ op: "send", event: { body: `burst ${i}` } });
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await client.next();
    assert.equal(reply.ok, true, String(reply.error));
    ids.push(reply.id as string);
  }
  return ids;
}

async function counters(agent: AgentProcess): Promise<MeshCounters> {
  const reply = await agent.request({ op: "status" });
  return (reply.status as { events: MeshCounters }).events;
}

function ids(events: HarkEvent[]): string[] {
  return events.map((event) => event.id);
}

Deno.test("a burst leaves in batches, arrives once and in order, and is served again as history", async (t) => {
  await using a = await startAgent({ config: loopbackConfig([], "", FAST) });
  await using b = await startAgent({ config: loopbackConfig(a.addresses, "", FAST) });
  await using c = await startAgent({ config: loopbackConfig([...a.addresses, ...b.addresses], "", FAST) });
  await Promise.all([b.waitForPeers([a.peerId, c.peerId]), c.waitForPeers([a.peerId, b.peerId])]);
  const sent = await burst(a, COUNT);

  await t.step("every receiver has each event once, in publish order", async () => {
    for (const receiver of [b, c]) {
      const events = await receiver.waitForEvents(sent);
      assert.deepEqual(ids(events), sent);
    }
  });

  await t.step("in fewer gossip messages than events", async () => {
    const { published, published_messages } = await counters(a);
    assert.equal(published, COUNT);
    assert.ok(published_messages < COUNT / 4, `${published_messages} messages for ${COUNT} events`);
  });

  await t.step("an agent that joins later gets them all from receivers, each checked as its publisher's", async () => {
    // The publisher is gone: every event comes from b's or c's store, as
    // the batch brought it, with the publisher's signature over it alone.
    await a.stop();
    await using d = await startAgent({ config: loopbackConfig(b.addresses, "", FAST) });
    const events = await d.waitForEvents(sent, 30_000);
    assert.deepEqual(ids(events).sort(), [...sent].sort());
    assert.equal(events.length, COUNT);
    assert.ok(events.every((event) => event.source.peer === a.peerId));
    const { rejected } = await counters(d);
    assert.equal(rejected, 0);
  });
});
