import assert from "node:assert/strict";
import { generateKeyPair } from "./libp2p.ts";
import { newNetwork } from "./network.ts";
import { libp2pOptions } from "./options.ts";

async function capOf(maxConnections: number | undefined): Promise<number | undefined> {
  const options = libp2pOptions({
    privateKey: await generateKeyPair("Ed25519"),
    network: newNetwork("options-test"),
    listen: [],
    userAgent: "hark/test",
    peerDiscovery: [],
    relay: maxConnections === Infinity,
    topics: [],
    maxEventBytes: 4096,
    maxConnections,
  });
  return options.connectionManager?.maxConnections;
}

Deno.test("libp2p's own connection cap stays above network.max_connections, and is lifted where there is no limit", async () => {
  // hark trims to the limit itself, after a farewell; libp2p would refuse, before any handshake.
  assert.equal(await capOf(64), 300);
  assert.equal(await capOf(400), 800);
  // A relay (max_connections = 0) serves more than libp2p's default of 300.
  assert.equal(await capOf(Infinity), Infinity);
  assert.equal(await capOf(undefined), Infinity);
});
