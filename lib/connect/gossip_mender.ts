/**
 * Keeps gossip flowing to peers that have more than one connection.
 *
 * Gossipsub opens its outbound stream to a peer once, on the first
 * connection libp2p reports, and never again while any connection to that
 * peer is open. When that connection closes and another stays (a relayed
 * connection replaced by a direct one, a laptop that came back on a new
 * address, a dial-back probe) gossipsub silently stops sending to the peer.
 * So when a connection closes and the peer is still connected, this asks
 * gossipsub to open its stream on a remaining connection.
 *
 * Events either side published in the moment between the close and the
 * new stream are lost to gossip, so `onGap` is told to catch up with the
 * peer once both sides have had time to reopen.
 *
 * And when a peer connects again while an older connection still looks
 * open, the older one may be dead (its address is gone); it is pinged, and
 * dropped if it does not answer, rather than carrying events into the void
 * until the link monitor notices.
 */

import type { Connection, Libp2p, PeerId } from "@libp2p/interface";
import type { GossipSub } from "@libp2p/gossipsub";
import type { IdentifyResult } from "@libp2p/interface";
import { getLogger } from "@logtape/logtape";
import { delay } from "../util/delay.ts";
import { pingConnection } from "./link_monitor.ts";

const log = getLogger(["hark", "mesh"]);

/** Both ends reopen within milliseconds; catch-up after this finds what fell in between. */
const GAP_DELAY_MS = 2000;
/** A live connection answers a ping well within this, even on a busy host. */
const CHECK_TIMEOUT_MS = 3000;

/** The parts of gossipsub's implementation this relies on (not in its public interface). */
interface GossipInternals {
  streamsOutbound?: Map<string, { rawStream: { status: string } }>;
  onPeerConnected?: (peer: PeerId, connection: Connection) => void;
}

export class GossipMender {
  #node: Libp2p;
  #pubsub: GossipSub & GossipInternals;
  #running = false;
  #abort = new AbortController();

  #onGap?: (peer: PeerId) => void;
  #gapTimers = new Set<ReturnType<typeof setTimeout>>();

  /** `onGap` is called for a peer whose events may have been lost while its gossip stream was reopened. */
  constructor(node: Libp2p, pubsub: GossipSub, onGap?: (peer: PeerId) => void) {
    this.#node = node;
    this.#pubsub = pubsub as GossipSub & GossipInternals;
    this.#onGap = onGap;
  }

  start(): void {
    if (this.#running) return;
    if (typeof this.#pubsub.onPeerConnected !== "function" || !(this.#pubsub.streamsOutbound instanceof Map)) {
      log.warn(
        "This gossipsub version has no onPeerConnected/streamsOutbound; peers with several connections may miss events until they reconnect",
      );
      return;
    }
    this.#running = true;
    this.#abort = new AbortController();
    this.#node.addEventListener("connection:close", this.#onClose);
    this.#node.addEventListener("peer:identify", this.#onIdentify);
  }

  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#abort.abort();
    for (const timer of this.#gapTimers) clearTimeout(timer);
    this.#gapTimers.clear();
    this.#node.removeEventListener("connection:close", this.#onClose);
    this.#node.removeEventListener("peer:identify", this.#onIdentify);
  }

  #onClose = (event: CustomEvent<Connection>): void => {
    const peer = event.detail.remotePeer;
    if (!this.#stillConnected(peer)) return;
    void this.#mend(peer).catch((error) => {
      log.debug("Cannot reopen gossip to {peer}: {error}", { peer: peer.toString(), error });
    });
    if (!this.#onGap) return;
    const timer = setTimeout(() => {
      this.#gapTimers.delete(timer);
      if (this.#running && this.#stillConnected(peer)) this.#onGap!(peer);
    }, GAP_DELAY_MS);
    this.#gapTimers.add(timer);
  };

  #stillConnected(peer: PeerId): boolean {
    return this.#node.getConnections(peer).some((c) => c.status === "open");
  }

  async #mend(peer: PeerId): Promise<void> {
    const id = peer.toString();
    // The stream of the closed connection is removed from gossipsub's table
    // shortly after the connection's close event.
    for (let i = 0; i < 40 && this.#running; i++) {
      const open = this.#node.getConnections(peer).filter((c) => c.status === "open");
      if (open.length === 0) return;
      const stream = this.#pubsub.streamsOutbound!.get(id);
      if (stream?.rawStream.status === "open") return;
      if (stream === undefined) {
        // Direct connections first: relayed ones are limited.
        const best = open.find((c) => c.limits === undefined) ?? open[0];
        log.debug("Reopening gossip to {peer} on {address}", { peer: id, address: best.remoteAddr.toString() });
        this.#pubsub.onPeerConnected!(peer, best);
        return;
      }
      await delay(50, this.#abort.signal);
    }
  }

  #onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const { peerId, connection } = event.detail;
    const older = this.#node.getConnections(peerId).filter((c) => c.id !== connection.id && c.status === "open");
    if (older.length > 0) void checkConnections(older, this.#abort.signal);
  };
}

/** Pings each connection on it; aborts those that do not answer in time. Returns how many were dropped. */
export async function checkConnections(connections: Connection[], signal?: AbortSignal): Promise<number> {
  const results = await Promise.all(connections.map(async (connection) => {
    const timeout = AbortSignal.timeout(CHECK_TIMEOUT_MS);
    const alive = await pingConnection(connection, signal ? AbortSignal.any([signal, timeout]) : timeout)
      .then(() => true, () => false);
    if (alive || signal?.aborted || connection.status !== "open") return false;
    log.info("Dropping dead connection to {peer} at {address}", {
      peer: connection.remotePeer.toString(),
      address: connection.remoteAddr.toString(),
    });
    connection.abort(new Error("the connection stopped answering pings"));
    return true;
  }));
  return results.filter(Boolean).length;
}
