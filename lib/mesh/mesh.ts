/**
 * The network side of an agent: libp2p with TCP, circuit relays, Noise,
 * Yamux, identify, ping, gossipsub and mDNS, and the parts in `connect/`
 * that keep it joined to the mesh across subnets and NATs. It publishes
 * events, validates every message it receives and hands valid events to
 * `onEvent`. It knows nothing of sinks.
 */

import "./runtime_patches.ts";
import "./yamux_window.ts";
import "./length_prefix_decoder.ts";
import type { Libp2p } from "libp2p";
import type { GossipSub, Message, TopicValidatorResult } from "@libp2p/gossipsub";
import type { IdentifyResult, PeerId, PeerInfo, PrivateKey, Stream } from "@libp2p/interface";
import type { Multiaddr } from "@multiformats/multiaddr";
import { createLibp2p, isPrivate, loadMdns, multiaddr, peerIdFromString } from "./libp2p.ts";
import { getLogger } from "@logtape/logtape";
import { encodeEvent, type EventLimits, type HarkEvent, isReservedTopic } from "../event/event.ts";
import { type KeptOrigin, PeerKeeper } from "../connect/peer_keeper.ts";
import { LinkMonitor } from "../connect/link_monitor.ts";
import type { PeerBook } from "../connect/peer_book.ts";
import { PeerExchange } from "../connect/peer_exchange.ts";
import { LAN_DIAL_MAX_PEERS, LanDial } from "../connect/lan_dial.ts";
import { type ConnectionStats, ConnectionTrimmer } from "../connect/connection_trimmer.ts";
import { HISTORY_PROTOCOL } from "../history/wire.ts";
import { serveReach } from "../connect/reach.ts";
import { type ClockReading, readClock, serveClock } from "../connect/clock.ts";
import { type Reachability, RelayUse } from "../connect/relay_use.ts";
import { AddressWatch } from "../connect/address_watch.ts";
import { checkConnections, GossipMender } from "../connect/gossip_mender.ts";
import { ConfigError, HarkError } from "../errors.ts";
import { mdnsServiceTag, type Network } from "./network.ts";
import type { RateLimit } from "../rate_limit.ts";
import {
  type AcceptedEvent,
  type ContentCheck,
  EventValidator,
  fingerprint,
  MAX_BATCH_EVENTS,
  TOPIC_PREFIX,
  type ValidatorCounters,
  type Verdict,
} from "./validator.ts";
import { seqnoBytes, type SignedRecord, signRecord } from "../event/signed_record.ts";
import { encodeBatch, entrySize } from "./batch.ts";
import type { Arrival } from "../store/store.ts";
import { delay } from "../util/delay.ts";
import { KeyMismatches, type SeenMismatch } from "./key_mismatches.ts";
import { DIAL_TIMEOUT_MS, libp2pOptions, type Services } from "./options.ts";

const log = getLogger(["hark", "mesh"]);

/** A ping result stands in for the link monitor's measurement this long. */
const PING_CACHE_MS = 30_000;
/** At most one warning per misbehaving peer in this window; the rest go to debug. */
const REJECTION_WARN_INTERVAL_MS = 10_000;
/**
 * Largest batch message. Every agent accepts gossip frames of 1 MiB at
 * least (maxInboundDataLength below), and a frame also carries control
 * messages, so batches stay well under that.
 */
const MAX_BATCH_BYTES = 512 * 1024;

export interface MeshInit {
  privateKey: PrivateKey;
  /** Every connection must prove this network's key. */
  network: Network;
  /** Topics that only the listed peer ids may publish on. */
  publishers: Map<string, Set<string>>;
  /** Per-publisher limit on events accepted from the mesh. */
  rate: RateLimit;
  listen: string[];
  /** Bootstrap peers kept connected. */
  peers: string[];
  /** Peers seen before, redialed on start; the mesh adds the ones it meets. */
  book?: PeerBook;
  mdns: boolean;
  /** Serve as a circuit relay for agents behind NAT. */
  relay?: boolean;
  /**
   * How long a ping may go unanswered before its link counts as dead
   * (LinkMonitor's default, 10 s, when unset). The fleet simulator (tests/sim/) raises it: its agents
   * share a thread that stalls for longer than a host of their own would.
   */
  linkTimeoutMs?: number;
  /** Past this many peers, connections are trimmed (connection_trimmer.ts). @default Infinity, no limit */
  maxConnections?: number;
  /** How many peers `peer` said it had in its last membership status, if known. */
  reportedPeers?: (peer: string) => number | undefined;
  /** Peers the connection limit must not close, besides those the mesh keeps itself (followers of a topic). */
  keep?: (peer: string) => boolean;
  topics: string[];
  limits: EventLimits;
  /** Announced through identify; other agents show it as this agent's host. */
  host: string;
  version: string;
  /** Called once per valid message from another agent, with the bytes and signature as published. */
  onEvent: (event: HarkEvent, fingerprint: number, arrival: Arrival) => void;
  /** Events from or to this peer may have been lost in gossip (a connection to it closed; another stays). */
  onGap?: (peer: PeerId) => void;
  /** Registers protocol handlers before the node listens or dials, so identify announces them. */
  beforeStart?: (node: Libp2p<Services>) => Promise<void>;
  /** Rules about events' content (membership claims, topic schemas) on top of the format's. */
  check?: ContentCheck;
  /** Fingerprints of events stored earlier, for duplicate detection across restarts. */
  lookup?: (publisher: string, id: string) => number | undefined;
  /** A publisher's stored events by publish time, so history keeps to the rate limit too. */
  storedNear?: (publisher: string, fromMs: number, toMs: number) => number;
}

