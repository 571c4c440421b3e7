/**
 * `network.max_connections` with real agent processes: more agents dial one
 * agent than it may hold. It settles within its limit, events still reach
 * every agent (through the others), and nobody redials what was let go.
 *
 * The agents reach the hub as remembered peers (its address in their peer
 * book, as after an earlier run): a peer named in `network.peers` is kept by
 * design, and would come back and be kept.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { PeerBook } from "../lib/connect/peer_book.ts";
import { mdnsServiceTag, saveNetwork } from "../lib/mesh/network.ts";
import type { MeshConnectionStats } from "../lib/mesh/mesh.ts";

const LEAVES = 12;
const MAX = 10;

/** `hark status --json`'s `connections`, as the agent reports them. */
type Connections = MeshConnectionStats;

async function connections(agent: AgentProcess): Promise<Connections> {
  const reply = await agent.request({ op: "status" });
  return (reply.status as { connections: Connections }).connections;
}

/** A state dir whose peer book remembers `hub`, as if this agent had met it before. */
async function rememberingStateDir(hub: AgentProcess): Promise<string> {
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  await saveNetwork(stateDir, TEST_NETWORK);
  const book = await PeerBook.load(stateDir, await mdnsServiceTag(TEST_NETWORK));
  book.remember(hub.peerId, hub.addresses.map((address) => address.replace(/\/p2p\/[^/]+$/, "")));
  await book.close();
  return stateDir;
}

/** Resolves with `read()`'s value once it has not changed for `quietMs`; fails after `timeoutMs`. */
async function settled<T>(read: () => Promise<T>, quietMs: number, timeoutMs: number, message: string): Promise<T> {
  let last = JSON.stringify(await read());
  let since = Date.now();
  return await waitFor(async () => {
    const value = await read();
    const text = JSON.stringify(value);
    if (text !== last) [last, since] = [text, Date.now()];
    return Date.now() - since >= quietMs && value;
  }, { timeoutMs, intervalMs: 250, message });
}

Deno.test({
  name:
    "an agent that more peers dial than network.max_connections allows settles within it, without churn, and events reach every agent",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using hub = await startAgent({ config: loopbackConfig([], "", `max_connections = ${MAX}`) });
    const leaves: AgentProcess[] = [];
    try {
      const stateDirs = await Promise.all(Array.from({ length: LEAVES }, () => rememberingStateDir(hub)));
      leaves.push(
        ...await Promise.all(
          stateDirs.map((stateDir) => startAgent({ stateDir, removeStateDir: true, config: loopbackConfig([]) })),
        ),
      );
      // Every leaf dialed the hub; past 10 it closed the excess, sparing its gossipsub mesh peers.
      const hubView = () => connections(hub).then(({ connects, trimmed, peers }) => ({ connects, trimmed, peers }));
      const calm = await settled(hubView, 5000, 90_000, `the hub's connections to settle\n${hub.stderr}`);
      assert.ok(calm.trimmed > 0, `the hub let peers go: ${JSON.stringify(calm)}`);
      assert.ok(calm.peers <= MAX, `the hub holds ${calm.peers} peers, at most ${MAX}`);
      // Once each: neither a trimmed leaf nor the hub (its keeper, peer exchange, catch-up) dialed again.
      assert.equal(calm.connects, LEAVES, `peers connected to the hub ${calm.connects} times\n${hub.stderr}`);
      const told = (await Promise.all(leaves.map(connections))).filter((c) => c.released > 0);
      assert.equal(told.length, calm.trimmed, "each peer let go was told so");
      // And learned that peers around are full: it dials no further than the peers it was left with (at least 8),
      // not on to the low watermark. Others may have dialed it since.
      for (const leaf of told) {
        assert.ok(leaf.target! < leaf.low! && leaf.target! <= Math.max(8, leaf.peers), JSON.stringify(leaf));
      }
      // Each one let go is a connection closed; none was dropped for want of a ping answer.
      const { closed, unanswered } = await connections(hub);
      assert.ok(closed >= calm.trimmed, `the hub counted ${closed} closes for ${calm.trimmed} trimmed`);
      assert.equal(unanswered, 0);

      // Delivery through the others: from a leaf the hub let go, and from the hub.
      const released = [];
      for (const leaf of leaves) if ((await connections(leaf)).released > 0) released.push(leaf);
      const fromLeaf = await released[0].send(["--topic", "default", "from a leaf let go"]);
      const fromHub = await hub.send(["--topic", "default", "from the hub"]);
      await Promise.all([hub, ...leaves].map((agent) => agent.waitForEvents([fromLeaf, fromHub], 30_000)));

      // No churn: the hub's connects and trims stay where they settled.
      const after = await settled(hubView, 5000, 30_000, "the hub to stay settled");
      assert.deepEqual({ connects: after.connects, trimmed: after.trimmed }, {
        connects: calm.connects,
        trimmed: calm.trimmed,
      });
      assert.ok(after.peers <= MAX);
    } finally {
      await Promise.all(leaves.map((leaf) => leaf[Symbol.asyncDispose]()));
    }
  },
});
