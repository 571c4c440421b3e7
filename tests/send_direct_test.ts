/**
 * `hark send --direct`: a process with no agent joins the network with a
 * state dir's key, publishes one event to a running agent and leaves; with
 * no reachable peer it fails with a clear error.
 */

import assert from "node:assert/strict";
import { hark, loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { saveNetwork } from "../lib/mesh/network.ts";
import { loadIdentity } from "../lib/mesh/identity.ts";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";

async function directStateDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "hark-direct-" });
  await saveNetwork(dir, TEST_NETWORK);
  return dir;
}

function env(peers: string[]): Record<string, string> {
  return { HARK_PEERS: peers.join(","), HARK_MDNS: "false", XDG_CONFIG_HOME: "/nonexistent-hark-config" };
}

Deno.test("hark send --direct reaches a running agent without a local agent", async () => {
  await using agent = await startAgent({ config: loopbackConfig() });
  const dir = await directStateDir();
  try {
    const result = await hark(
      ["send", "--direct", "--state-dir", dir, "--title", "from CI", "-t", "default", "deployed abc123"],
      { env: env(agent.addresses) },
    );
    assert.equal(result.code, 0, result.stderr);
    const id = result.stdout.trim();
    const [event] = (await agent.waitForEvents([id])).filter((e) => e.id === id);
    assert.equal(event.body, "deployed abc123");
    assert.equal(event.source.peer, peerIdFromPrivateKey(await loadIdentity(dir)).toString());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hark send --direct fails clearly when no peer is reachable, or there is no network", async () => {
  const dir = await directStateDir();
  const bare = await Deno.makeTempDir({ prefix: "hark-direct-" });
  try {
    const unreachable = await hark(["send", "--direct", "--timeout", "2s", "--state-dir", dir, "lost?"], {
      env: env(["/ip4/127.0.0.1/tcp/1"]),
    });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /no peer on "default" reachable within 2 s \(tried \/ip4\/127\.0\.0\.1\/tcp\/1\)/);
    const noNetwork = await hark(["send", "--direct", "--state-dir", bare, "x"], {
      env: env(["/ip4/127.0.0.1/tcp/1"]),
    });
    assert.equal(noNetwork.code, 1);
    assert.match(noNetwork.stderr, /no network in .*: run `hark network join TOKEN/);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(bare, { recursive: true });
  }
});

Deno.test("hark send --direct refuses a state dir an agent is running on", async () => {
  await using agent = await startAgent({ config: loopbackConfig() });
  const result = await hark(["send", "--direct", "--state-dir", agent.stateDir, "x"], { env: env([]) });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /an agent is running on .*; send through it: drop --direct/);
});

Deno.test({
  name: "hark send --direct fails when the only peer does not confirm it holds the event",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A peer on the topic that takes gossip but never answers "do you have it?".
    const { Rogue } = await import("./helpers/rogue.ts");
    await using rogue = await Rogue.start(TEST_NETWORK);
    rogue.node.services.pubsub.subscribe("hark/default");
    const dir = await directStateDir();
    try {
      const address = rogue.node.getMultiaddrs()[0].toString();
      const result = await hark(["send", "--direct", "--state-dir", dir, "unconfirmed"], { env: env([address]) });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /the event was sent to 1 peer\(s\) but none confirmed it; it may be lost/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// Issue #29: 2 sends in 30 failed with "no peer took the event", because the
// publish raced the sender's outbound gossip stream to the agent it had just
// seen subscribe. Fifty in a row, each a fresh process, must all succeed.
Deno.test("hark send --direct succeeds 50 times in a row against a running agent", async () => {
  await using agent = await startAgent({ config: loopbackConfig() });
  const dir = await directStateDir();
  try {
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const result = await hark(["send", "--direct", "--state-dir", dir, `direct ${i}`], { env: env(agent.addresses) });
      assert.equal(result.code, 0, `send ${i + 1} of 50 failed: ${result.stderr}`);
      ids.push(result.stdout.trim());
    }
    await agent.waitForEvents(ids);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "hark send --direct publishes only to a subscriber its own stream reaches",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A subscriber that opens its gossip stream to the sender (and so tells
    // it of its subscription) but accepts none back: the sender sees the
    // subscription with no stream to send on. That is the state the race of
    // issue #29 left for a moment; here it lasts, so the test is exact.
    const { Rogue } = await import("./helpers/rogue.ts");
    await using rogue = await Rogue.start(TEST_NETWORK);
    for (const protocol of rogue.node.services.pubsub.protocols) await rogue.node.unhandle(protocol);
    rogue.node.services.pubsub.subscribe("hark/default");
    const dir = await directStateDir();
    try {
      const address = rogue.node.getMultiaddrs()[0].toString();
      const result = await hark(["send", "--direct", "--timeout", "2s", "--state-dir", dir, "raced"], {
        env: env([address]),
      });
      assert.equal(result.code, 1);
      // Waited for a peer it can send to, instead of publishing to nobody ("no peer took the event").
      assert.match(result.stderr, /no peer on "default" reachable within 2 s/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
