/**
 * The libp2p node an agent runs, as options for `createLibp2p`: transports,
 * the private-network guard, Noise, Yamux, and the services with the
 * settings hark depends on. Each setting that departs from libp2p's
 * defaults says why here, so the mesh itself reads as behaviour.
 */

import type { Libp2pOptions } from "libp2p";
import type { GossipSub } from "@libp2p/gossipsub";
import {
  circuitRelayServer,
  circuitRelayTransport,
  createTopicScoreParams,
  dcutr,
  gossipsub,
  identify,
  multiaddr,
  noise,
  ping,
  tcp,
  yamux,
} from "./libp2p.ts";
import type { Ping } from "@libp2p/ping";
import type { PrivateKey } from "@libp2p/interface";
import type { Multiaddr } from "@multiformats/multiaddr";
import { type Network, swarmKey } from "./network.ts";
import { TOPIC_PREFIX } from "./validator.ts";
import { fastMessageId } from "./fast_message_id.ts";
import { checkedPreSharedKey, type KeyMismatch } from "./key_check.ts";

export const DIAL_TIMEOUT_MS = 5000;
/** A peer without the network key fails the nonce exchange; never wait long for it. */
const HANDSHAKE_TIMEOUT_MS = 3000;
/**
 * What a relay allows one relayed connection. libp2p's defaults (2 min,
 * 128 KiB) suit a hole-punching handshake, not an event stream; past these
 * the connection closes and is dialed again, and catch-up fills the gap.
 */
const RELAYED_DURATION_MS = 60 * 60_000;
const RELAYED_DATA_BYTES = 64n * 1024n * 1024n;
const RELAY_MAX_RESERVATIONS = 128;

/**
 * Score settings for hark topics. Events are sparse, so the delivery-rate
 * terms (P2, P3) that suit busy blockchain topics would punish quiet honest
 * peers; they are off. Invalid messages (P4) count heavily: about ten
 * rejections in a row push a peer past the graylist threshold (-80), after
 * which its messages are dropped unread. The penalty halves in about 7 s.
 */
const TOPIC_SCORE = createTopicScoreParams({
  topicWeight: 1,
  timeInMeshWeight: 0,
  firstMessageDeliveriesWeight: 0,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  invalidMessageDeliveriesWeight: -1,
  invalidMessageDeliveriesDecay: 0.9,
});

export type Services = {
  pubsub: GossipSub;
  ping: Ping;
  identify: unknown;
  circuitListen: CircuitListen;
};

/** Starts the circuit relay transport's search for relay slots (libp2p keeps listeners internal). */
interface CircuitListen {
  listen(): Promise<void>;
}

export interface NodeSpec {
  privateKey: PrivateKey;
  /** Every connection must prove this network's key. */
  network: Network;
  listen: Multiaddr[];
  /** Announced through identify; other agents read the host from it. */
  userAgent: string;
  peerDiscovery: NonNullable<Libp2pOptions["peerDiscovery"]>;
  /** Serve as a circuit relay for agents behind NAT. */
  relay: boolean;
  /** The topics this agent subscribes to; each gets hark's score settings. */
  topics: string[];
  maxEventBytes: number;
  /** A peer holds another network key (see key_check.ts). */
  onKeyMismatch?: (mismatch: KeyMismatch) => void;
  /** `network.max_connections`; Infinity for none. */
  maxConnections?: number;
}

