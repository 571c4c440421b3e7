/**
 * Keeps an agent's connections between a low and a high watermark.
 *
 * libp2p's own pruner never closes a connection that carries a gossipsub
 * stream, which is every connection between agents, so on a LAN of hundreds
 * an agent held every peer that dialed it. Past `high` peers this closes the
 * excess, back to `high`; the dialers that are not told to keep a peer (mDNS
 * finds, remembered peers, peer exchange) ask `mayDial` first and dial only
 * below `low`, so the two agree: an agent between `low` and `high` neither
 * dials nor closes, and the gap leaves room for others' dials. Inbound
 * connections are always accepted, so a late joiner finds someone; the
 * excess is trimmed once things settle.
 *
 * Only the excess: closing down to `low` let go of a quarter of an agent's
 * peers at once, each of which could fall below its own `low` and dial an
 * agent that was full in turn. In the simulator (70 agents on one LAN) that
 * cascade never settled: 6 new connections and 4 trims per agent a minute,
 * idle. Closing one peer for each one too many ends where it began.
 *
 * Never closed: peers in this agent's gossipsub mesh for any topic (closing
 * one makes gossipsub graft another and may drop an event in flight),
 * configured `network.peers`, relays this agent holds a reservation on or
 * reaches peers through, peers with a catch-up session open, and peers that
 * came back after being trimmed (they name this agent in `network.peers`, or
 * have nobody else: refusing them again would only make them redial).
 *
 * What the network let this agent keep: a peer that lets it go is full,
 * and so, most likely, are the others this agent has not dialed yet (on a
 * LAN started one machine after another, the first ones are). Dialing on
 * toward `low` would only be let go again, and every disconnect woke the
 * dialers for the next try: in the simulator (300 agents on one LAN) the
 * agents short of `low` kept that up once their partings lapsed, 2.7 new
 * connections, 6 catch-up sessions and 400 ms of CPU a minute each, idle.
 * So a farewell lowers the dial target to the peers left after it (never
 * below WELL_CONNECTED), and it grows back by one peer for each
 * `partedForMs` without another: a fleet with room finds it again, one
 * probe at a time. Below that target, peers lost are replaced as before.
 *
 * Trimming runs on `peer:connect`, coalesced over `settleMs`: an agent below
 * `high` sets no timer, and an idle one does nothing.
 */

import type { Connection, Libp2p, PeerId } from "@libp2p/interface";
import { getLogger } from "@logtape/logtape";

const log = getLogger(["hark", "peers"]);

/**
 * A reported peer count from which a peer counts as reachable otherwise: peer
 * exchange stops asking at 8 peers (peer_exchange.ts), so such a peer is not
 * stranded when this agent lets it go.
 */
const WELL_CONNECTED = 8;
/** A peer this agent let go, or that let this agent go, is not redialed for this long. @default */
const PARTED_FOR_MS = 10 * 60_000;

/** The low watermark for a high one: three quarters, so a quarter is left for others' dials. */
export function lowWatermark(high: number): number {
  return Number.isFinite(high) ? Math.floor(high * 3 / 4) : Infinity;
}

/** What dialers that are not told to keep a peer ask before dialing. */
export interface DialPolicy {
  /** Whether to dial `peer` now: below the low watermark, and not parted lately. */
  mayDial(peer: string): boolean;
  /** How many more peers dialers may add before reaching the low watermark, or what the network let this agent keep. */
  room(): number;
  /** Whether this agent and `peer` let each other go lately. */
  parted(peer: string): boolean;
}

export interface ConnectionTrimmerInit {
  /** Past this many peers, connections are closed. Infinity for no limit. */
  high: number;
  /** Dialers stop at this many, or fewer after a peer let this agent go. @default lowWatermark(high) */
  low?: number;
  /** Peers in this agent's gossipsub mesh, for every topic it subscribes to. */
  meshPeers: () => Iterable<string>;
  /** Peers this agent is told to keep (`network.peers`). */
  kept: (peer: string) => boolean;
  /** How many peers `peer` last said it had (its membership status), if known. */
  reportedPeers?: (peer: string) => number | undefined;
  /** Protocols whose open streams mean a session in flight (catch-up). */
  busyProtocols?: string[];
  /** Tells a peer about to be let go whom else it can reach; must resolve or throw within a few seconds. */
  farewell?: (peer: PeerId) => Promise<void>;
  /** Connections arriving within this are trimmed together. @default 1000 */
  settleMs?: number;
  /** @default PARTED_FOR_MS */
  partedForMs?: number;
  /** For tests. @default Date.now */
  now?: () => number;
}

export interface ConnectionStats {
  peers: number;
  /** The high watermark; null for no limit. */
  max: number | null;
  low: number | null;
  /** Peers that connected since the agent started. */
  connects: number;
  /** Peers this agent let go to stay under the high watermark. */
  trimmed: number;
  /** Where dialers stop now: `low`, or fewer after a peer let this agent go; null for no limit. */
  target: number | null;
  /** Peers that let this agent go (they said farewell). */
  released: number;
}

