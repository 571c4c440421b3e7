/**
 * `/hark/reach/1.0.0` on loopback: a peer dials the asker back on the ports
 * it names, at the address it sees it connect from, and says whether that
 * worked.
 */

import assert from "node:assert/strict";
import { multiaddr } from "../mesh/libp2p.ts";
import type { Connection } from "@libp2p/interface";
import { startMesh, type TestMesh } from "../../tests/helpers/mesh.ts";
import { askReach, dialBackAddresses, listeningPorts } from "./reach.ts";
import { waitFor } from "../../tests/helpers/wait.ts";

function mesh(peers: string[] = []): Promise<TestMesh> {
  return startMesh({ peers });
}

/** A port nothing listens on: bound, noted and released. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("a peer can dial the asker back on its listening port, and says so; not on a closed one", async () => {
  const a = await mesh();
  const b = await mesh(a.listenAddresses());
  try {
    await waitFor(() => b.node.getConnections().length > 0, { message: "b to connect to a" });
    const peerA = b.node.getConnections()[0].remotePeer;
    const ports = listeningPorts(b.node);
    assert.deepEqual(ports, [Number(b.listenAddresses()[0].match(/\/tcp\/(\d+)/)![1])]);
    assert.equal(await askReach(b.node, peerA, ports), true);
    // The dial-back connection was closed again: one connection remains.
    await waitFor(() => a.node.getConnections().length === 1, { message: "the dial-back connection to close" });
    assert.equal(await askReach(b.node, peerA, [closedPort()]), false);
  } finally {
    await b.stop();
    await a.stop();
  }
});

Deno.test("the dial-back goes only to the address the asker connected from, never through a relay", () => {
  const peer = "12D3KooWLbL5gddDdiQqdDw4fEDsYAuWHNJawpfUezYCdU8ZkYgw";
  const relay = "12D3KooWEUzh4z9QMCXbtEQrBUJyqfC6cEZVvLwEaj2nZJpEoyyf";
  const connection = (remote: string) => ({ remoteAddr: multiaddr(remote), remotePeer: { toString: () => peer } });
  assert.deepEqual(
    dialBackAddresses(connection("/ip4/198.18.0.20/tcp/51234") as unknown as Connection, [4001, 4002]).map(String),
    [`/ip4/198.18.0.20/tcp/4001/p2p/${peer}`, `/ip4/198.18.0.20/tcp/4002/p2p/${peer}`],
  );
  assert.deepEqual(
    dialBackAddresses(
      connection(`/ip4/198.18.0.10/tcp/4001/p2p/${relay}/p2p-circuit`) as unknown as Connection,
      [4001],
    ),
    [],
  );
});
