/**
 * A publisher at full speed and its receivers agree on the rate limit: the
 * publisher's own throttle keeps it within what receivers accept, however
 * its events are delayed or batched on the way, so none is rejected and
 * none has to wait for catch-up (issue #29).
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import type { MeshCounters } from "../lib/mesh/mesh.ts";

const EVENTS = 1_200;
/** Sends in flight at once: far more than the limit lets out, so the sender is always at it. */
const CONCURRENT = 40;
/** 200/s with bursts of 10: the sender spends most of the test at its limit, and the test takes seconds. */
const LIMIT = "publisher_rate = 200\npublisher_burst = 10";

async function counters(agent: AgentProcess): Promise<MeshCounters> {
  const reply = await agent.request({ op: "status" });
  return (reply.status as { events: MeshCounters }).events;
}

Deno.test("a publisher sending 1,200 events at its own limit has none rejected by its receiver", async () => {
  await using receiver = await startAgent({ config: loopbackConfig([], "", LIMIT) });
  await using sender = await startAgent({ config: loopbackConfig(receiver.addresses, "", LIMIT) });
  await sender.waitForPeers([receiver.peerId]);
  await receiver.waitForPeers([sender.peerId]);

  const ids: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENT }, async () => {
    while (next < EVENTS) {
      const n = next++;
      const reply = await sender.request({ op: "send", event: { body: `full speed ${n}` } });
      assert.equal(reply.ok, true, `send ${n}: ${JSON.stringify(reply)}`);
      ids.push(reply.id as string);
    }
  }));
  assert.equal(ids.length, EVENTS);

  await receiver.waitForEvents(ids, 60_000);
  const seen = await counters(receiver);
  assert.equal(seen.throttled, 0, "no event of the sender was over the receiver's limit");
  assert.equal(seen.rejected, 0);
});
