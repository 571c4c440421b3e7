/**
 * The connection trimmer on real libp2p nodes on loopback: a hub with a low
 * `max_connections` that more peers dial than it may hold.
 */

import assert from "node:assert/strict";
import type { Libp2p } from "@libp2p/interface";
import { startMesh, type TestMesh } from "../../tests/helpers/mesh.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { ConnectionTrimmer, lowWatermark } from "./connection_trimmer.ts";

const connectedTo = (node: Libp2p) => new Set(node.getPeers().map(String));

/** Fails if `check` turns false before `ms` have passed: how a test shows that nothing happens. */
async function holds(check: () => boolean, ms: number, message: string): Promise<void> {
  const until = Date.now() + ms;
  let broken = false;
  await waitFor(() => (broken = !check()) || Date.now() >= until, { timeoutMs: ms + 5000, intervalMs: 50, message });
  if (broken) throw new Error(message);
}

/** Leaves that follow no topic, so the hub's gossipsub mesh spares none of them. */
async function quietLeaves(count: number, meshes: TestMesh[]): Promise<TestMesh[]> {
  const leaves: TestMesh[] = [];
  for (let i = 0; i < count; i++) {
    const leaf = await startMesh();
    leaf.unfollow("default");
    meshes.push(leaf);
    leaves.push(leaf);
  }
  return leaves;
}

Deno.test("lowWatermark() is three quarters of the high one, and none without one", () => {
  assert.equal(lowWatermark(64), 48);
  assert.equal(lowWatermark(10), 7);
  assert.equal(lowWatermark(Infinity), Infinity);
});

Deno.test("ConnectionTrimmer closes the newest peers past the high watermark, keeps configured ones, and neither side redials", async () => {
  const meshes: TestMesh[] = [];
  try {
    const [configured] = await quietLeaves(1, meshes);
    const hub = await startMesh({ peers: [configured.listenAddresses()[0]], maxConnections: 8 });
    meshes.push(hub);
    hub.unfollow("default");
    await waitFor(() => hub.isConnected(configured.peerId), { message: "the hub to reach its configured peer" });
    const leaves = await quietLeaves(8, meshes);
    // One at a time, so their connections' ages are in this order.
    for (const leaf of leaves) {
      await leaf.node.dial(hub.node.getMultiaddrs()[0]);
    }
    // 9 peers > 8: the newest goes, leaving the configured peer and the seven oldest leaves.
    await waitFor(() => hub.connections!.trimmed === 1, { timeoutMs: 15_000, message: "the hub to trim 1 peer" });
    const kept = [configured, ...leaves.slice(0, 7)].map((mesh) => mesh.peerId).sort();
    await waitFor(() => hub.node.getPeers().length === 8, { message: "the hub to hang up" });
    assert.deepEqual([...connectedTo(hub.node)].sort(), kept);
    const trimmed = leaves.slice(7);
    // Each was told before the hang-up, and counts the hub as parted with.
    for (const leaf of trimmed) assert.equal(leaf.connections!.released, 1, `${leaf.peerId} got a farewell`);
    // The leaves remember the hub (identify) and the hub remembers them; a
    // redial of a remembered peer would come within 1 s. None does.
    const connects = hub.connections!.connects;
    await holds(
      () => hub.connections!.connects === connects && trimmed.every((leaf) => !hub.isConnected(leaf.peerId)),
      3000,
      "a trimmed leaf or the hub redialed",
    );
  } finally {
    await Promise.all(meshes.map((mesh) => mesh.stop()));
  }
});

