/**
 * Peers met with another network key: said at info level on both sides
 * (without it, a wrong key looked like a firewall), and kept for
 * `hark status` and `hark doctor`. One line per host a minute, since a
 * peer that keeps dialing would otherwise repeat it at every attempt.
 */

import { getLogger } from "@logtape/logtape";
import type { KeyMismatch } from "./key_check.ts";

const log = getLogger(["hark", "mesh"]);
const REPEAT_AFTER_MS = 60_000;
const KEPT = 8;

export interface SeenMismatch extends KeyMismatch {
  /** When it last happened (RFC 3339). */
  at: string;
}

export class KeyMismatches {
  #recent: SeenMismatch[] = [];
  #said = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  report(mismatch: KeyMismatch): void {
    const now = this.#now();
    const host = hostOf(mismatch.address);
    this.#recent = [
      { ...mismatch, at: new Date(now).toISOString() },
      ...this.#recent.filter((seen) => hostOf(seen.address) !== host),
    ].slice(0, KEPT);
    if (now - (this.#said.get(host) ?? -Infinity) < REPEAT_AFTER_MS) return;
    if (this.#said.size > 1000) this.#said.clear();
    this.#said.set(host, now);
    log.info(
      "The peer at {address} failed the private-network handshake: it holds another network key; compare `hark network show` on both machines",
      { address: mismatch.address, direction: mismatch.direction },
    );
  }

  /** The latest mismatch per host, newest first. */
  get recent(): SeenMismatch[] {
    return [...this.#recent];
  }
}

/** The address without its port: an inbound peer comes from a new port each time. */
function hostOf(address: string): string {
  return address.replace(/\/(tcp|udp)\/\d+.*$/, "");
}
