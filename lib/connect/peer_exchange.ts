/**
 * `/hark/peers/1.0.0`: agents tell each other which members they are
 * connected to, so one that knows a single member ends up connected to
 * enough of the mesh without being configured with more.
 *
 * The answer is one frame of signed peer records: each record is signed by
 * the peer it describes (libp2p's identify handed it over), so the agent
 * passing it on cannot forge another member's addresses, and dialing any of
 * them still proves the peer id through Noise.
 *
 * An agent asks each peer it identifies while it has fewer than `wanted`
 * peers, and dials what it learns until it has `wanted`. While it still
 * has fewer it asks again now and then (members that reserved a relay slot
 * since become dialable), less often each time nothing new turns up.
 *
 * `/hark/peers/farewell/1.0.0`: an agent about to close a connection to stay
 * within `network.max_connections` (connection_trimmer.ts) first sends the
 * peer the same kind of answer unasked, and waits for its acknowledgement.
 * The peer then does not redial it for a while, and dials some of the
 * members named instead while it has too few, so it is not stranded.
 */

import type { IdentifyResult, Libp2p, PeerId } from "@libp2p/interface";
import { lpStream, peerIdFromCID, RecordEnvelope } from "../mesh/libp2p.ts";
import { readJsonFrame, writeJsonFrame } from "../mesh/json_frame.ts";
import { getLogger } from "@logtape/logtape";
import { TokenBuckets } from "../rate_limit.ts";
import type { DialPolicy } from "./connection_trimmer.ts";
import { shuffle } from "../util/shuffle.ts";

const log = getLogger(["hark", "peers"]);

export const PEER_EXCHANGE_PROTOCOL = "/hark/peers/1.0.0";
export const PEER_FAREWELL_PROTOCOL = "/hark/peers/farewell/1.0.0";
/**
 * Peers an agent wants before it stops asking: a little above gossipsub's
 * D (3) and Dhi (6), so the mesh has spare paths when one drops.
 */
export const WANTED_PEERS = 8;
/** Records in one answer. */
const MAX_RECORDS = 32;
/** A signed record of a peer with a few addresses is well under 1 KiB. */
const MAX_FRAME_BYTES = 64 * 1024;
const TIMEOUT_MS = 5000;
/** Asking the same peer again sooner than this learns nothing new. */
const ASK_INTERVAL_MS = 60_000;
/** Asking again while short of peers: from this often… */
const RETRY_MIN_MS = 10_000;
/** …to this seldom, doubling each time nothing new turns up. */
const RETRY_MAX_MS = 5 * 60_000;

export interface PeerExchangeInit {
  /** @default WANTED_PEERS */
  wanted?: number;
  dialTimeoutMs?: number;
  /** Called when a dial of a learned peer connected. */
  onConnected?: (peer: string) => void;
  /** Called when `peer` said it is closing its connection to this agent (before it does). */
  onFarewell?: (peer: string) => void;
  /** Learned peers are dialed only while this allows (the low watermark, peers parted lately). */
  policy?: DialPolicy;
  /** Records in one answer, at most MAX_RECORDS; smaller in tests, to see the sample change. @default MAX_RECORDS */
  answerSize?: number;
}

export class PeerExchange {
  #node: Libp2p;
  #init: PeerExchangeInit;
  #running = false;
  #abort = new AbortController();
  /** One answer per peer every 10 s, three at once: the answer is cheap but not free. */
  #answers = new TokenBuckets({ rate: 0.1, burst: 3 }, { capacity: 1000 });
  /** A peer closes its connection once; more farewells from it in a row are noise. */
  #farewells = new TokenBuckets({ rate: 0.1, burst: 3 }, { capacity: 1000 });
  #asked = new Map<string, number>();
  #dialing = new Set<string>();
  #retryMs = RETRY_MIN_MS;
  #timer?: ReturnType<typeof setTimeout>;
  #turn = 0;

  constructor(node: Libp2p, init: PeerExchangeInit = {}) {
    this.#node = node;
    this.#init = init;
  }