export class ConnectionTrimmer implements DialPolicy {
  #node: Libp2p;
  #init: ConnectionTrimmerInit;
  readonly high: number;
  readonly low: number;
  #running = false;
  #timer?: ReturnType<typeof setTimeout>;
  #trimming = false;
  /** Peers this agent let go, and when. */
  #trimmedAt = new Map<string, number>();
  /** Peers that let this agent go (they said farewell), and when. */
  #releasedAt = new Map<string, number>();
  /** Peers that came back after being trimmed: kept while connected. */
  #insisting = new Set<string>();
  /** Peers that said farewell and have not hung up yet. */
  #leaving = new Set<string>();
  /** The dial target a farewell set, and when; none while it is `low`. */
  #lowered?: { peers: number; at: number };
  /**
   * The connected peers, kept from connect and disconnect events while
   * running: libp2p's getPeers() builds a list of every connection each time,
   * and dialers ask for the room left once per candidate.
   */
  #peers = new Set<string>();
  #connects = 0;
  #trimmed = 0;
  #released = 0;

  constructor(node: Libp2p, init: ConnectionTrimmerInit) {
    this.#node = node;
    this.#init = init;
    this.high = init.high;
    this.low = Math.min(init.low ?? lowWatermark(init.high), init.high);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#peers = new Set(this.#node.getPeers().map(String));
    this.#node.addEventListener("peer:connect", this.#onConnect);
    this.#node.addEventListener("peer:disconnect", this.#onDisconnect);
    this.#schedule();
  }

  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#node.removeEventListener("peer:connect", this.#onConnect);
    this.#node.removeEventListener("peer:disconnect", this.#onDisconnect);
    this.#peers.clear();
    this.#leaving.clear();
  }

  #now(): number {
    return (this.#init.now ?? Date.now)();
  }

  /** How many peers are connected. */
  get #peerCount(): number {
    return this.#running ? this.#peers.size : this.#node.getPeers().length;
  }

  get stats(): ConnectionStats {
    return {
      peers: this.#peerCount,
      max: Number.isFinite(this.high) ? this.high : null,
      low: Number.isFinite(this.low) ? this.low : null,
      target: Number.isFinite(this.low) ? this.#target() : null,
      connects: this.#connects,
      trimmed: this.#trimmed,
      released: this.#released,
    };
  }

  room(): number {
    return Math.max(0, this.#target() - this.#peerCount);
  }

  /** Where dialers stop: `low`, or what a farewell left, grown by one peer for each `partedForMs` since. */
  #target(): number {
    if (this.#lowered === undefined) return this.low;
    const elapsed = this.#now() - this.#lowered.at;
    const target = this.#lowered.peers + Math.floor(elapsed / (this.#init.partedForMs ?? PARTED_FOR_MS));
    if (target < this.low) return target;
    this.#lowered = undefined;
    return this.low;
  }

  mayDial(peer: string): boolean {
    return this.room() > 0 && !this.parted(peer);
  }

  /** Whether this agent and `peer` let each other go lately, so neither should dial the other. */
  parted(peer: string): boolean {
    const now = this.#now();
    const forMs = this.#init.partedForMs ?? PARTED_FOR_MS;
    return [this.#trimmedAt, this.#releasedAt].some((parted) => {
      const at = parted.get(peer);
      if (at === undefined) return false;
      if (now - at < forMs) return true;
      parted.delete(peer);
      return false;
    });
  }

  /**
   * `peer` said it is letting this agent go (farewell): it is not redialed
   * for a while, and dialers stop at the peers left without it.
   */
  releasedBy(peer: string): void {
    const now = this.#now();
    this.#forgetOld(this.#releasedAt);
    this.#releasedAt.set(peer, now);
    this.#released++;
    // An agent with no limit (a relay) has no target to lower.
    if (!Number.isFinite(this.low)) return;
    // The farewell comes before the hang-up, and a few full peers may say it at once.
    this.#leaving.add(peer);
    const left = Math.max(this.#peerCount - this.#leaving.size, Math.min(WELL_CONNECTED, this.low));
    const target = Math.min(this.#target(), left);
    if (target < this.low) this.#lowered = { peers: target, at: now };
  }

  #onConnect = (event: CustomEvent<PeerId>): void => {
    this.#connects++;
    const id = event.detail.toString();
    this.#peers.add(id);
    if (this.#trimmedAt.has(id) && this.parted(id)) {
      const inbound = this.#node.getConnections(event.detail).some((c) => c.direction === "inbound");
      log.debug("Peer {peer} came back ({direction}) after being let go; keeping it", {
        peer: id,
        direction: inbound ? "it dialed: it names this agent in network.peers?" : "dialed by this agent",
      });
      this.#insisting.add(id);
    }
    this.#schedule();
  };

  #onDisconnect = (event: CustomEvent<PeerId>): void => {
    const id = event.detail.toString();
    this.#peers.delete(id);
    this.#insisting.delete(id);
    this.#leaving.delete(id);
  };

  /** One trim for every connection within `settleMs`, and none while at or below `high`. */
  #schedule(): void {
    if (!this.#running || this.#timer !== undefined || this.#peerCount <= this.high) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#trim();
    }, this.#init.settleMs ?? 1000);
  }

  async #trim(): Promise<void> {
    if (!this.#running || this.#trimming) return;
    this.#trimming = true;
    try {
      const connections = this.#node.getConnections();
      const peers = new Map<string, Connection[]>();
      for (const connection of connections) {
        const id = connection.remotePeer.toString();
        peers.set(id, [...(peers.get(id) ?? []), connection]);
      }
      if (peers.size <= this.high) return;
      const spared = this.#spared(connections);
      const candidates = [...peers].filter(([id]) => !spared.has(id)).map(([id, held]) => ({
        id,
        peer: held[0].remotePeer,
        wellConnected: (this.#init.reportedPeers?.(id) ?? 0) >= WELL_CONNECTED,
        inbound: held.every((connection) => connection.direction === "inbound"),
        openedAt: Math.max(...held.map((connection) => connection.timeline.open)),
      }));
      // First those reachable otherwise (they said they have enough peers),
      // then those that dialed this agent (they have dialers of their own;
      // what this agent dialed it chose, and would dial again), then the
      // newest (the oldest have proven themselves, and gossipsub's mesh and
      // catch-up rest on them). The peer id settles ties, so two runs over
      // the same connections close the same peers.
      candidates.sort((a, b) =>
        Number(b.wellConnected) - Number(a.wellConnected) || Number(b.inbound) - Number(a.inbound) ||
        b.openedAt - a.openedAt || a.id.localeCompare(b.id)
      );
      const chosen = candidates.slice(0, peers.size - this.high);
      if (chosen.length === 0) {
        log.debug("{peers} peers, above network.max_connections ({high}), but every one is kept", {
          peers: peers.size,
          high: this.high,
        });
        return;
      }
      const now = this.#now();
      this.#forgetOld(this.#trimmedAt);
      for (const { id } of chosen) this.#trimmedAt.set(id, now);
      this.#trimmed += chosen.length;
      await Promise.all(chosen.map(async ({ id, peer }) => {
        // Before the hang-up: the peer learns whom else to dial, and not to redial this agent.
        await this.#init.farewell?.(peer).catch((error) => {
          log.debug("Could not say farewell to {peer}: {error}", { peer: id, error: (error as Error).message });
        });
        if (!this.#running) return;
        await this.#node.hangUp(peer).catch(() => {});
      }));
      log.info(
        "Closed connections to {closed} peers to stay within network.max_connections ({high}): {left} left, {spared} of them kept as mesh, configured, relay or busy peers",
        { closed: chosen.length, high: this.high, left: this.#peerCount, spared: spared.size },
      );
    } catch (error) {
      // Without knowing which peers to spare, closing none is the safe side.
      log.warn("Cannot trim connections: {error}", { error: (error as Error).message });
    } finally {
      this.#trimming = false;
      // Connections that came during the trim are looked at again.
      this.#schedule();
    }
  }

  /** The peers never closed, from the connections held now. */
  #spared(connections: Connection[]): Set<string> {
    const spared = new Set<string>([...this.#init.meshPeers(), ...this.#insisting]);
    const busy = this.#init.busyProtocols ?? [];
    for (const connection of connections) {
      const id = connection.remotePeer.toString();
      if (this.#init.kept(id)) spared.add(id);
      // Relayed connections ride on the relay's: closing it closes them.
      const relay = relayOf(connection.remoteAddr.toString());
      if (relay) spared.add(relay);
      if (connection.streams.some((stream) => busy.includes(stream.protocol ?? ""))) spared.add(id);
    }
    // Relays this agent holds a reservation on: its relayed addresses go through them.
    for (const address of this.#node.getMultiaddrs()) {
      const relay = relayOf(address.toString());
      if (relay) spared.add(relay);
    }
    return spared;
  }

  #forgetOld(parted: Map<string, number>): void {
    if (parted.size < 1000) return;
    const now = this.#now();
    const forMs = this.#init.partedForMs ?? PARTED_FOR_MS;
    for (const [peer, at] of parted) if (now - at >= forMs) parted.delete(peer);
  }
}

/** The relay's peer id in a `/…/p2p/RELAY/p2p-circuit/…` address. */
function relayOf(address: string): string | undefined {
  const circuit = address.indexOf("/p2p-circuit");
  if (circuit < 0) return undefined;
  return /\/p2p\/([^/]+)$/.exec(address.slice(0, circuit))?.[1];
}
