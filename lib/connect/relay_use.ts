/**
 * Decides whether this agent needs a relay, and if so takes a slot on one.
 *
 * Each relay the agent connects to directly (an agent with
 * `network.relay = true`) is asked to dial it back (`/hark/reach/1.0.0`).
 * If a relay cannot, other members cannot either: the agent is behind a
 * NAT or a firewall. It then reserves a slot on relays and advertises the
 * relayed address, through which members dial it. Without relays in the
 * mesh nothing is asked and nothing runs.
 */

import type { IdentifyResult, Libp2p } from "@libp2p/interface";
import { getLogger } from "@logtape/logtape";
import { askReach, listeningPorts } from "./reach.ts";

const log = getLogger(["hark", "reach"]);

export const RELAY_HOP_PROTOCOL = "/libp2p/circuit/relay/0.2.0/hop";

export type Reachability = "unknown" | "reachable" | "unreachable";

export interface RelayUseInit {
  /** Starts looking for relays to reserve a slot on (libp2p's `/p2p-circuit` listener). */
  reserve: () => Promise<void>;
}

export class RelayUse {
  #node: Libp2p;
  #init: RelayUseInit;
  #running = false;
  #abort = new AbortController();
  #reachability: Reachability = "unknown";
  #reserving = false;
  /** Relays asked since the last change of this host's addresses. */
  #asked = new Set<string>();

  constructor(node: Libp2p, init: RelayUseInit) {
    this.#node = node;
    this.#init = init;
  }

  get reachability(): Reachability {
    return this.#reachability;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    this.#node.addEventListener("peer:identify", this.#onIdentify);
  }

  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#abort.abort();
    this.#node.removeEventListener("peer:identify", this.#onIdentify);
  }

  /** This host's addresses changed: what relays said before may no longer hold. */
  addressesChanged(): void {
    if (!this.#running) return;
    this.#asked.clear();
    if (this.#reachability === "reachable") this.#reachability = "unknown";
    for (const connection of this.#node.getConnections()) {
      if (connection.limits !== undefined) continue;
      void this.#node.peerStore.get(connection.remotePeer).then((peer) => {
        if (peer.protocols.includes(RELAY_HOP_PROTOCOL)) return this.#ask(connection.remotePeer.toString());
      }).catch(() => {});
    }
  }

  #onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const { peerId, protocols, connection } = event.detail;
    if (!protocols.includes(RELAY_HOP_PROTOCOL) || connection.limits !== undefined) return;
    void this.#ask(peerId.toString());
  };

  async #ask(relay: string): Promise<void> {
    if (this.#asked.has(relay) || this.#reserving) return;
    this.#asked.add(relay);
    const ports = listeningPorts(this.#node);
    if (ports.length === 0) return;
    const connection = this.#node.getConnections().find((c) => c.remotePeer.toString() === relay);
    if (!connection) return;
    const reachable = await askReach(this.#node, connection.remotePeer, ports, this.#abort.signal);
    if (!this.#running || reachable === undefined) return;
    if (reachable) {
      if (this.#reachability === "unknown") this.#reachability = "reachable";
      log.debug("Relay {relay} can dial this agent directly", { relay });
      return;
    }
    this.#reachability = "unreachable";
    if (this.#reserving) return;
    this.#reserving = true;
    log.info("Relay {relay} cannot dial this agent (NAT or firewall); reserving a relay slot so members can reach it", {
      relay,
    });
    try {
      await this.#init.reserve();
    } catch (error) {
      this.#reserving = false;
      this.#asked.delete(relay);
      log.warn("Cannot reserve a relay slot: {error}", { error: (error as Error).message });
    }
  }
}