export interface MeshConnectionStats extends ConnectionStats {
  /** Connections dropped because a ping went unanswered (connect/link_monitor.ts). */
  unanswered: number;
  /**
   * Connections closed since start, by either end and for any reason (a
   * connection this agent trimmed or dropped counts here too, and at its
   * peer's end).
   */
  closed: number;
}

export interface PeerChangeListener {
  connected(peer: string): void;
  disconnected(peer: string): void;
  /** `peer` subscribed to `topic` (a hark topic name, without the wire prefix). */
  subscribed(peer: string, topic: string): void;
}

/** How this agent came to be connected to a peer. */
export type PeerOrigin = KeptOrigin | "mdns" | "exchange" | "topic" | "inbound" | "dialed";

export interface MeshPeer {
  peer: string;
  host?: string;
  addresses: string[];
  direction: string;
  /** "relayed" when every connection to the peer goes through a relay. */
  connection: "direct" | "relayed";
  /** The relay's peer id, for relayed connections. */
  relay?: string;
  origin: PeerOrigin;
  latencyMs?: number;
  topics: string[];
  /** This agent's gossipsub score for the peer; below 0 it is pruned. */
  score?: number;
}

export interface MeshCounters extends ValidatorCounters {
  published: number;
  /** Gossip messages those events left in: fewer when events were batched. */
  published_messages: number;
  /** Membership events (hark.node.*) this agent published; not in `published`. */
  membership_published: number;
  /** Sum of every kind of rejection. */
  rejected: number;
}

export class Mesh {
  #init: MeshInit;
  #node?: Libp2p<Services>;
  #keeper?: PeerKeeper;
  #links?: LinkMonitor;
  #exchange?: PeerExchange;
  #relayUse?: RelayUse;
  #watch?: AddressWatch;
  #mender?: GossipMender;
  #origins = new Map<string, PeerOrigin>();
  /** Peers mDNS reported and this agent has not yet dialed. */
  #foundOnLan = new Set<string>();
  #lanDial?: LanDial;
  #trimmer?: ConnectionTrimmer;
  #peerTopics = new Map<string, Set<string>>();
  /** The topics this agent subscribes to: those it started with, and those followed since. */
  #topics: Set<string>;
  /** Validated events keyed by message, so the message handler need not decode twice. */
  #validated = new WeakMap<Message, AcceptedEvent[]>();
  #validator: EventValidator;
  #published = 0;
  #publishedMessages = 0;
  #membershipPublished = 0;
  /** Events waiting to leave while a publish is under way, oldest first. */
  #outbox: Outgoing[] = [];
  #publishing = false;
  #warned = new Map<string, number>();
  #pinged = new Map<string, { rtt: number; at: number }>();
  #peerListener?: PeerChangeListener;
  /** Connections closed since start, by either end and for any reason. */
  #closed = 0;
  readonly #keyMismatches = new KeyMismatches();

