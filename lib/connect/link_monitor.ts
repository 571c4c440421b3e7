/**
 * Pings every connection with Yamux's own ping frame, records its
 * round-trip time and aborts a connection that does not answer in time, so
 * a partition is noticed and redialed instead of waiting out TCP's
 * retransmission backoff.
 *
 * libp2p's connection monitor does the same with its ping protocol: a new
 * stream per ping, with a multistream-select negotiation, a peer-store
 * update and a close, ten frames or more each way. At 30 agents on one
 * host that was 60% of an idle agent's CPU. A Yamux ping is one frame each
 * way on the connection itself. Connections without a muxer that can ping
 * fall back to a ping stream.
 *
 * Each connection is looked at once per interval, counted from when it was
 * opened, so the pings of many connections spread over the interval
 * instead of leaving together. Anything received proves a link alive as
 * well as a ping answer does, so a connection heard from since it was last
 * looked at is not pinged: of the two ends, the one whose turn comes first
 * pings, and its ping is what the other end hears. That halves an idle
 * fleet's pings (a third of an idle agent's CPU at 50 connections went to
 * them), and a busy connection is never pinged at all. A ping that goes
 * unanswered while other data arrives does not drop the link either: on a
 * saturated host the answer waits behind that data.
 */

import type { Connection, Libp2p } from "@libp2p/interface";
import { getLogger } from "@logtape/logtape";

const log = getLogger(["hark", "peers"]);

export interface LinkMonitorInit {
  /** How often each connection is pinged. @default 15000 */
  intervalMs?: number;
  /**
   * A ping unanswered this long counts as a dead link. Long, because on a
   * host saturated by agents shorter timeouts dropped live connections.
   * @default 10000
   */
  timeoutMs?: number;
  /** How often connections are looked at for a ping that is due. @default 1000 */
  tickMs?: number;
}

/** What is used of a connection's stream muxer, a private field of libp2p's `Connection`. */
interface PingingMuxer {
  ping(options?: { signal?: AbortSignal }): Promise<number>;
}

/** The muxer's side of the connection, whose `message` events carry every byte received (decrypted). */
interface HearingMuxer {
  maConn: Pick<EventTarget, "addEventListener" | "removeEventListener">;
}

/** What the monitor keeps of one open connection. */
interface Link {
  /** When the connection is next looked at. */
  due: number;
  /** Something arrived since it was last looked at (or since its ping went out). */
  heard: boolean;
  pinging: boolean;
  /** Stops listening for arrivals; undefined when the connection offers no way to listen. */
  unlisten?: () => void;
}

/** The muxer of a connection when it can send a ping frame (Yamux can). */
export function muxerPing(connection: Connection): PingingMuxer | undefined {
  const muxer = (connection as unknown as { muxer?: Partial<PingingMuxer> }).muxer;
  return typeof muxer?.ping === "function" ? muxer as PingingMuxer : undefined;
}

const PING_PROTOCOL = "/ipfs/ping/1.0.0";
const PING_BYTES = 32;

/**
 * Pings the peer on this very connection (not on whichever connection to
 * it libp2p would pick) and returns the round-trip time in milliseconds.
 * Throws when `signal` ends first or the connection fails.
 */
export async function pingConnection(connection: Connection, signal: AbortSignal): Promise<number> {
  const muxer = muxerPing(connection);
  if (muxer) return await muxer.ping({ signal });
  const stream = await connection.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: true });
  const started = performance.now();
  const answered = new Promise<boolean>((resolve) => {
    let received = 0;
    stream.addEventListener("message", (event) => {
      received += event.data.byteLength;
      if (received >= PING_BYTES) resolve(true);
    });
    stream.addEventListener("close", () => resolve(received >= PING_BYTES), { once: true });
    signal.addEventListener("abort", () => resolve(false), { once: true });
  });
  stream.send(crypto.getRandomValues(new Uint8Array(PING_BYTES)));
  if (!await answered) {
    stream.abort(new Error("no answer to ping"));
    throw new Error("no answer to ping");
  }
  const rtt = performance.now() - started;
  await stream.close({ signal }).catch(() => stream.abort(new Error("ping done")));
  return rtt;
}

