/**
 * An in-process `Mesh` on loopback, for tests of the parts that run beside
 * gossipsub (peer exchange, reach, stream mending) without agent processes.
 */

import { generateKeyPair } from "@libp2p/crypto/keys";
import type { PrivateKey } from "@libp2p/interface";
import { Mesh, type MeshInit } from "../../lib/mesh.ts";
import { newNetwork } from "../../lib/network.ts";

/** One network for every in-process mesh of this test process. */
const network = newNetwork("in-process");

export interface TestMeshOptions {
  peers?: string[];
  privateKey?: PrivateKey;
  onEvent?: MeshInit["onEvent"];
}

/** Starts a mesh listening on a free loopback port, subscribed to "default", without mDNS. */
export async function startMesh(options: TestMeshOptions = {}): Promise<Mesh> {
  const mesh = new Mesh({
    privateKey: options.privateKey ?? await generateKeyPair("Ed25519"),
    network,
    publishers: new Map(),
    rate: { rate: 100, burst: 100 },
    listen: ["/ip4/127.0.0.1/tcp/0"],
    peers: options.peers ?? [],
    mdns: false,
    topics: ["default"],
    limits: { maxEventBytes: 64 * 1024 },
    host: "test",
    version: "test",
    onEvent: options.onEvent ?? (() => {}),
  });
  await mesh.start();
  return mesh;
}