Deno.test("ConnectionTrimmer never closes a peer in the gossipsub mesh", async () => {
  const meshes: TestMesh[] = [];
  let trimmer: ConnectionTrimmer | undefined;
  try {
    const hub = await startMesh();
    meshes.push(hub);
    const leaves: TestMesh[] = [];
    for (let i = 0; i < 10; i++) {
      const leaf = await startMesh({ peers: [hub.listenAddresses()[0]] });
      meshes.push(leaf);
      leaves.push(leaf);
    }
    const pubsub = hub.node.services.pubsub as unknown as { getMeshPeers(topic: string): string[] };
    const meshPeers = () => pubsub.getMeshPeers("hark/default");
    await waitFor(() => hub.node.getPeers().length === 10 && meshPeers().length >= 3, {
      timeoutMs: 15_000,
      message: "the hub's mesh to form",
    });
    const before = meshPeers();
    let seen: string[] = [];
    // The hub's own trimmer has no limit; this one, started late, trims what is there at once.
    trimmer = new ConnectionTrimmer(hub.node, {
      high: 8,
      meshPeers: () => (seen = meshPeers()),
      kept: () => false,
      settleMs: 10,
    });
    trimmer.start();
    await waitFor(() => trimmer!.stats.trimmed > 0, { message: "a trim" });
    const left = connectedTo(hub.node);
    for (const peer of seen) assert.ok(left.has(peer), `mesh peer ${peer} kept`);
    for (const peer of before) assert.ok(left.has(peer) || !seen.includes(peer), `mesh peer ${peer} kept`);
    assert.equal(trimmer.stats.trimmed, 10 - Math.max(8, seen.length));
  } finally {
    trimmer?.stop();
    await Promise.all(meshes.map((mesh) => mesh.stop()));
  }
});

/** A node that only has peers come and go: enough for the trimmer's dial policy. */
class PeersOnly extends EventTarget {
  #peers = new Set<string>();
  constructor(count: number) {
    super();
    for (let i = 0; i < count; i++) this.#peers.add(`peer-${i}`);
  }
  getPeers(): string[] {
    return [...this.#peers];
  }
  disconnect(peer: string): void {
    this.#peers.delete(peer);
    this.dispatchEvent(new CustomEvent("peer:disconnect", { detail: peer }));
  }
}

function trimmerOf(node: PeersOnly, init: { high: number; now?: () => number }): ConnectionTrimmer {
  const trimmer = new ConnectionTrimmer(node as unknown as Libp2p, {
    ...init,
    meshPeers: () => [],
    kept: () => false,
    partedForMs: 600_000,
  });
  trimmer.start();
  return trimmer;
}

Deno.test("ConnectionTrimmer: a farewell lowers where dialers stop to the peers left, which grows back one peer per parting", () => {
  let now = 0;
  const node = new PeersOnly(30);
  const trimmer = trimmerOf(node, { high: 64, now: () => now });
  try {
    assert.equal(trimmer.room(), 18);
    // A full peer lets this agent go: 29 left once it hangs up, and no more dials toward 48.
    trimmer.releasedBy("peer-0");
    assert.equal(trimmer.stats.target, 29);
    node.disconnect("peer-0");
    assert.equal(trimmer.room(), 0);
    assert.equal(trimmer.mayDial("other"), false);
    // Two more say farewell before either hangs up: 27 will be left.
    trimmer.releasedBy("peer-1");
    trimmer.releasedBy("peer-2");
    assert.equal(trimmer.stats.target, 27);
    node.disconnect("peer-1");
    node.disconnect("peer-2");
    assert.equal(trimmer.room(), 0);
    // Peers lost otherwise are replaced, up to what the network let it keep.
    for (const peer of ["peer-3", "peer-4"]) node.disconnect(peer);
    assert.equal(trimmer.room(), 2);
    // One more peer for each parting without a farewell, and `low` once reached.
    now += 600_000;
    assert.equal(trimmer.stats.target, 28);
    now += 20 * 600_000;
    assert.equal(trimmer.stats.target, 48);
    now += 600_000;
    assert.equal(trimmer.stats.target, 48);
  } finally {
    trimmer.stop();
  }
});

Deno.test("ConnectionTrimmer: a farewell never lowers the dial target below a well-connected agent's peers, nor sets one where there is no limit", () => {
  const node = new PeersOnly(3);
  const trimmer = trimmerOf(node, { high: 64 });
  const small = trimmerOf(new PeersOnly(3), { high: 8 });
  const unlimited = trimmerOf(new PeersOnly(3), { high: Infinity });
  try {
    trimmer.releasedBy("peer-0");
    // Still dials the peers the farewell named, up to 8: it is not stranded.
    assert.equal(trimmer.stats.target, 8);
    node.disconnect("peer-0");
    assert.equal(trimmer.room(), 6);
    // With a limit below that, the low watermark is the floor.
    small.releasedBy("peer-0");
    assert.equal(small.stats.target, 6);
    // With no limit (a relay), nothing to lower.
    unlimited.releasedBy("peer-0");
    assert.equal(unlimited.room(), Infinity);
  } finally {
    trimmer.stop();
    small.stop();
    unlimited.stop();
  }
});
