/**
 * A libp2p node with hark's options on loopback that serves peer exchange
 * and runs nothing else: no mesh, no peer keeper, no peer exchange of its
 * own. Tests of who dials whom wire exactly the part they
 * test, and nothing else dials behind their back.
 */

import type { Libp2p } from "@libp2p/interface";
import { createLibp2p, generateKeyPair, multiaddr } from "../../lib/mesh/libp2p.ts";
import { libp2pOptions } from "../../lib/mesh/options.ts";
import { newNetwork } from "../../lib/mesh/network.ts";
import { PeerExchange, type PeerExchangeInit } from "../../lib/connect/peer_exchange.ts";
import { waitFor } from "./wait.ts";

/** One network for every exchange node of this test process. */
const network = newNetwork("exchange-nodes");

export interface ExchangeNode extends AsyncDisposable {
  node: Libp2p;
  /** Serves `/hark/peers/1.0.0`; not started, so it never asks on its own. */
  exchange: PeerExchange;
  id: string;
}

export async function startExchangeNode(init: PeerExchangeInit = {}): Promise<ExchangeNode> {
  const node = await createLibp2p(libp2pOptions({
    privateKey: await generateKeyPair("Ed25519"),
    network,
    listen: [multiaddr("/ip4/127.0.0.1/tcp/0")],
    userAgent: "hark/test",
    peerDiscovery: [],
    relay: false,
    topics: [],
    maxEventBytes: 64 * 1024,
  })) as unknown as Libp2p;
  const exchange = new PeerExchange(node, init);
  await exchange.serve();
  await node.start();
  return {
    node,
    exchange,
    id: node.peerId.toString(),
    [Symbol.asyncDispose]: async () => {
      exchange.stop();
      await node.stop();
    },
  };
}

/** Connects `from` to `to` and waits until each holds the other's signed record (identify is done). */
export async function link(from: ExchangeNode, to: ExchangeNode): Promise<void> {
  await from.node.dial(to.node.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) });
  await waitFor(async () => {
    const [there, back] = await Promise.all([
      from.node.peerStore.get(to.node.peerId).catch(() => undefined),
      to.node.peerStore.get(from.node.peerId).catch(() => undefined),
    ]);
    return there?.peerRecordEnvelope && back?.peerRecordEnvelope;
  }, { message: `${from.id} and ${to.id} to identify each other` });
}

/** Whether `node` holds a connection to `peer`. */
export function connected(node: ExchangeNode, peer: ExchangeNode): boolean {
  return node.node.getConnections(peer.node.peerId).length > 0;
}
