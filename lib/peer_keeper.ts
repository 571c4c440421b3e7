/**
 * Keeps the configured `network.peers` connected. Each is dialed at start,
 * tagged KEEP_ALIVE so the connection manager never prunes it, and redialed
 * with capped exponential backoff whenever it drops, for as long as the
 * agent runs (libp2p's own reconnect gives up after a few tries).
 */

import { KEEP_ALIVE, type Libp2p, type PeerId } from "@libp2p/interface";
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr";
import { getLogger } from "@logtape/logtape";

const log = getLogger(["hark", "peers"]);

export interface PeerKeeperInit {
  /** Give up one dial attempt after this long. @default 5000 */
  dialTimeoutMs?: number;
  /** First retry delay. @default 500 */
  minBackoffMs?: number;
  /**
   * Longest retry delay. Short, so a link that comes back is used within
   * seconds; a failed dial of a known address costs next to nothing. @default 5000
   */
  maxBackoffMs?: number;
}

interface Target {
  address: Multiaddr;
  peerId?: string;
  attempt: number;
  timer?: ReturnType<typeof setTimeout>;
  dialing: boolean;
}

export class PeerKeeper {
  #node: Libp2p;
  #targets: Target[];
  #init: Required<PeerKeeperInit>;
  #running = false;
  #abort = new AbortController();

  constructor(node: Libp2p, addresses: string[], init: PeerKeeperInit = {}) {
    this.#node = node;
    this.#targets = addresses.map((text) => {
      const address = multiaddr(text);
      return {
        address,
        peerId: address.getComponents().findLast((c) => c.name === "p2p")?.value,
        attempt: 0,
        dialing: false,
      };
    });
    this.#init = {
      dialTimeoutMs: init.dialTimeoutMs ?? 5000,
      minBackoffMs: init.minBackoffMs ?? 500,
      maxBackoffMs: init.maxBackoffMs ?? 5000,
    };
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
    for (const target of this.#targets) clearTimeout(target.timer);
  }

  #onDisconnect = (event: CustomEvent<PeerId>): void => {
    const id = event.detail.toString();
    for (const target of this.#targets) {
      if (target.peerId === id && target.timer === undefined && !target.dialing) {
        log.info("Lost bootstrap peer {peer}; redialing", { peer: id });
        this.#schedule(target);
      }
    }
  };

  /**
   * A peer got through: the network may be back (a healed partition, a
   * laptop that woke up). Peers waiting out a backoff are dialed now.
   */
  #onConnect = (event: CustomEvent<PeerId>): void => {
    const id = event.detail.toString();
    for (const target of this.#targets) {
      if (target.timer === undefined || target.dialing || target.peerId === id) continue;
      clearTimeout(target.timer);
      target.attempt = 0;
      void this.#dial(target);
    }
  };

  async #dial(target: Target): Promise<void> {
    target.timer = undefined;
    if (!this.#running) return;
    target.dialing = true;
    try {
      const signal = AbortSignal.any([
        this.#abort.signal,
        AbortSignal.timeout(this.#init.dialTimeoutMs),
      ]);
      const connection = await this.#node.dial(target.address, { signal });
      if (!this.#running) return;
      target.peerId = connection.remotePeer.toString();
      target.attempt = 0;
      await this.#node.peerStore.merge(connection.remotePeer, {
        tags: { [KEEP_ALIVE]: { value: 1 } },
      });
      log.debug("Connected to bootstrap peer {address}", { address: target.address.toString() });
    } catch (error) {
      if (!this.#running) return;
      log.debug("Cannot reach {address}: {error}", {
        address: target.address.toString(),
        error: (error as Error).message,
      });
      this.#schedule(target);
    } finally {
      target.dialing = false;
    }
  }

  #schedule(target: Target): void {
    if (!this.#running) return;
    const base = Math.min(this.#init.maxBackoffMs, this.#init.minBackoffMs * 2 ** target.attempt);
    target.attempt++;
    // Jitter spreads the redials of many agents that lost the same peer.
    const delay = base * (0.8 + Math.random() * 0.4);
    target.timer = setTimeout(() => void this.#dial(target), delay);
  }
}
