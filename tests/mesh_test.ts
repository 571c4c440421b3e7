/**
 * Three agents as separate processes on loopback, joined through
 * network.peers: events reach every other agent exactly once, `hark peers`
 * lists the others, and a restarted agent keeps its peer id and rejoins.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";

Deno.test("three agents exchange events exactly once and survive a restart", async () => {
  await using a = await startAgent({ config: loopbackConfig() });
  await using b = await startAgent({ config: loopbackConfig(a.addresses) });
  await using c = await startAgent({ config: loopbackConfig([...a.addresses, ...b.addresses]) });
  await a.waitForPeers([b.peerId, c.peerId]);
  await b.waitForPeers([a.peerId, c.peerId]);
  await c.waitForPeers([a.peerId, b.peerId]);

  const first = await a.send(["--title", "Build #812 failed", "-p", "high", "--tag", "ci", "test_login timed out"]);
  const second = await a.send(["-t", "default", "second"]);
  for (const agent of [b, c]) {
    const events = await agent.waitForEvents([first, second]);
    assert.equal(events.filter((event) => event.id === first).length, 1, "delivered exactly once");
    const event = events.find((event) => event.id === first)!;
    assert.equal(event.title, "Build #812 failed");
    assert.equal(event.body, "test_login timed out");
    assert.equal(event.priority, 4);
    assert.deepEqual(event.tags, ["ci"]);
    assert.equal(event.source.peer, a.peerId, "source.peer is the signer");
  }
  // The sender's own sinks see its event too, once.
  const own = await a.waitForEvents([first]);
  assert.equal(own.filter((event) => event.id === first).length, 1);

  const peers = await a.cli(["peers", "--json"]);
  assert.equal(peers.code, 0, peers.stderr);
  const listed = JSON.parse(peers.stdout).map((peer: { peer: string }) => peer.peer).sort();
  assert.deepEqual(listed, [b.peerId, c.peerId].sort());
  const table = await a.cli(["peers"]);
  assert.match(table.stdout, new RegExp(b.peerId));
  assert.match(table.stdout, new RegExp(c.peerId));

  // Restart B on the same state dir: same identity, and it rejoins.
  const oldId = b.peerId;
  const status = await b.stop();
  assert.equal(status.code, 0, b.stderr);
  await waitFor(async () => !(await a.peersOn()).includes(oldId), { message: "A to notice B left" });
  await using b2 = await startAgent({ stateDir: b.stateDir, config: loopbackConfig(a.addresses) });
  assert.equal(b2.peerId, oldId, "peer id is stable across restarts");
  await a.waitForPeers([b2.peerId]);
  const third = await a.send(["after restart"]);
  const events = await b2.waitForEvents([third]);
  assert.equal(events.filter((event) => event.id === third).length, 1);
});

Deno.test("a configured peer that restarts is redialed without restarting anyone", async () => {
  // A fixed port, so the restarted agent is reachable at the address B was given.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const fixed = `[network]\nlisten = ["/ip4/127.0.0.1/tcp/${port}"]\nmdns = false\n`;
  await using a = await startAgent({ config: fixed });
  await using b = await startAgent({ config: loopbackConfig(a.addresses) });
  await b.waitForPeers([a.peerId]);

  assert.equal((await a.stop()).code, 0);
  await waitFor(async () => (await b.peersOn()).length === 0, { message: "B to notice A left" });
  await using a2 = await startAgent({ stateDir: a.stateDir, config: fixed });
  await b.waitForPeers([a2.peerId], "default", 20_000);
  await a2.waitForPeers([b.peerId]);
  const id = await a2.send(["back again"]);
  await b.waitForEvents([id]);
});
