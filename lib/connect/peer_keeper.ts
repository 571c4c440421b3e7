/**
 * Keeps known peers connected: the configured `network.peers` and the peers
 * this agent remembers from earlier connections. Each is dialed at start and
 * redialed whenever it drops, for as long as the agent runs (libp2p's own
 * reconnect gives up after a few tries), with exponential backoff and full
 * jitter (redial_backoff.ts): a fleet that lost the same relay, or started
 * together, spreads its redials out instead of retrying in lockstep.
 *
 * Configured peers are tagged KEEP_ALIVE, so the connection manager never
 * prunes them, and are retried forever. Remembered peers may be long gone,
 * so they are not retried after an hour of failures: if one comes back it
 * dials this agent, which it remembers too. A change of this host's
 * addresses retries them all at once (`redialNow`).
 *
 * Remembered peers are dialed only while the dial policy has room (below
 * the low watermark of `network.max_connections`, connection_trimmer.ts) and
 * not a peer parted with lately: one that this agent let go, or that let it
 * go. Those skipped wait until a disconnect makes room. A configured peer
 * that let this agent go is redialed all the same, but from the widest
 * backoff window (0–25 s) rather than at once: a peer named in
 * `network.peers` is kept, and the other side keeps it when it comes back.
 */

import type { Libp2p, PeerId } from "@libp2p/interface";
import { KEEP_ALIVE, multiaddr, peerIdFromString } from "../mesh/libp2p.ts";
import type { Multiaddr } from "@multiformats/multiaddr";
import { getLogger } from "@logtape/logtape";
import { redialDelayMs } from "./redial_backoff.ts";
import type { DialPolicy } from "./connection_trimmer.ts";
import { shuffle } from "../util/shuffle.ts";

const log = getLogger(["hark", "peers"]);

export type KeptOrigin = "configured" | "remembered";

export interface PeerKeeperInit {
  /** Give up one dial attempt after this long. @default 5000 */
  dialTimeoutMs?: number;
  /** The first retry waits up to this long; each failure doubles the window. @default 1000 */
  minBackoffMs?: number;
  /**
   * The widest retry window. With the dial timeout (5 s) a peer that is down
   * is tried at least every 30 s, as docs/networks.md promises; wider would
   * spread a large fleet's redials further but leave a link that came back
   * unused for longer. @default 25000
   */
  maxBackoffMs?: number;
  /** Stop redialing a remembered peer that has failed this long. @default 3600000 */
  giveUpAfterMs?: number;
  /** Called when a dial by this keeper connected. */
  onConnected?: (peer: string, origin: KeptOrigin) => void;
  /** For tests. @default Date.now */
  now?: () => number;
  /** For tests: the jitter's source, in [0, 1). @default Math.random */
  random?: () => number;
  /** Asked before each dial of a remembered peer. @default every dial allowed */
  policy?: DialPolicy;
}

interface Target {
  origin: KeptOrigin;
  /** For configured peers: the address as configured. */
  address?: Multiaddr;
  peerId?: string;
  attempt: number;
  timer?: ReturnType<typeof setTimeout>;
  dialing: boolean;
  /** When the current run of failed dials began. */
  failingSince?: number;
  /** When another peer's connection last brought this one's redial forward. */
  hurriedAt?: number;
  /** A remembered peer left undialed for want of room, until a disconnect makes some. */
  skipped?: boolean;
}

export class PeerKeeper {
  #node: Libp2p;
  #targets: Target[];
  #init: Required<Omit<PeerKeeperInit, "onConnected" | "policy">> & Pick<PeerKeeperInit, "onConnected" | "policy">;
  #running = false;
  #abort = new AbortController();

