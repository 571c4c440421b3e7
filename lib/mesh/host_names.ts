/**
 * Which peer a host name belongs to. An event's `source.host` is whatever
 * its publisher wrote, and any member may write any name; `source.peer` is
 * the verified signer. This agent binds each host name to the first peer
 * it heard claim it (in a join or status, or in the first event of a peer
 * without a name yet) and keeps the binding in
 * its store, so a restart does not hand the name to whoever speaks first
 * afterwards.
 *
 * A peer may rename itself: announcing a free name moves its binding
 * there. A peer that claims a name bound to another is flagged: its events
 * are shown with the name as `name?` and `source.host_verified: false`,
 * and filters on `source.host` do not match them.
 */

import { getLogger } from "@logtape/logtape";
import type { HarkEvent } from "../event/event.ts";

const log = getLogger(["hark", "membership"]);

/** Peers and names already warned about; beyond this many the record starts over. */
const WARNED_CAPACITY = 1_000;

/** Where the bindings are kept (the event store). */
export interface HostBook {
  hostBindings(): { name: string; peer: string }[];
  /** Binds `name` to `peer` alone: any other name of `peer` is released. */
  bindHost(name: string, peer: string): void;
}

export interface HostNamesInit {
  book: HostBook;
  /** This agent's peer id and host name: its own claim always holds here. */
  self: { peer: string; host: string };
}

export class HostNames {
  #book: HostBook;
  #self: string;
  /** name → peer */
  #owners = new Map<string, string>();
  /** peer → name */
  #names = new Map<string, string>();
  #warned = new Set<string>();

  constructor(init: HostNamesInit) {
    this.#book = init.book;
    this.#self = init.self.peer;
    for (const { name, peer } of init.book.hostBindings()) this.#set(name, peer);
    if (this.#owners.get(init.self.host) !== init.self.peer) this.#bind(init.self.host, init.self.peer);
  }

  /** The peer `name` is bound to, if any. */
  ownerOf(name: string): string | undefined {
    return this.#owners.get(name);
  }

  /**
   * `peer` announced itself as `name` in its join or status: binds the
   * name when it is free, moving the peer's binding from any name it had.
   * Returns false when another peer holds the name.
   */
  announce(peer: string, name: string): boolean {
    const owner = this.#owners.get(name);
    if (owner === peer) return true;
    if (owner !== undefined) {
      this.#warn(peer, name, owner);
      return false;
    }
    this.#bind(name, peer);
    return true;
  }

  /**
   * The event as this agent shows it: unchanged when its host name is its
   * signer's, or free and the signer has none yet (which binds it); else
   * with the name marked as not the signer's.
   */
  judge(event: HarkEvent): HarkEvent {
    const { host, peer } = event.source;
    if (peer === this.#self) return event;
    const owner = this.#owners.get(host);
    if (owner === peer) return event;
    if (owner === undefined && !this.#names.has(peer)) {
      this.#bind(host, peer);
      return event;
    }
    this.#warn(peer, host, owner);
    return { ...event, source: { ...event.source, host: `${host}?`, host_verified: false } };
  }

  #bind(name: string, peer: string): void {
    this.#book.bindHost(name, peer);
    const old = this.#names.get(peer);
    if (old !== undefined) this.#owners.delete(old);
    // Only this agent's own name is ever taken from another peer (at start, from its config).
    const previous = this.#owners.get(name);
    if (previous !== undefined) this.#names.delete(previous);
    this.#set(name, peer);
  }

  #set(name: string, peer: string): void {
    this.#owners.set(name, peer);
    this.#names.set(peer, name);
  }

  #warn(peer: string, name: string, owner: string | undefined): void {
    const key = `${peer} ${name}`;
    if (this.#warned.has(key)) return;
    if (this.#warned.size >= WARNED_CAPACITY) this.#warned.clear();
    this.#warned.add(key);
    const properties = { peer, name, owner: owner ?? "nobody", own: this.#names.get(peer) ?? "none" };
    if (owner === undefined) {
      log.warn("{peer} calls itself {name}, but announced itself as {own}; its events show {name}?", properties);
    } else {
      log.warn("{peer} calls itself {name}, a name {owner} announced first; its events show {name}?", properties);
    }
  }
}