  get #wanted(): number {
    return this.#init.wanted ?? WANTED_PEERS;
  }

  get #answerSize(): number {
    return Math.min(this.#init.answerSize ?? MAX_RECORDS, MAX_RECORDS);
  }

  /** Registers the protocol; call before the node starts, so identify announces it. */
  async serve(): Promise<void> {
    await this.#node.handle(PEER_EXCHANGE_PROTOCOL, async (stream, connection) => {
      try {
        if (!this.#answers.take(connection.remotePeer.toString())) throw new Error("asked too often");
        const records = await this.#records(connection.remotePeer);
        const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
        await writeJsonFrame(lp, { records }, AbortSignal.timeout(TIMEOUT_MS));
        await stream.close({ signal: AbortSignal.timeout(TIMEOUT_MS) });
      } catch (error) {
        stream.abort(error as Error);
      }
    }, { maxInboundStreams: 2, runOnLimitedConnection: true });
    await this.#node.handle(PEER_FAREWELL_PROTOCOL, async (stream, connection) => {
      const peer = connection.remotePeer;
      let records: unknown;
      try {
        if (!this.#farewells.take(peer.toString())) throw new Error("too many farewells");
        const signal = AbortSignal.timeout(TIMEOUT_MS);
        const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
        records = ((await readJsonFrame(lp, signal)) as { records?: unknown } | null)?.records;
        // Before the acknowledgement, which the peer waits for before it hangs up.
        this.#init.onFarewell?.(peer.toString());
        await writeJsonFrame(lp, {}, signal);
        await stream.close({ signal });
      } catch (error) {
        stream.abort(error as Error);
        return;
      }
      log.debug("{peer} is closing its connection to this agent to stay within its max_connections", {
        peer: peer.toString(),
      });
      if (!this.#running || !Array.isArray(records) || records.length > MAX_RECORDS) return;
      await this.#learn(records).catch(() => 0);
    }, { maxInboundStreams: 2, runOnLimitedConnection: true });
  }

  /**
   * Tells `peer`, before this agent closes its connection to it, whom else it
   * can dial; resolves once the peer has taken note.
   */
  async farewell(peer: PeerId): Promise<void> {
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(TIMEOUT_MS)]);
    const stream = await this.#node.dialProtocol(peer, PEER_FAREWELL_PROTOCOL, {
      signal,
      runOnLimitedConnection: true,
    });
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
      await writeJsonFrame(lp, { records: await this.#records(peer) }, signal);
      await readJsonFrame(lp, signal);
      await stream.close({ signal }).catch(() => {});
    } catch (error) {
      stream.abort(error as Error);
      throw error;
    }
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    this.#node.addEventListener("peer:identify", this.#onIdentify);
    this.#schedule();
  }

  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#abort.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#node.removeEventListener("peer:identify", this.#onIdentify);
    this.#asked.clear();
  }

  /** Asks again soon: this host's addresses changed, so others may be dialable now. */
  retrySoon(): void {
    if (!this.#running) return;
    this.#retryMs = RETRY_MIN_MS;
    clearTimeout(this.#timer);
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => void this.#retry(), this.#retryMs * (0.8 + Math.random() * 0.4));
    Deno.unrefTimer(this.#timer);
  }

  /** Short of peers: asks one connected member, a different one each time. */
  async #retry(): Promise<void> {
    const peers = [
      ...new Map(this.#node.getConnections().map((c) => [c.remotePeer.toString(), c.remotePeer])).values(),
    ];
    let connected = 0;
    if (peers.length > 0 && peers.length < this.#wanted) {
      const peer = peers[this.#turn++ % peers.length];
      connected = await this.exchange(peer).catch(() => 0);
    }
    if (!this.#running) return;
    this.#retryMs = connected > 0 ? RETRY_MIN_MS : Math.min(RETRY_MAX_MS, this.#retryMs * 2);
    this.#schedule();
  }

  /** Asks `peer` whom it knows and dials them while this agent has too few peers; returns how many connected. */
  async exchange(peer: PeerId): Promise<number> {
    return await this.#dialSome(await this.ask(peer));
  }

  /**
   * Asks `peer` whom it is connected to; returns the members named whose
   * records verify (now in the peer store), without dialing any of them.
   */
  async ask(peer: PeerId): Promise<PeerId[]> {
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(TIMEOUT_MS)]);
    const stream = await this.#node.dialProtocol(peer, PEER_EXCHANGE_PROTOCOL, {
      signal,
      runOnLimitedConnection: true,
    });
    let records: unknown;
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
      records = ((await readJsonFrame(lp, signal)) as { records?: unknown } | null)?.records;
      await stream.close({ signal }).catch(() => {});
    } catch (error) {
      stream.abort(error as Error);
      throw error;
    }
    if (!Array.isArray(records) || records.length > MAX_RECORDS) {
      throw new Error(`${peer} sent a malformed peer list`);
    }
    return await this.#verified(records);
  }

  /** Keeps the records that verify and dials some of their peers; returns how many connected. */
  async #learn(records: unknown[]): Promise<number> {
    return await this.#dialSome(await this.#verified(records));
  }

  /** The peers of the records that verify, which are now in the peer store. */
  async #verified(records: unknown[]): Promise<PeerId[]> {
    const learned: PeerId[] = [];
    for (const text of records) {
      const learnedPeer = await this.#consume(text);
      if (learnedPeer) learned.push(learnedPeer);
    }
    return learned;
  }

  #onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const { peerId, protocols } = event.detail;
    if (!protocols.includes(PEER_EXCHANGE_PROTOCOL) || this.#peerCount() >= this.#wanted) return;
    const id = peerId.toString();
    const now = Date.now();
    if (now - (this.#asked.get(id) ?? -Infinity) < ASK_INTERVAL_MS) return;
    if (this.#asked.size > 1000) this.#asked.clear();
    this.#asked.set(id, now);
    this.exchange(peerId).catch((error) => {
      if (this.#running) log.debug("Peer exchange with {peer} failed: {error}", { peer: id, error: error.message });
    });
  };

  /**
   * Signed records of up to `answerSize` connected peers other than `asker`,
   * base64, drawn at random: taking them in connection order, a hub with a
   * hundred peers named the same oldest 32 to every asker, so those who asked
   * it for members outside their own segment all dialed the same few.
   */
  async #records(asker: PeerId): Promise<string[]> {
    const peers = new Map(this.#node.getConnections().map((c) => [c.remotePeer.toString(), c.remotePeer]));
    peers.delete(asker.toString());
    const records: string[] = [];
    for (const remotePeer of shuffle([...peers.values()])) {
      if (records.length >= this.#answerSize) break;
      try {
        const peer = await this.#node.peerStore.get(remotePeer);
        if (peer.peerRecordEnvelope) records.push(peer.peerRecordEnvelope.toBase64());
      } catch {
        // Not identified yet; it will be in the next answer.
      }
    }
    return records;
  }

  /** Stores one record after checking its signature; returns its peer, or undefined when it does not hold up. */
  async #consume(text: unknown): Promise<PeerId | undefined> {
    if (typeof text !== "string" || text.length > MAX_FRAME_BYTES) return undefined;
    try {
      const bytes = Uint8Array.fromBase64(text);
      const peer = peerIdFromCID(RecordEnvelope.createFromProtobuf(bytes).publicKey.toCID());
      if (peer.equals(this.#node.peerId)) return undefined;
      // Checks the signature and that the signer is the peer the record names.
      if (await this.#node.peerStore.consumePeerRecord(bytes)) return peer;
      // False also when the signer is not the peer named: the record counts
      // only if the store already holds one as new, signed by that peer.
      const stored = await this.#node.peerStore.get(peer).catch(() => undefined);
      return stored?.peerRecordEnvelope ? peer : undefined;
    } catch (error) {
      log.debug("Ignoring a peer record that does not verify: {error}", { error: (error as Error).message });
      return undefined;
    }
  }

  async #dialSome(candidates: PeerId[]): Promise<number> {
    const connected = new Set(this.#node.getConnections().map((c) => c.remotePeer.toString()));
    const policy = this.#init.policy;
    const fresh = shuffle(candidates.filter((peer) => {
      const id = peer.toString();
      return !connected.has(id) && !this.#dialing.has(id) && (policy?.mayDial(id) ?? true);
    }));
    const room = Math.max(
      0,
      Math.min(this.#wanted - connected.size, policy?.room() ?? Infinity) - this.#dialing.size,
    );
    const chosen = fresh.slice(0, room);
    const results = await Promise.all(chosen.map(async (peer) => {
      const id = peer.toString();
      this.#dialing.add(id);
      try {
        const signal = AbortSignal.any([
          this.#abort.signal,
          AbortSignal.timeout(this.#init.dialTimeoutMs ?? TIMEOUT_MS),
        ]);
        await this.#node.dial(peer, { signal });
        this.#init.onConnected?.(id);
        return true;
      } catch (error) {
        log.debug("Cannot dial {peer}, learned by peer exchange: {error}", {
          peer: id,
          error: (error as Error).message,
        });
        return false;
      } finally {
        this.#dialing.delete(id);
      }
    }));
    return results.filter(Boolean).length;
  }

  #peerCount(): number {
    return new Set(this.#node.getConnections().map((c) => c.remotePeer.toString())).size;
  }
}