  constructor(init: MeshInit) {
    this.#init = init;
    this.#topics = new Set(init.topics);
    this.#validator = new EventValidator({
      limits: init.limits,
      publishers: init.publishers,
      rate: init.rate,
      lookup: init.lookup,
      check: init.check,
      storedNear: init.storedNear,
    });
  }

  get peerId(): string {
    return this.#requireNode().peerId.toString();
  }

  /** Whether this agent may publish on `topic` ([topic.NAME] publishers), as its peers will judge it. */
  mayPublish(topic: string): boolean {
    return this.#validator.mayPublish(this.peerId, topic);
  }

  /**
   * Publishes an event of this agent's own once it is within the rate limit
   * its peers enforce on it: waiting here beats being rejected, and
   * penalised, by every receiver. `build` runs after the wait, so the event
   * carries the time it leaves. Throws if the wait would pass `maxWaitMs`.
   */
  async publishAsSelf(build: () => HarkEvent, maxWaitMs: number): Promise<Published & { event: HarkEvent }> {
    const deadline = Date.now() + maxWaitMs;
    while (!this.#validator.takeToken(this.peerId)) {
      const wait = this.#validator.throttleDelay(this.peerId);
      if (Date.now() + wait > deadline) {
        const { rate, burst } = this.#init.rate;
        throw new HarkError(
          `rate limit: the network accepts ${rate} events/s (bursts of ${burst}) from one agent; try again shortly or raise network.publisher_rate on every agent`,
        );
      }
      await delay(wait);
    }
    const event = build();
    return { event, ...(await this.publish(event)) };
  }

  /** The network's rules applied to a record that came another way than gossip (history). */
  validateRecord(record: SignedRecord): Verdict {
    return this.#validator.validateRecord(record);
  }

  /** Whether history from `publisher` published at `timeMs` is within its rate limit, beside `pending` ones. */
  historyRoom(publisher: string, timeMs: number, pending?: number[]): boolean {
    return this.#validator.historyRoom(publisher, timeMs, pending);
  }

  /** Opens a stream for a protocol beside gossipsub (history, has), over relayed connections too. */
  dialProtocol(peer: PeerId, protocol: string, signal: AbortSignal): Promise<Stream> {
    return this.#requireNode().dialProtocol(peer, protocol, { signal, runOnLimitedConnection: true });
  }

  /** Connected peers whose identify listed `protocol`. */
  async peersSpeaking(protocol: string): Promise<PeerId[]> {
    const node = this.#requireNode();
    const peers = new Map(node.getConnections().map((c) => [c.remotePeer.toString(), c.remotePeer]));
    const speaking: PeerId[] = [];
    for (const peer of peers.values()) {
      try {
        if ((await node.peerStore.get(peer)).protocols.includes(protocol)) speaking.push(peer);
      } catch {
        // Not identified yet; identify will tell of it.
      }
    }
    return speaking;
  }

  /** Calls `listener` with each peer identify describes; returns the function that stops it. */
  onIdentified(listener: (peer: PeerId, protocols: string[]) => void): () => void {
    const node = this.#requireNode();
    const handler = (evt: CustomEvent<IdentifyResult>) => listener(evt.detail.peerId, evt.detail.protocols);
    node.addEventListener("peer:identify", handler);
    return () => node.removeEventListener("peer:identify", handler);
  }

  /** Peers met lately that hold another network key, newest first. */
  get keyMismatches(): SeenMismatch[] {
    return this.#keyMismatches.recent;
  }

  /** The topics this agent follows for events (not the agents' own `hark.*`). */
  get eventTopics(): string[] {
    return [...this.#topics].filter((topic) => !isReservedTopic(topic));
  }

  /**
   * Dials `peer` at `addresses` (a member's own, from its join or status),
   * for a topic both follow; Noise proves the peer id whatever the addresses
   * say. Rejects when no address parses or the dial fails.
   */
  async dialFollower(peer: string, addresses: string[], signal: AbortSignal): Promise<void> {
    const node = this.#requireNode();
    const id = peerIdFromString(peer);
    const parsed = parseAddresses(addresses).filter((address) => {
      const named = address.getComponents().findLast((component) => component.name === "p2p")?.value;
      return named === undefined || named === peer;
    });
    if (parsed.length === 0) throw new Error(`no usable address among ${addresses.length}`);
    await node.peerStore.merge(id, { multiaddrs: parsed });
    await node.dial(id, { signal });
    this.#origins.set(peer, "topic");
  }

  /** Whether this agent and `peer` let each other go lately to stay within the connection limit. */
  parted(peer: string): boolean {
    return this.#trimmer?.parted(peer) ?? false;
  }

  /** Peers that told this agent they subscribe to `topic`. */
  subscribers(topic: string): PeerId[] {
    return this.#requireNode().services.pubsub.getSubscribers(TOPIC_PREFIX + topic);
  }

  /**
   * Subscribers a publish would reach now. A peer's subscription arrives on
   * the stream it opened to this agent; gossipsub sends only on the stream
   * this agent opens to it, which may not be open yet, and then publishes to
   * nobody.
   */
  reachableSubscribers(topic: string): PeerId[] {
    const outbound = outboundStreamsOf(this.#requireNode().services.pubsub);
    return this.subscribers(topic).filter((peer) => outbound?.has(peer.toString()) ?? true);
  }

  get counters(): MeshCounters {
    const c = this.#validator.counters;
    return {
      ...c,
      published: this.#published,
      published_messages: this.#publishedMessages,
      membership_published: this.#membershipPublished,
      rejected: c.malformed + c.unauthorized + c.throttled + c.conflicting + c.off_schema + c.disputed,
    };
  }

  async start(): Promise<void> {
    if (this.#node) return;
    const listen = this.#init.listen.map((text) => checkAddress(text, "network.listen"));
    this.#init.peers.forEach((text) => checkAddress(text, "network.peers"));
    let node: Libp2p<Services> | undefined;
    try {
      node = await createLibp2p(libp2pOptions({
        privateKey: this.#init.privateKey,
        network: this.#init.network,
        listen,
        userAgent: `hark/${this.#init.version} host=${this.#init.host}`,
        // Loaded only when used: multicast DNS brings its own dependencies.
        peerDiscovery: this.#init.mdns ? [await this.#mdns()] : [],
        relay: this.#init.relay ?? false,
        maxConnections: this.#init.maxConnections,
        topics: [...this.#topics],
        maxEventBytes: this.#init.limits.maxEventBytes,
        onKeyMismatch: (mismatch) => this.#keyMismatches.report(mismatch),
      })) as unknown as Libp2p<Services>;
      await this.#init.beforeStart?.(node);
      const pubsub = node.services.pubsub;
      const trimmer = new ConnectionTrimmer(node, {
        high: this.#init.maxConnections ?? Infinity,
        meshPeers: () => meshPeersOf(pubsub),
        kept: (peer) => (this.#keeper?.isConfigured(peer) ?? false) || (this.#init.keep?.(peer) ?? false),
        reportedPeers: this.#init.reportedPeers,
        busyProtocols: [HISTORY_PROTOCOL],
        farewell: (peer) => this.#exchange?.farewell(peer) ?? Promise.resolve(),
      });
      this.#trimmer = trimmer;
      this.#exchange = new PeerExchange(node, {
        dialTimeoutMs: DIAL_TIMEOUT_MS,
        onConnected: (peer) => this.#origins.set(peer, "exchange"),
        onFarewell: (peer) => trimmer.releasedBy(peer),
        policy: trimmer,
      });
      await this.#exchange.serve();
      await serveReach(node);
      await serveClock(node);
      await node.start();
    } catch (error) {
      await Promise.resolve(node?.stop()).catch(() => {});
      throw explainStartError(error, this.#init.listen);
    }
    this.#node = node;
    const pubsub = node.services.pubsub;
    pubsub.addEventListener("message", this.#onMessage);
    pubsub.addEventListener("subscription-change", this.#onSubscriptionChange);
    node.addEventListener("peer:discovery", this.#onDiscovery);
    node.addEventListener("peer:disconnect", this.#onDisconnect);
    node.addEventListener("peer:connect", this.#onConnect);
    node.addEventListener("connection:close", this.#onConnectionClose);
    for (const topic of this.#topics) this.#subscribe(node, topic);
    node.addEventListener("peer:identify", this.#onIdentify);
    const book = this.#init.book;
    const remembered = book?.peers ?? [];
    for (const { peer, addresses } of remembered) {
      await node.peerStore.merge(peerIdFromString(peer), { multiaddrs: parseAddresses(addresses) }).catch(() => {});
    }
    this.#keeper = new PeerKeeper(node, this.#init.peers, remembered.map(({ peer }) => peer), {
      dialTimeoutMs: DIAL_TIMEOUT_MS,
      onConnected: (peer, origin) => this.#origins.set(peer, origin),
      policy: this.#trimmer,
    });
    this.#keeper.start();
    this.#trimmer!.start();
    // Every 15 s, and a dead link after 10 s without an answer: found within 25 s.
    this.#links = new LinkMonitor(node, { intervalMs: 15_000, timeoutMs: this.#init.linkTimeoutMs });
    this.#links.start();
    this.#exchange!.start();
    this.#relayUse = new RelayUse(node, { reserve: () => node.services.circuitListen.listen() });
    this.#relayUse.start();
    this.#mender = new GossipMender(node, pubsub, (peer) => this.#init.onGap?.(peer));
    this.#mender.start();
    this.#watch = new AddressWatch({ onChange: this.#onAddressChange });
    this.#watch.start();
  }

  async stop(): Promise<void> {
    const node = this.#node;
    if (!node) return;
    this.#node = undefined;
    this.#watch?.stop();
    this.#mender?.stop();
    this.#relayUse?.stop();
    this.#exchange?.stop();
    this.#links?.stop();
    this.#trimmer?.stop();
    this.#keeper?.stop();
    node.removeEventListener("peer:identify", this.#onIdentify);
    node.removeEventListener("peer:discovery", this.#onDiscovery);
    node.removeEventListener("peer:disconnect", this.#onDisconnect);
    node.removeEventListener("peer:connect", this.#onConnect);
    node.removeEventListener("connection:close", this.#onConnectionClose);
    node.services.pubsub.removeEventListener("message", this.#onMessage);
    node.services.pubsub.removeEventListener("subscription-change", this.#onSubscriptionChange);
    await node.stop();
    this.#peerTopics.clear();
    this.#origins.clear();
    this.#foundOnLan.clear();
    this.#lanDial = undefined;
    this.#trimmer = undefined;
  }

  /**
   * Subscribes to `topic` while running (a topic followed on the fly); its
   * events are validated like those of the topics the agent started with.
   * Idempotent.
   */
  follow(topic: string): void {
    if (this.#topics.has(topic)) return;
    this.#topics.add(topic);
    if (this.#node) this.#subscribe(this.#node, topic);
  }

  /** Unsubscribes from a topic `follow` added. Idempotent. */
  unfollow(topic: string): void {
    if (!this.#topics.delete(topic)) return;
    const pubsub = this.#node?.services.pubsub;
    pubsub?.unsubscribe(TOPIC_PREFIX + topic);
    pubsub?.topicValidators.delete(TOPIC_PREFIX + topic);
  }

  #subscribe(node: Libp2p<Services>, topic: string): void {
    // The validator first: no message on the topic is taken unchecked.
    node.services.pubsub.topicValidators.set(TOPIC_PREFIX + topic, this.#validate);
    node.services.pubsub.subscribe(TOPIC_PREFIX + topic);
  }

  /** Clock readings from up to `max` connected peers, those that answered. */
  async clocks(max = 5): Promise<ClockReading[]> {
    const node = this.#requireNode();
    const peers = [...new Map(node.getConnections().map((c) => [c.remotePeer.toString(), c.remotePeer])).values()];
    const readings = await Promise.allSettled(peers.slice(0, max).map((peer) => readClock(node, peer)));
    return readings.flatMap((reading) => reading.status === "fulfilled" ? [reading.value] : []);
  }

  /** Whether relays can dial this agent, as far as it has asked them. */
  get reachability(): Reachability {
    return this.#relayUse?.reachability ?? "unknown";
  }

  /**
   * Publishes to the mesh; returns how many peers it was sent to, the
   * event's bytes and fingerprint. An event leaves at once when nothing else
   * is being published; events that come while a publish is under way (a
   * burst) wait for it and then leave together, one batch per topic.
   */
  publish(event: HarkEvent): Promise<Published> {
    const node = this.#requireNode();
    const data = encodeEvent(event);
    this.#validator.remember(event, data);
    return new Promise((resolve, reject) => {
      this.#outbox.push({ event, data, resolve, reject });
      if (!this.#publishing) void this.#drain(node);
    });
  }

  /** Sends what the outbox holds until it stays empty for one turn of the event loop. */
  async #drain(node: Libp2p<Services>): Promise<void> {
    this.#publishing = true;
    try {
      while (this.#outbox.length > 0) {
        const waiting = this.#outbox;
        this.#outbox = [];
        for (const group of batches(waiting)) await this.#send(node, group);
        // Lets the sends that came meanwhile gather before the next round.
        await delay(0);
      }
    } finally {
      this.#publishing = false;
    }
  }

  async #send(node: Libp2p<Services>, group: Outgoing[]): Promise<void> {
    const topic = group[0].event.topic;
    try {
      let message: Uint8Array;
      if (group.length === 1) message = group[0].data;
      else {
        const privateKey = this.#init.privateKey;
        const entries = await Promise.all(group.map((item) => signRecord(privateKey, topic, item.data)));
        message = encodeBatch(entries);
      }
      const result = await node.services.pubsub.publish(TOPIC_PREFIX + topic, message);
      if (isReservedTopic(topic)) this.#membershipPublished += group.length;
      else {
        this.#published += group.length;
        this.#publishedMessages++;
      }
      for (const item of group) {
        item.resolve({ recipients: result.recipients.length, fingerprint: fingerprint(item.data), data: item.data });
      }
    } catch (error) {
      for (const item of group) item.reject(error);
    }
  }

  /**
   * Peers held against `network.max_connections`, how many were let go, and
   * how many connections closed: the trimmer's, the link monitor's, and all.
   */
  get connections(): MeshConnectionStats | undefined {
    const stats = this.#trimmer?.stats;
    if (!stats) return undefined;
    return { ...stats, unanswered: this.#links?.dropped ?? 0, closed: this.#closed };
  }

  /** How many agents this one is connected to now. */
  get peerCount(): number {
    return this.#node?.getPeers().length ?? 0;
  }

  /** The peer ids this agent has a connection to now. */
  get connectedPeers(): string[] {
    return [...new Set(this.#node?.getConnections().map((c) => c.remotePeer.toString()) ?? [])];
  }

  /** Whether this agent has a connection to `peer` now. */
  isConnected(peer: string): boolean {
    return (this.#node?.getConnections(peerIdFromString(peer)).length ?? 0) > 0;
  }

  /** Tells `listener` of peers connecting, disconnecting (the last connection closed) and subscribing to topics. */
  onPeerChange(listener: PeerChangeListener): void {
    this.#peerListener = listener;
  }

  /**
   * Addresses other agents can dial, each ending in this agent's peer id:
   * public ones first, then relayed, then private (LAN) ones. Loopback
   * only when there is nothing else.
   */
  addresses(): string[] {
    return dialable(this.#requireNode().getMultiaddrs()).map(String);
  }

  /** Every address the agent listens on, loopback included. */
  listenAddresses(): string[] {
    return this.#requireNode().getMultiaddrs().map(String);
  }

  async peers(signal?: AbortSignal): Promise<MeshPeer[]> {
    const node = this.#requireNode();
    const byPeer = new Map<string, MeshPeer>();
    for (const connection of node.getConnections()) {
      const id = connection.remotePeer.toString();
      const relay = relayOf(connection.remoteAddr);
      const entry: MeshPeer = byPeer.get(id) ?? {
        peer: id,
        addresses: [],
        direction: connection.direction,
        connection: relay ? "relayed" : "direct",
        relay,
        origin: this.#origins.get(id) ?? (connection.direction === "inbound" ? "inbound" : "dialed"),
        latencyMs: connection.rtt,
        topics: this.#topicsOf(id),
        score: scoreOf(node.services.pubsub, id),
      };
      if (!relay && entry.connection === "relayed") {
        // A direct connection beside a relayed one (after hole punching) is the one that counts.
        entry.connection = "direct";
        entry.relay = undefined;
        entry.direction = connection.direction;
        entry.latencyMs = connection.rtt ?? entry.latencyMs;
        entry.addresses.unshift(connection.remoteAddr.toString());
      } else {
        entry.addresses.push(connection.remoteAddr.toString());
      }
      byPeer.set(id, entry);
    }
    await Promise.all([...byPeer.values()].map(async (entry) => {
      const peerId = node.getConnections().find((c) => c.remotePeer.toString() === entry.peer)?.remotePeer;
      if (!peerId) return;
      entry.host = await this.#hostOf(peerId);
      // The link monitor measures every connection each 15 s; until
      // it has, ping once and remember it, so `hark peers` stays cheap even
      // when called in a loop.
      if (entry.latencyMs !== undefined) return;
      const pinged = this.#pinged.get(entry.peer);
      if (pinged && Date.now() - pinged.at < PING_CACHE_MS) {
        entry.latencyMs = pinged.rtt;
        return;
      }
      try {
        const timeout = AbortSignal.timeout(1000);
        entry.latencyMs = await node.services.ping.ping(peerId, {
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        this.#pinged.set(entry.peer, { rtt: entry.latencyMs, at: Date.now() });
      } catch {
        // Unknown for now.
      }
    }));
    return [...byPeer.values()].sort((a, b) => a.peer.localeCompare(b.peer));
  }

  /**
   * Topics a peer subscribes to. For this agent's own topics gossipsub's
   * own table is the authority (subscription-change events can be missed
   * when a peer reconnects); other topics come from those events.
   */
  #topicsOf(peer: string): string[] {
    const pubsub = this.#requireNode().services.pubsub;
    const topics = new Set(this.#peerTopics.get(peer));
    for (const topic of this.#topics) {
      const subscribed = pubsub.getSubscribers(TOPIC_PREFIX + topic).some((id) => id.toString() === peer);
      if (subscribed) topics.add(topic);
      else topics.delete(topic);
    }
    return [...topics].sort();
  }

  async #hostOf(peerId: PeerId): Promise<string | undefined> {
    try {
      const peer = await this.#requireNode().peerStore.get(peerId);
      const agent = peer.metadata.get("AgentVersion");
      if (!agent) return undefined;
      return /\bhost=(\S+)/.exec(new TextDecoder().decode(agent))?.[1];
    } catch {
      return undefined;
    }
  }

  #requireNode(): Libp2p<Services> {
    if (!this.#node) throw new HarkError("the mesh is not running");
    return this.#node;
  }

  #validate = (source: PeerId, message: Message): TopicValidatorResult => {
    const verdict = this.#validator.validate(source.toString(), message);
    if ("events" in verdict) {
      this.#validated.set(message, verdict.events);
    } else if (verdict.reason !== "duplicate") {
      this.#logRejection(source.toString(), message.topic);
    }
    return verdict.result;
  };

  #logRejection(source: string, topic: string): void {
    const { peer, reason } = this.#validator.lastRejection!;
    const now = Date.now();
    const quiet = now - (this.#warned.get(peer) ?? -Infinity) < REJECTION_WARN_INTERVAL_MS;
    if (!quiet) {
      if (this.#warned.size > 1000) this.#warned.clear();
      this.#warned.set(peer, now);
    }
    const properties = { peer, source, topic, reason };
    const text = "Rejected a message from {peer} (via {source}) on {topic}: {reason}";
    if (quiet) log.debug(text, properties);
    else log.warn(text, properties);
  }

  #onMessage = (evt: CustomEvent<Message>): void => {
    const message = evt.detail;
    const valid = this.#validated.get(message);
    if (!valid) return;
    this.#validated.delete(message);
    // The validator accepts signed messages only.
    if (message.type !== "signed") return;
    for (const { event, fingerprint, data, signed } of valid) {
      this.#init.onEvent(event, fingerprint, {
        data,
        // A single event's own signature is the message's; a batch carries one per event.
        signed: signed ?? { seqno: seqnoBytes(message.sequenceNumber), signature: message.signature },
      });
    }
  };

  #onSubscriptionChange = (
    evt: CustomEvent<{ peerId: PeerId; subscriptions: { topic: string; subscribe: boolean }[] }>,
  ): void => {
    const id = evt.detail.peerId.toString();
    const topics = this.#peerTopics.get(id) ?? new Set<string>();
    for (const { topic, subscribe } of evt.detail.subscriptions) {
      if (!topic.startsWith(TOPIC_PREFIX)) continue;
      const name = topic.slice(TOPIC_PREFIX.length);
      if (subscribe) {
        topics.add(name);
        this.#peerListener?.subscribed(id, name);
      } else topics.delete(name);
    }
    this.#peerTopics.set(id, topics);
  };

  #onConnect = (evt: CustomEvent<PeerId>): void => {
    this.#peerListener?.connected(evt.detail.toString());
  };

  #onConnectionClose = (): void => {
    this.#closed++;
  };

  #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.#peerTopics.delete(evt.detail.toString());
    this.#pinged.delete(evt.detail.toString());
    this.#origins.delete(evt.detail.toString());
    this.#peerListener?.disconnected(evt.detail.toString());
  };

  /** Every identified peer is remembered, with the addresses it announced, and kept. */
  #onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { peerId, listenAddrs, connection } = evt.detail;
    const id = peerId.toString();
    if (!this.#origins.has(id) && connection.direction === "inbound") this.#origins.set(id, "inbound");
    const addresses = rememberable(listenAddrs, isLoopback(connection.remoteAddr));
    if (addresses.length === 0) return;
    this.#init.book?.remember(id, addresses.map(String));
    this.#keeper?.remember(id);
  };

  /**
   * This host's addresses changed: connections over an address that is gone
   * are dead, and peers may be reachable now that were not. Checks every
   * connection, drops the dead, and redials known peers at once.
   */
  #onAddressChange = (added: string[], removed: string[]): void => {
    const node = this.#node;
    if (!node) return;
    log.info("This host's addresses changed (added: {added}; removed: {removed}); checking connections", {
      added: added.join(" ") || "none",
      removed: removed.join(" ") || "none",
    });
    void checkConnections(node.getConnections()).then((dropped) => {
      if (dropped > 0) log.info("Dropped {dropped} dead connection(s)", { dropped });
      this.#keeper?.redialNow();
      this.#relayUse?.addressesChanged();
      this.#exchange?.retrySoon();
    });
  };

  /**
   * mDNS discovery, noting which peers it found: libp2p also reports
   * `peer:discovery` for every peer that enters its peer store (remembered,
   * exchanged), and those have their own dialers.
   */
  async #mdns() {
    const mdns = await loadMdns();
    const create = mdns({ serviceTag: await mdnsServiceTag(this.#init.network) });
    return (components: Parameters<typeof create>[0]) => {
      const discovery = create(components);
      discovery.addEventListener("peer", (evt) => this.#foundOnLan.add(evt.detail.id.toString()));
      return discovery;
    };
  }

  #onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    const node = this.#node;
    const peer = evt.detail;
    if (!this.#foundOnLan.delete(peer.id.toString())) return;
    if (!node) return;
    const low = this.#trimmer?.low ?? Infinity;
    this.#lanDial ??= new LanDial(node, {
      // A relay, with no low watermark, still dials no more of what mDNS finds than it used to.
      maxPeers: Number.isFinite(low) ? low : LAN_DIAL_MAX_PEERS,
      dialTimeoutMs: DIAL_TIMEOUT_MS,
      onConnected: (connected) => this.#origins.set(connected, "mdns"),
      policy: this.#trimmer,
    });
    this.#lanDial.found(peer.id);
  };
}

export interface Published {
  recipients: number;
  fingerprint: number;
  data: Uint8Array;
}

interface Outgoing {
  event: HarkEvent;
  data: Uint8Array;
  resolve: (published: Published) => void;
  reject: (error: unknown) => void;
}

/** Groups waiting events into messages: one topic each, in order, within the batch limits. */
function batches(waiting: Outgoing[]): Outgoing[][] {
  const byTopic = new Map<string, Outgoing[][]>();
  const sizes = new Map<Outgoing[], number>();
  for (const item of waiting) {
    const groups = byTopic.get(item.event.topic) ?? [];
    byTopic.set(item.event.topic, groups);
    const last = groups.at(-1);
    const size = entrySize(item.data.length);
    if (last && last.length < MAX_BATCH_EVENTS && sizes.get(last)! + size <= MAX_BATCH_BYTES) {
      last.push(item);
      sizes.set(last, sizes.get(last)! + size);
    } else {
      const group = [item];
      groups.push(group);
      sizes.set(group, 1 + size);
    }
  }
  return [...byTopic.values()].flat();
}

/** The GossipSub interface leaves out the implementation's `getScore`. */
function scoreOf(pubsub: GossipSub, peer: string): number | undefined {
  return (pubsub as unknown as { getScore?: (peer: string) => number }).getScore?.(peer);
}

/** Peers in this agent's gossipsub mesh for any topic; the GossipSub interface leaves out `getMeshPeers`. */
function meshPeersOf(pubsub: GossipSub): string[] {
  const impl = pubsub as unknown as { getMeshPeers?: (topic: string) => string[] };
  if (typeof impl.getMeshPeers !== "function") throw new Error("gossipsub no longer has getMeshPeers");
  return pubsub.getTopics().flatMap((topic) => impl.getMeshPeers!(topic));
}

/** The GossipSub interface leaves out the implementation's streams to each peer, keyed by peer id. */
function outboundStreamsOf(pubsub: GossipSub): ReadonlyMap<string, unknown> | undefined {
  return (pubsub as unknown as { streamsOutbound?: ReadonlyMap<string, unknown> }).streamsOutbound;
}

function checkAddress(text: string, key: string): Multiaddr {
  try {
    return multiaddr(text);
  } catch (error) {
    throw new ConfigError(`${key}: "${text}" is not a valid multiaddr (${(error as Error).message})`);
  }
}

function hostOf(address: Multiaddr): string {
  return address.getComponents().find((c) => c.name === "ip4" || c.name === "ip6")?.value ?? "";
}

function isLoopback(address: Multiaddr): boolean {
  const host = hostOf(address);
  return host.startsWith("127.") || host === "::1";
}

function isRelayed(address: Multiaddr): boolean {
  return address.getComponents().some((c) => c.name === "p2p-circuit");
}

/** The relay's peer id in a `/…/p2p/RELAY/p2p-circuit/…` address. */
function relayOf(address: Multiaddr): string | undefined {
  const components = address.getComponents();
  const circuit = components.findIndex((c) => c.name === "p2p-circuit");
  if (circuit < 0) return undefined;
  return components.slice(0, circuit).findLast((c) => c.name === "p2p")?.value;
}

/** Link-local and unspecified addresses mean nothing to another host. */
function isUseless(address: Multiaddr): boolean {
  const host = hostOf(address);
  return host === "0.0.0.0" || host === "::" || host.toLowerCase().startsWith("fe80:");
}

/** Public, then relayed, then private addresses; loopback only when nothing else is left. */
function dialable(addresses: Multiaddr[]): Multiaddr[] {
  const rank = (address: Multiaddr) => isRelayed(address) ? 1 : isPrivate(address) ? 2 : 0;
  const usable = addresses.filter((address) => !isUseless(address));
  // A relayed address through a relay's loopback address is loopback too.
  const external = usable.filter((address) => !isLoopback(address));
  return (external.length > 0 ? external : usable).sort((a, b) => rank(a) - rank(b));
}

/** Addresses worth redialing a peer at; loopback ones only between agents on one host. */
function rememberable(addresses: Multiaddr[], onLoopback: boolean): Multiaddr[] {
  return addresses.filter((address) => !isUseless(address) && (onLoopback || !isLoopback(address)));
}

function parseAddresses(texts: string[]): Multiaddr[] {
  return texts.flatMap((text) => {
    try {
      return [multiaddr(text)];
    } catch {
      return [];
    }
  });
}

function explainStartError(error: unknown, listen: string[]): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (/EADDRINUSE|address already in use|AddrInUse/i.test(message + String((error as { code?: string }).code))) {
    return new HarkError(
      `Cannot listen on ${
        listen.join(", ")
      }: address already in use. Is another agent running? Pick another port with network.listen or HARK_LISTEN.`,
      { cause: error },
    );
  }
  if (/EADDRNOTAVAIL|not available|AddrNotAvailable/i.test(message)) {
    return new HarkError(`Cannot listen on ${listen.join(", ")}: that address is not on this host.`, { cause: error });
  }
  return new HarkError(`Cannot start the network: ${message}`, { cause: error });
}
