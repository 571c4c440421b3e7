/**
 * A hostile peer for security tests: a real libp2p node with gossipsub, run
 * inside the test process, that skips every rule an agent keeps. It can
 * publish any bytes on any hark topic, as fast as it likes.
 */

import "../../lib/mesh/runtime_patches.ts";
import { createLibp2p, type Libp2p } from "libp2p";
import { type GossipSub, gossipsub } from "@libp2p/gossipsub";
import { tcp } from "@libp2p/tcp";
import { identify } from "@libp2p/identify";
import { noise } from "@libp2p/noise";
import { yamux } from "@libp2p/yamux";
import { preSharedKey } from "@libp2p/pnet";
import { multiaddr } from "@multiformats/multiaddr";
import type { PrivateKey } from "@libp2p/interface";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { createEvent, encodeEvent, type EventDraft } from "../../lib/event/event.ts";
import { type Network, swarmKey } from "../../lib/mesh/network.ts";
import { monotonicUlid } from "../../lib/event/ulid.ts";
import { waitFor } from "./wait.ts";
import { TEST_NETWORK } from "./hark.ts";

export class Rogue {
  readonly node: Libp2p<{ pubsub: GossipSub }>;
  /** Its identity, for signing things by hand. */
  readonly key: PrivateKey;
  #nextId = monotonicUlid();

  private constructor(node: Libp2p<{ pubsub: GossipSub }>, key: PrivateKey) {
    this.node = node;
    this.key = key;
  }

  /**
   * Starts a node; with `network` it holds that key, without it none at all.
   * Passing the same `privateKey` again plays the same publisher again.
   */
  static async start(network?: Network, privateKey?: PrivateKey): Promise<Rogue> {
    privateKey ??= await generateKeyPair("Ed25519");
    const node = await createLibp2p({
      privateKey,
      addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
      transports: [tcp()],
      connectionProtector: network ? preSharedKey({ psk: swarmKey(network) }) : undefined,
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, fallbackToFloodsub: false }),
      },
    }) as unknown as Libp2p<{ pubsub: GossipSub }>;
    return new Rogue(node, privateKey);
  }

  /** A rogue in the test network, connected to `agent` and sharing its "default" topic. */
  static async beside(agent: { addresses: string[]; peerId: string }, privateKey?: PrivateKey): Promise<Rogue> {
    const rogue = await Rogue.start(TEST_NETWORK, privateKey);
    try {
      await rogue.dial(agent.addresses[0]);
      await rogue.join("default", agent.peerId);
    } catch (error) {
      await rogue[Symbol.asyncDispose]();
      throw error;
    }
    return rogue;
  }

  get peerId(): string {
    return this.node.peerId.toString();
  }

  async dial(address: string, timeoutMs = 10_000): Promise<void> {
    await this.node.dial(multiaddr(address), { signal: AbortSignal.timeout(timeoutMs) });
  }

  /**
   * Subscribes and waits until `peer` is known to subscribe to `topic` too,
   * and the rogue's own gossip stream to it is open. The peer's subscription
   * arrives on the peer's stream; until ours opens, gossipsub drops what we
   * publish to it without a word, and a test counting arrivals would wait.
   */
  async join(topic: string, peer: string): Promise<void> {
    const pubsub = this.node.services.pubsub;
    const outbound = (pubsub as unknown as { streamsOutbound: Map<string, unknown> }).streamsOutbound;
    pubsub.subscribe(`hark/${topic}`);
    await waitFor(
      () => outbound.has(peer) && pubsub.getSubscribers(`hark/${topic}`).some((id) => id.toString() === peer),
      { message: `rogue to see ${peer} on ${topic} and hold a stream to it` },
    );
  }

  /** A well-formed event signed by the rogue, as bytes for the wire. */
  event(draft: EventDraft & { id?: string; now?: number }): Uint8Array {
    const { id, now, ...rest } = draft;
    const event = createEvent(rest, {
      id: id ?? this.#nextId(),
      now: now ?? Date.now(),
      host: "rogue",
      peer: this.peerId,
    });
    return encodeEvent(event);
  }

  nextId(): string {
    return this.#nextId();
  }

  /** Publishes raw bytes on a hark topic, bypassing every check. */
  async publish(topic: string, bytes: Uint8Array): Promise<void> {
    await this.node.services.pubsub.publish(`hark/${topic}`, bytes);
  }

  /**
   * Sends one gossip message exactly as given, straight to `peer`: any
   * `from`, sequence number and signature, which `publish` would compute.
   */
  sendRaw(
    peer: string,
    message: { topic: string; data: Uint8Array; from: Uint8Array; seqno: Uint8Array; signature: Uint8Array },
  ): void {
    const pubsub = this.node.services.pubsub as unknown as {
      sendRpc(id: string, rpc: { subscriptions: []; messages: unknown[] }): boolean;
    };
    const sent = pubsub.sendRpc(peer, {
      subscriptions: [],
      messages: [{ ...message, topic: `hark/${message.topic}`, key: undefined }],
    });
    if (!sent) throw new Error(`rogue has no gossip stream to ${peer}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.node.stop();
  }
}