export function libp2pOptions(spec: NodeSpec): Libp2pOptions {
  return {
    // The mesh starts it once its protocol handlers are in place, so identify announces them.
    start: false,
    privateKey: spec.privateKey,
    addresses: { listen: spec.listen.map(String) },
    nodeInfo: { userAgent: spec.userAgent },
    transports: [tcp(), circuitRelayTransport({ reservationCompletionTimeout: DIAL_TIMEOUT_MS })],
    connectionProtector: checkedPreSharedKey(
      { psk: swarmKey(spec.network), timeout: HANDSHAKE_TIMEOUT_MS },
      spec.onKeyMismatch ?? (() => {}),
    ),
    connectionEncrypters: [noise()],
    // Yamux's own keepalive pings every connection every 30 s but never
    // acts on a missing answer; the link monitor does the same job and
    // drops dead links. Without it an idle agent with nine
    // peers went from 0.68 to 0.46 CPU s/min.
    streamMuxers: [yamux({ enableKeepAlive: false })],
    peerDiscovery: spec.peerDiscovery,
    // Links are pinged by LinkMonitor with Yamux ping frames instead of
    // a ping stream each time (see link_monitor.ts).
    connectionMonitor: { enabled: false },
    connectionManager: {
      dialTimeout: DIAL_TIMEOUT_MS,
      inboundUpgradeTimeout: DIAL_TIMEOUT_MS,
      // Many agents behind one NAT, or side by side on one test host,
      // connect from one address; libp2p's default of 5/s refuses them.
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 100,
      // hark trims to network.max_connections itself (connection_trimmer.ts), and
      // accepts past it until it trims; libp2p's cap of 300 must not come first.
      // With no limit (a relay's default) none at all: libp2p refused every
      // connection past 300 before any handshake, and a relay serves more
      // than that by design (1,000 agents naming 3 of 10 relays each).
      maxConnections: spec.maxConnections !== undefined && Number.isFinite(spec.maxConnections)
        ? Math.max(300, 2 * spec.maxConnections)
        : Infinity,
    },
    services: {
      identify: identify(),
      // `hark peers` measuring a new connection, the gossip mender and
      // the link monitor's fallback share these streams; at libp2p's limit of 2 an
      // overlap reset a ping, and the monitor dropped a live connection.
      ping: ping({ maxInboundStreams: 8, maxOutboundStreams: 8 }),
      // Upgrades relayed connections to direct ones where both sides
      // have public addresses and hole punching works.
      dcutr: dcutr(),
      circuitListen: (components: { transportManager: { listen(addresses: Multiaddr[]): Promise<void> } }) => ({
        listen: () => components.transportManager.listen([multiaddr("/p2p-circuit")]),
      }),
      ...(spec.relay
        ? {
          relay: circuitRelayServer({
            reservations: {
              maxReservations: RELAY_MAX_RESERVATIONS,
              defaultDurationLimit: RELAYED_DURATION_MS,
              defaultDataLimit: RELAYED_DATA_BYTES,
            },
          }),
        }
        : {}),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        // A publisher sends to its mesh peers (at least D), not to every
        // peer it knows. Flooding made the publisher encrypt and write one
        // copy per peer, one after another on its one thread, while the
        // mesh had idle agents to forward in parallel: at 30 agents on 2
        // cores fan-out p99 went from 660–980 ms to 230–390 ms without it,
        // and at 10 it stayed (80–98 against 76–90 ms). Flooding guards a
        // publisher whose mesh peers all withhold its events; here every
        // peer holds the network key, and catch-up still fetches what a
        // peer withheld from another path.
        floodPublish: false,
        // A narrower mesh than gossipsub's default (D = 6): on 30 agents
        // sharing 2 cores D = 3 took fan-out p50 from 160 to 88 ms. Three
        // paths still cover a loss.
        D: 3,
        Dlo: 2,
        Dhi: 6,
        Dscore: 2,
        Dout: 1,
        Dlazy: 3,
        // IHAVE gossip goes to Dlazy peers outside a topic's mesh each
        // heartbeat, not to a quarter of them (the default factor, 0.25):
        // at 48 connections that was 11 peers a topic, and advertising a
        // message cost each agent more CPU than receiving it (a profile of 60
        // agents, docs/scale.md). Catch-up repairs what gossip misses.
        gossipFactor: 0,
        fallbackToFloodsub: false,
        // Agents behind NAT may have only relayed (limited) connections.
        runOnLimitedConnection: true,
        globalSignaturePolicy: "StrictSign",
        // Copies of a message already accepted are dropped before their
        // signature is checked again (see fast_message_id.ts).
        fastMsgIdFn: fastMessageId,
        // This caps a whole RPC frame (message, signature, key, control
        // messages), not one event; the validator checks each event's size.
        maxInboundDataLength: Math.max(1024 * 1024, 2 * spec.maxEventBytes + 64 * 1024),
        scoreParams: {
          topics: Object.fromEntries(spec.topics.map((topic) => [TOPIC_PREFIX + topic, TOPIC_SCORE])),
          // Agents on one host or behind one NAT share an IP; the default
          // threshold of 10 graylists them and delivery stops silently.
          IPColocationFactorThreshold: 100,
          IPColocationFactorWhitelist: new Set(["127.0.0.1", "::1"]),
        },
      }),
    },
  };
}
