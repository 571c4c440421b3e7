/**
 * The peers this agent has been connected to, with the addresses they last
 * announced, kept in `peers.json` in the state dir. The agent redials them
 * on start, so it rejoins the mesh with no bootstrap peers and no mDNS, and
 * a laptop that moved finds its way back without anyone's help.
 *
 * It is a cache: a missing, unreadable or foreign file starts an empty book
 * instead of stopping the agent.
 */

import { getLogger } from "@logtape/logtape";
import { inDir } from "../config/paths.ts";
import { writePrivateFile } from "../util/files.ts";

const log = getLogger(["hark", "peers"]);

export const PEERS_FILE = "peers.json";
/** Beyond this many, the peers seen longest ago are forgotten. */
export const MAX_REMEMBERED = 256;
/** A peer not seen for this long has most likely left for good. */
export const FORGET_AFTER_MS = 30 * 86_400_000;
const MAX_ADDRESSES = 8;
/** Writes are batched: a mesh forming connects to many peers at once. */
const SAVE_DELAY_MS = 2000;
/** A reconnect alone rewrites the file at most this often. */
const SEEN_RESOLUTION_MS = 10 * 60_000;

export interface RememberedPeer {
  peer: string;
  /** The multiaddrs the peer last announced, without its /p2p/ suffix. */
  addresses: string[];
  /** When this agent was last connected to it (ms). */
  seen: number;
}

export class PeerBook {
  readonly #path: string;
  readonly #network: string;
  readonly #peers = new Map<string, RememberedPeer>();
  #timer?: ReturnType<typeof setTimeout>;
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string, network: string) {
    this.#path = path;
    this.#network = network;
  }

  /** Reads the book of `stateDir`; `network` tells this network's book from one left behind by another. */
  static async load(stateDir: string, network: string, now = Date.now()): Promise<PeerBook> {
    const book = new PeerBook(inDir(stateDir, PEERS_FILE), network);
    let text: string;
    try {
      text = await Deno.readTextFile(book.#path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        log.warn("Cannot read {path}: {error}; starting with no remembered peers", {
          path: book.#path,
          error: (error as Error).message,
        });
      }
      return book;
    }
    try {
      const data = JSON.parse(text);
      if (data?.network !== network) return book;
      for (const entry of Array.isArray(data.peers) ? data.peers : []) {
        if (!isRemembered(entry) || now - entry.seen > FORGET_AFTER_MS) continue;
        book.#peers.set(entry.peer, { ...entry, addresses: entry.addresses.slice(0, MAX_ADDRESSES) });
      }
    } catch (error) {
      log.warn("{path} is damaged ({error}); starting with no remembered peers", {
        path: book.#path,
        error: (error as Error).message,
      });
    }
    return book;
  }

  /** Remembered peers, most recently seen first. */
  get peers(): RememberedPeer[] {
    return [...this.#peers.values()].sort((a, b) => b.seen - a.seen);
  }

  get(peer: string): RememberedPeer | undefined {
    return this.#peers.get(peer);
  }

  /** Records a peer this agent is connected to and the addresses it announced. */
  remember(peer: string, addresses: string[], now = Date.now()): void {
    const kept = [...new Set(addresses)].slice(0, MAX_ADDRESSES);
    if (kept.length === 0) return;
    const known = this.#peers.get(peer);
    const changed = !known || !sameList(known.addresses, kept) || now - known.seen >= SEEN_RESOLUTION_MS;
    // Re-inserted so the map's order stays oldest to newest.
    this.#peers.delete(peer);
    this.#peers.set(peer, { peer, addresses: kept, seen: now });
    if (this.#peers.size > MAX_REMEMBERED) this.#peers.delete(this.#peers.keys().next().value!);
    if (changed) this.#scheduleSave();
  }

  /** Writes pending changes now. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const data = JSON.stringify({ network: this.#network, peers: this.peers }, null, 1) + "\n";
    // One write at a time, in order: a later state never loses to an earlier one.
    this.#writing = this.#writing.then(() => writePrivateFile(this.#path, new TextEncoder().encode(data))).catch(
      (error) =>
        log.warn("Cannot save remembered peers to {path}: {error}", { path: this.#path, error: error.message }),
    );
    await this.#writing;
  }

  /** Saves what is pending and stops the timer. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) await this.flush();
    await this.#writing;
  }

  #scheduleSave(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => void this.flush(), SAVE_DELAY_MS);
  }
}

function isRemembered(value: unknown): value is RememberedPeer {
  const entry = value as RememberedPeer;
  return typeof entry?.peer === "string" && Array.isArray(entry.addresses) &&
    entry.addresses.every((address) => typeof address === "string") && Number.isFinite(entry.seen);
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}
