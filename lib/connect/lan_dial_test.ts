import assert from "node:assert/strict";
import { startMesh, type TestMesh } from "../../tests/helpers/mesh.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { LanDial } from "./lan_dial.ts";

Deno.test("LanDial dials what mDNS finds only up to maxPeers connections, and again once below", async () => {
  const meshes: TestMesh[] = [];
  try {
    for (let i = 0; i < 5; i++) meshes.push(await startMesh());
    const [hub, ...lan] = meshes;
    // What mDNS does before reporting a peer: its addresses go into the peer store.
    for (const other of lan) {
      await hub.node.peerStore.merge(other.node.peerId, { multiaddrs: other.node.getMultiaddrs() });
    }
    const dialed: string[] = [];
    const dial = new LanDial(hub.node, { maxPeers: 2, dialTimeoutMs: 5000, onConnected: (peer) => dialed.push(peer) });
    const connectedTo = () => hub.node.getPeers().map(String).sort();

    dial.found(lan[0].node.peerId);
    dial.found(lan[1].node.peerId);
    await waitFor(() => dialed.length === 2, { message: "two dials to connect" });
    dial.found(lan[2].node.peerId);
    dial.found(lan[3].node.peerId);
    dial.found(lan[0].node.peerId);
    assert.deepEqual(connectedTo(), [lan[0], lan[1]].map((mesh) => mesh.peerId).sort());

    await hub.node.hangUp(lan[1].node.peerId);
    await waitFor(() => hub.node.getPeers().length === 1, { message: "the hang-up" });
    dial.found(lan[3].node.peerId);
    await waitFor(() => dialed.includes(lan[3].peerId), { message: "a dial once below maxPeers" });
    // Dials started at maxPeers would have connected before this last one.
    assert.deepEqual(dialed.slice(2), [lan[3].peerId], "dialed only once below maxPeers");
  } finally {
    await Promise.all(meshes.map((mesh) => mesh.stop()));
  }
});