  /** `configured` are multiaddrs; `remembered` are peer ids whose addresses are in the peer store. */
  constructor(node: Libp2p, configured: string[], remembered: string[] = [], init: PeerKeeperInit = {}) {
    this.#node = node;
    this.#targets = configured.map((text) => {
      const address = multiaddr(text);
      return {
        origin: "configured" as const,
        address,
        peerId: address.getComponents().findLast((c) => c.name === "p2p")?.value,
        attempt: 0,
        dialing: false,
      };
    });
    this.#init = {
      dialTimeoutMs: init.dialTimeoutMs ?? 5000,
      minBackoffMs: init.minBackoffMs ?? 1000,
      maxBackoffMs: init.maxBackoffMs ?? 25_000,
      giveUpAfterMs: init.giveUpAfterMs ?? 3_600_000,
      now: init.now ?? Date.now,
      random: init.random ?? Math.random,
      onConnected: init.onConnected,
      policy: init.policy,
    };
    // In a random order: remembered peers are listed as first met, and a
    // fleet restarting together would otherwise dial its oldest members
    // first, every agent the same ones, which then close dozens each to stay
    // within max_connections. (300 agents on one LAN in the simulator.)
    for (const peer of shuffle([...remembered], this.#init.random)) this.#addRemembered(peer);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    this.#node.addEventListener("peer:disconnect", this.#onDisconnect);
    this.#node.addEventListener("peer:connect", this.#onConnect);
    for (const target of this.#targets) void this.#dial(target);
  }

  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#abort.abort();
    this.#node.removeEventListener("peer:disconnect", this.#onDisconnect);
    this.#node.removeEventListener("peer:connect", this.#onConnect);
    for (const target of this.#targets) {
      clearTimeout(target.timer);
      target.timer = undefined;
    }
  }

  /** Whether `peer` is one of the configured `network.peers` (as far as its id is known). */
  isConfigured(peer: string): boolean {
    return this.#targets.some((target) => target.origin === "configured" && target.peerId === peer);
  }

  /** Keeps a peer this agent got connected to some other way; its addresses must be in the peer store. */
  remember(peer: string): void {
    if (peer === this.#node.peerId.toString() || this.#targets.some((target) => target.peerId === peer)) return;
    this.#addRemembered(peer);
  }

  /**
   * This host's addresses changed (a laptop moved, a link came back): every
   * peer not connected now is dialed at once, whatever its backoff.
   */
  redialNow(): void {
    if (!this.#running) return;
    for (const target of this.#targets) {
      if (target.dialing || (target.peerId && this.#connected(target.peerId))) continue;
      clearTimeout(target.timer);
      target.attempt = 0;
      target.failingSince = undefined;
      void this.#dial(target);
    }
  }

  /** Peers waiting to be redialed, by origin. */
  get waiting(): Record<KeptOrigin, number> {
    const waiting = { configured: 0, remembered: 0 };
    for (const target of this.#targets) if (target.timer !== undefined) waiting[target.origin]++;
    return waiting;
  }

  #addRemembered(peer: string): void {
    this.#targets.push({ origin: "remembered", peerId: peer, attempt: 0, dialing: false });
  }

  #connected(peer: string): boolean {
    return this.#node.getConnections().some((connection) => connection.remotePeer.toString() === peer);
  }

  #onDisconnect = (event: CustomEvent<PeerId>): void => {
    const id = event.detail.toString();
    const policy = this.#init.policy;
    for (const target of this.#targets) {
      if (target.peerId === id && target.timer === undefined && !target.dialing) {
        if (target.origin === "remembered" && policy && !policy.mayDial(id)) {
          target.skipped = true;
          continue;
        }
        log.debug("Lost {origin} peer {peer}; redialing", { origin: target.origin, peer: id });
        // A configured peer that let this agent go is not hammered: its redial starts at the widest window.
        target.attempt = policy?.parted(id) ? Infinity : 0;
        target.failingSince = undefined;
        this.#schedule(target);
      }
    }
    this.#wakeSkipped();
  };

  /** Room below the low watermark: remembered peers skipped for want of it are dialed, as many as fit. */
  #wakeSkipped(): void {
    const policy = this.#init.policy;
    if (!policy) return;
    let room = policy.room() - this.#dialingRemembered();
    for (const target of this.#targets) {
      if (room <= 0) return;
      if (!target.skipped || target.timer !== undefined || target.dialing) continue;
      if (policy.parted(target.peerId!) || this.#connected(target.peerId!)) continue;
      target.skipped = false;
      target.attempt = 0;
      target.failingSince = undefined;
      this.#schedule(target);
      room--;
    }
  }

  /**
   * Remembered peers being dialed: they count against the room before they
   * connect. Not those waiting out a backoff, which are mostly peers gone.
   */
  #dialingRemembered(): number {
    return this.#targets.filter((target) => target.origin === "remembered" && target.dialing).length;
  }

  /**
   * A peer got through: the network may be back (a healed partition, a
   * laptop that woke up). Configured peers waiting out a backoff are dialed
   * within the first, short window, at a random moment in it; remembered
   * ones, possibly hundreds and many gone, keep their pace. Each is hurried
   * at most once per widest window and keeps its backoff: on a relay or a
   * busy agent, where connections arrive all the time, every one would
   * otherwise send all its waiting redials out again.
   */
  #onConnect = (event: CustomEvent<PeerId>): void => {
    const id = event.detail.toString();
    const now = this.#init.now();
    for (const target of this.#targets) {
      if (target.origin !== "configured" || target.timer === undefined || target.dialing) continue;
      if (target.peerId === id || (target.peerId && this.#init.policy?.parted(target.peerId))) continue;
      if (target.hurriedAt !== undefined && now - target.hurriedAt < this.#init.maxBackoffMs) continue;
      target.hurriedAt = now;
      clearTimeout(target.timer);
      const delay = redialDelayMs(
        0,
        { minMs: this.#init.minBackoffMs, maxMs: this.#init.maxBackoffMs },
        this.#init.random,
      );
      target.timer = setTimeout(() => void this.#dial(target), delay);
    }
  };

  async #dial(target: Target): Promise<void> {
    target.timer = undefined;
    if (!this.#running) return;
    if (target.origin === "remembered" && this.#connected(target.peerId!)) return;
    const policy = this.#init.policy;
    if (
      target.origin === "remembered" && policy &&
      (policy.room() - this.#dialingRemembered() <= 0 || policy.parted(target.peerId!))
    ) {
      target.skipped = true;
      return;
    }
    target.dialing = true;
    try {
      const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#init.dialTimeoutMs)]);
      const connection = await this.#node.dial(target.address ?? peerIdFromString(target.peerId!), { signal });
      if (!this.#running) return;
      target.peerId = connection.remotePeer.toString();
      target.attempt = 0;
      target.failingSince = undefined;
      if (target.origin === "configured") {
        await this.#node.peerStore.merge(connection.remotePeer, { tags: { [KEEP_ALIVE]: { value: 1 } } });
      }
      this.#init.onConnected?.(target.peerId, target.origin);
      log.debug("Connected to {origin} peer {peer}", { origin: target.origin, peer: target.peerId });
    } catch (error) {
      if (!this.#running) return;
      log.debug("Cannot reach {origin} peer {peer}: {error}", {
        origin: target.origin,
        peer: target.address?.toString() ?? target.peerId,
        error: (error as Error).message,
      });
      this.#schedule(target);
    } finally {
      target.dialing = false;
    }
  }

  #schedule(target: Target): void {
    if (!this.#running) return;
    const now = this.#init.now();
    target.failingSince ??= now;
    if (target.origin === "remembered" && now - target.failingSince >= this.#init.giveUpAfterMs) {
      log.debug("Giving up on remembered peer {peer} until this host's addresses change", { peer: target.peerId });
      return;
    }
    const delay = redialDelayMs(target.attempt, {
      minMs: this.#init.minBackoffMs,
      maxMs: this.#init.maxBackoffMs,
    }, this.#init.random);
    target.attempt++;
    target.timer = setTimeout(() => void this.#dial(target), delay);
  }
}
