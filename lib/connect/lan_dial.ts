/**
 * Dials the peers mDNS finds on the LAN, up to a number of connections.
 *
 * mDNS answers from every agent on a segment, so dialing each one made a
 * LAN of N agents a full mesh: N − 1 connections per agent, each with its
 * pings and gossip bookkeeping (docs/scale.md). Past `maxPeers` connections
 * an agent stops dialing what it hears; it still accepts connections, so an
 * agent that joins later finds peers, and gossipsub and peer exchange carry
 * events and addresses across. Below it again (peers left), the next mDNS
 * answer is dialed as before. With a dial policy (connection_trimmer.ts)
 * `maxPeers` is the low watermark of `network.max_connections`, and a peer
 * this agent parted with lately is not dialed.
 */

import type { Libp2p, PeerId } from "@libp2p/interface";
import { getLogger } from "@logtape/logtape";
import type { DialPolicy } from "./connection_trimmer.ts";

const log = getLogger(["hark", "peers"]);

/**
 * Connections past which mDNS finds are no longer dialed: far above
 * gossipsub's mesh (D = 3 to Dhi = 6 a topic) and a team's LAN, far below
 * libp2p's default cap of 300.
 */
export const LAN_DIAL_MAX_PEERS = 32;

export interface LanDialInit {
  /** @default LAN_DIAL_MAX_PEERS */
  maxPeers?: number;
  dialTimeoutMs: number;
  /** Called when a dial connected. */
  onConnected?: (peer: string) => void;
  /** Asked before each dial. @default every dial below maxPeers allowed */
  policy?: DialPolicy;
}

export class LanDial {
  #node: Libp2p;
  #init: LanDialInit;

  constructor(node: Libp2p, init: LanDialInit) {
    this.#node = node;
    this.#init = init;
  }

  /** mDNS found `peer` (its addresses are in the peer store): dial it, unless connected to it or to enough others. */
  found(peer: PeerId): void {
    const node = this.#node;
    if (node.getConnections(peer).length > 0) return;
    if (node.getPeers().length >= (this.#init.maxPeers ?? LAN_DIAL_MAX_PEERS)) return;
    if (this.#init.policy && !this.#init.policy.mayDial(peer.toString())) return;
    // libp2p 3 does not dial what discovery finds; without this, mDNS is inert.
    node.dial(peer, { signal: AbortSignal.timeout(this.#init.dialTimeoutMs) }).then((connection) => {
      this.#init.onConnected?.(connection.remotePeer.toString());
    }).catch((error) => {
      log.debug("Cannot dial discovered peer {peer}: {error}", { peer: peer.toString(), error: error.message });
    });
  }
}
