/**
 * An in-process `Mesh` on loopback, for tests of the parts that run beside
 * gossipsub (peer exchange, reach, stream mending) without agent processes.
 */

import { generateKeyPair } from "@libp2p/crypto/keys";
import type { PrivateKey } from "@libp2p/interface";
import type { Libp2p } from "libp2p";
import { Mesh, type MeshInit } from "../../lib/mesh/mesh.ts";
import type { Services } from "../../lib/mesh/options.ts";
import { newNetwork } from "../../lib/mesh/network.ts";

/** One network for every in-process mesh of this test process. */
const network = newNetwork("in-process");

export interface TestMeshOptions {
  peers?: string[];
  privateKey?: PrivateKey;
  onEvent?: MeshInit["onEvent"];
  /** `network.max_connections`. @default Infinity */
  maxConnections?: number;
}

/**
 * A mesh and its libp2p node. The agent never reaches past the mesh's API;
 * these tests drive the connect parts directly on the node the mesh runs.
 */
export type TestMesh = Mesh & { readonly node: Libp2p<Services> };

/** Starts a mesh listening on a free loopback port, subscribed to "default", without mDNS. */
export async function startMesh(options: TestMeshOptions = {}): Promise<TestMesh> {
  let node: Libp2p<Services> | undefined;
  const mesh = new Mesh({
    privateKey: options.privateKey ?? await generateKeyPair("Ed25519"),
    network,
    publishers: new Map(),
    rate: { rate: 100, burst: 100 },
    listen: ["/ip4/127.0.0.1/tcp/0"],
    peers: options.peers ?? [],
    maxConnections: options.maxConnections,
    mdns: false,
    topics: ["default"],
    limits: { maxEventBytes: 64 * 1024 },
    host: "test",
    version: "test",
    onEvent: options.onEvent ?? (() => {}),
    beforeStart: (started) => {
      node = started;
      return Promise.resolve();
    },
  });
  await mesh.start();
  return Object.assign(mesh, { node: node! });
}
