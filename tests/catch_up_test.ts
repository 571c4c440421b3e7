/**
 * Catch-up with real agents: an agent that was stopped, killed or is new to
 * the network gets what was published without it from its peers' history,
 * each event once, in publish order per publisher.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { ControlClient } from "../lib/control/client.ts";
import { Rogue } from "./helpers/rogue.ts";
import type { HarkEvent } from "../lib/event/event.ts";

const FAST = "publisher_rate = 100000\npublisher_burst = 100000";
// The rogue runs libp2p inside the test process; see security_test.ts.
const inProcessLibp2p = { sanitizeOps: false, sanitizeResources: false };

/** Publishes `count` events through one control connection, 32 at a time; returns their ids. */
async function publish(agent: AgentProcess, count: number, topic = "default"): Promise<string[]> {
  await using client = await ControlClient.connect(agent.stateDir);
  const ids: string[] = [];
  let inFlight = 0;
  for (let i = 0; i < count || inFlight > 0;) {
    if (inFlight < 32 && i < count) {
      await client.send({ op: "send", event: { topic, body: `event ${i++}` } });
      inFlight++;
      continue;
    }
    const reply = await client.next();
    assert.equal(reply.ok, true, String(reply.error));
    ids.push(reply.id as string);
    inFlight--;
  }
  return ids;
}

async function history(agent: AgentProcess): Promise<HarkEvent[]> {
  const result = await agent.cli(["history", "--json", "--limit", "100000"]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

async function caughtUp(agent: AgentProcess): Promise<number> {
  const reply = await agent.request({ op: "status" });
  return (reply.status as { history: { caught_up: number } }).history.caught_up;
}

function idsOf(events: HarkEvent[], publisher: string): string[] {
  return events.filter((event) => event.source.peer === publisher).map((event) => event.id);
}

Deno.test("an agent stopped and killed while 500 events were published gets each once, in order, after a restart", async () => {
  await using a = await startAgent({ config: loopbackConfig([], "", FAST) });
  await using b = await startAgent({ config: loopbackConfig(a.addresses, "", FAST) });
  await using c = await startAgent({ config: loopbackConfig([...a.addresses, ...b.addresses], "", FAST) });
  await a.waitForPeers([b.peerId, c.peerId]);
  const before = await a.send(["before"]);
  await c.waitForEvents([before]);

  // Frozen: its connections stay open but it reads nothing; then it dies.
  c.child.kill("SIGSTOP");
  const published = await publish(a, 500);
  await b.waitForEvents(published);
  c.child.kill("SIGKILL");
  await c.exited;

  await using restarted = await startAgent({
    stateDir: c.stateDir,
    config: loopbackConfig([...a.addresses, ...b.addresses], "", FAST),
  });
  const events = await restarted.waitForEvents(published, 10_000);
  const fromA = idsOf(events, a.peerId);
  assert.equal(new Set(fromA).size, fromA.length, "no event twice");
  // A's ids grow with each event it publishes: sorted is publish order.
  assert.deepEqual(fromA, [before, ...published].toSorted(), "every event, in publish order");
  // Gossip may still hand over the last few seconds' events; the rest can only come from history.
  assert.ok(await caughtUp(restarted) > 0, "events came from history");
  const status = await restarted.cli(["status"]);
  assert.match(
    status.stdout,
    /^history: +[1-9]\d* caught up from peers in \d+ sessions \(0 failed, 0 events refused\)$/m,
  );
});

Deno.test("a new agent keeps older history in its store and passes only recent events to its sinks", {
  ...inProcessLibp2p,
}, async () => {
  await using a = await startAgent({ config: loopbackConfig() });
  // Old events, published an hour ago by another agent (its clock says so).
  const hourAgo = Date.now() - 3_600_000;
  const old: string[] = [];
  {
    await using rogue = await Rogue.beside(a);
    for (let i = 0; i < 3; i++) {
      const bytes = rogue.event({ body: `old ${i}`, now: hourAgo + i });
      old.push(JSON.parse(new TextDecoder().decode(bytes)).id);
      await rogue.publish("default", bytes);
    }
    await a.waitForEvents(old);
  }
  const recent = [await a.send(["recent 1"]), await a.send(["recent 2"])];

  await using newcomer = await startAgent({ config: loopbackConfig(a.addresses) });
  await newcomer.waitForEvents(recent);
  const stored = (await history(newcomer)).map((event) => event.id);
  assert.deepEqual(stored.toSorted(), [...old, ...recent].toSorted(), "the store holds all history");
  const inFile = (await newcomer.events()).map((event) => event.id);
  assert.deepEqual(inFile.toSorted(), recent.toSorted(), "the file sink got only what its max_age allows");
  assert.doesNotMatch(newcomer.stdout, /old \d/, "nor did stdout print old history");
  assert.equal(await caughtUp(newcomer), 5);
});

Deno.test("events from publishers whose clocks are 5 minutes behind or ahead reach an agent that catches up", {
  ...inProcessLibp2p,
}, async () => {
  await using a = await startAgent({ config: loopbackConfig() });
  await using c = await startAgent({ config: loopbackConfig(a.addresses) });
  await a.waitForPeers([c.peerId]);
  const first = await a.send(["first"]);
  await c.waitForEvents([first]);
  assert.equal((await c.stop("SIGKILL")).signal, "SIGKILL");

  const skewed: string[] = [];
  {
    await using rogue = await Rogue.beside(a);
    for (const offset of [-300_000, 300_000, -299_000, 301_000]) {
      const bytes = rogue.event({ body: `skewed ${offset}`, now: Date.now() + offset });
      skewed.push(JSON.parse(new TextDecoder().decode(bytes)).id);
      await rogue.publish("default", bytes);
    }
    await a.waitForEvents(skewed);
  }
  const onTime = await a.send(["on time"]);

  await using restarted = await startAgent({ stateDir: c.stateDir, config: loopbackConfig(a.addresses) });
  const events = await restarted.waitForEvents([...skewed, onTime], 10_000);
  const ids = events.map((event) => event.id);
  assert.equal(new Set(ids).size, ids.length, "no event twice");
});
