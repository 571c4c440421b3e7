/**
 * 1,000 events from 10 concurrent `hark send` processes reach every other
 * agent exactly once.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";

const SENDERS = 10;
const EVENTS_PER_SENDER = 100;

Deno.test("1,000 events from 10 concurrent hark send processes arrive exactly once", async () => {
  // Above the default publisher rate (20/s), which this test is not about.
  const fast = "publisher_rate = 1000\npublisher_burst = 1000";
  await using a = await startAgent({ config: loopbackConfig([], "", fast) });
  await using b = await startAgent({ config: loopbackConfig(a.addresses, "", fast) });
  await using c = await startAgent({ config: loopbackConfig([...a.addresses, ...b.addresses], "", fast) });
  await a.waitForPeers([b.peerId, c.peerId]);
  await b.waitForPeers([a.peerId, c.peerId]);
  await c.waitForPeers([a.peerId, b.peerId]);

  const ids = (await Promise.all(
    Array.from({ length: SENDERS }, async (_, sender) => {
      const sent: string[] = [];
      for (let i = 0; i < EVENTS_PER_SENDER; i++) sent.push(await a.send(["--title", `s${sender}`, `event ${i}`]));
      return sent;
    }),
  )).flat();
  assert.equal(new Set(ids).size, SENDERS * EVENTS_PER_SENDER, "every send got its own id");

  for (const agent of [b, c]) {
    const events = await agent.waitForEvents(ids, 60_000);
    const counts = new Map<string, number>();
    for (const event of events) counts.set(event.id, (counts.get(event.id) ?? 0) + 1);
    assert.equal(events.length, ids.length, "nothing extra arrived");
    assert.ok([...counts.values()].every((count) => count === 1), "no event arrived twice");
  }
});