export class LinkMonitor {
  #node: Libp2p;
  #intervalMs: number;
  #timeoutMs: number;
  #tickMs: number;
  #timer?: ReturnType<typeof setInterval>;
  #abort?: AbortController;
  #links = new Map<Connection, Link>();

  constructor(node: Libp2p, init: LinkMonitorInit = {}) {
    this.#node = node;
    this.#intervalMs = init.intervalMs ?? 15_000;
    this.#timeoutMs = init.timeoutMs ?? 10_000;
    this.#tickMs = init.tickMs ?? 1000;
  }

  start(): void {
    if (this.#timer) return;
    this.#abort = new AbortController();
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
  }

  stop(): void {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#abort?.abort();
    this.#abort = undefined;
    for (const link of this.#links.values()) link.unlisten?.();
    this.#links.clear();
  }

  /** How many connections are being watched (for tests: closed ones are let go). */
  get watched(): number {
    return this.#links.size;
  }

  #tick(): void {
    const now = Date.now();
    const connections = this.#node.getConnections();
    for (const connection of connections) {
      if (connection.status !== "open") continue;
      let link = this.#links.get(connection);
      if (!link) {
        link = { due: connection.timeline.open + this.#intervalMs, heard: false, pinging: false };
        link.unlisten = listenForArrivals(connection, link);
        this.#links.set(connection, link);
      }
      if (link.pinging || now < link.due) continue;
      // ±10%: two ends that looked at the same moment, and so both pinged, do not stay in step.
      link.due = now + this.#intervalMs * (0.9 + 0.2 * Math.random());
      // Heard from lately: alive, unless its round-trip time was never measured.
      if (link.heard && connection.rtt !== undefined) {
        link.heard = false;
        continue;
      }
      void this.#ping(connection, link);
    }
    if (this.#links.size > connections.length) this.#forgetClosed();
  }

  #forgetClosed(): void {
    for (const [connection, link] of this.#links) {
      if (connection.status === "open") continue;
      link.unlisten?.();
      this.#links.delete(connection);
    }
  }

  async #ping(connection: Connection, link: Link): Promise<void> {
    const stopped = this.#abort!.signal;
    const signal = AbortSignal.any([stopped, AbortSignal.timeout(this.#timeoutMs)]);
    link.pinging = true;
    link.heard = false;
    try {
      connection.rtt = await pingConnection(connection, signal);
      // The answer is what was heard; the next look needs something newer.
      link.heard = false;
    } catch (error) {
      if (stopped.aborted || connection.status !== "open") return;
      if (link.heard) {
        log.debug("No answer from {peer} to a ping within {timeoutMs} ms, but data arrived meanwhile; keeping it", {
          peer: connection.remotePeer.toString(),
          timeoutMs: this.#timeoutMs,
        });
        link.heard = false;
        return;
      }
      log.debug("No answer from {peer} to a ping within {timeoutMs} ms; dropping the connection: {error}", {
        peer: connection.remotePeer.toString(),
        timeoutMs: this.#timeoutMs,
        error: (error as Error).message,
      });
      connection.abort(new Error(`no answer to a ping within ${this.#timeoutMs} ms`));
    } finally {
      link.pinging = false;
    }
  }
}

/**
 * Marks `link` heard whenever the connection receives anything. The muxer
 * reads the connection through its `maConn`; a connection without one is
 * pinged every interval, as before.
 */
function listenForArrivals(connection: Connection, link: Link): (() => void) | undefined {
  const target = (connection as unknown as { muxer?: Partial<HearingMuxer> }).muxer?.maConn;
  if (typeof target?.addEventListener !== "function") return undefined;
  const heard = () => link.heard = true;
  target.addEventListener("message", heard);
  return () => target.removeEventListener("message", heard);
}
