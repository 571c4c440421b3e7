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
 * A connection is pinged once nothing has arrived on it for an interval
 * (a little less, at random, so the two ends of a link do not keep pinging
 * together). Anything received proves a link alive as well as a ping answer
 * does, so a busy connection is never pinged, and of a quiet link's two ends
 * only the one whose silence runs out first pings: its ping is what the
 * other end hears. That halves an idle fleet's pings (a third of an idle
 * agent's CPU at 50 connections went to them). A ping that goes unanswered
 * while other data arrives does not drop the link either: on a saturated
 * host the answer waits behind that data.
 */

import type { Connection, Libp2p } from "@libp2p/interface";
import { getLogger } from "@logtape/logtape";

const log = getLogger(["hark", "peers"]);

export interface LinkMonitorInit {
  /** A connection nothing arrived on for this long is pinged. @default 15000 */
  intervalMs?: number;
  /**
   * A ping unanswered this long counts as a dead link. Long, because on a
   * host saturated by agents shorter timeouts dropped live connections.
   * @default 10000
   */
  timeoutMs?: number;
  /**
   * How often connections are looked at for a ping that is due: a fifth of
   * the interval, so a ping goes out at most that much late. Looking at
   * every connection each second was a twentieth of an idle agent's CPU at
   * 50 connections (docs/scale.md). @default intervalMs / 5
   */
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
  /** When anything last arrived on it (ms since the epoch); its opening until then. */
  heardAt: number;
  /** The silence after which it is pinged next: the interval, less up to a tenth at random. */
  quietMs: number;
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
/** The reason pings are aborted with when the monitor stops. */
const STOPPED = new Error("link monitor stopped");
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
  /** Pings awaiting their answer, each with its own deadline; stop() ends them. */
  #pings = new Set<AbortController>();
  #links = new Map<Connection, Link>();
  #dropped = 0;

  constructor(node: Libp2p, init: LinkMonitorInit = {}) {
    this.#node = node;
    this.#intervalMs = init.intervalMs ?? 15_000;
    this.#timeoutMs = init.timeoutMs ?? 10_000;
    this.#tickMs = init.tickMs ?? this.#intervalMs / 5;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
  }

  stop(): void {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const ping of this.#pings) ping.abort(STOPPED);
    this.#pings.clear();
    for (const link of this.#links.values()) link.unlisten?.();
    this.#links.clear();
  }

  /** Connections this monitor closed because a ping went unanswered, since it was made. */
  get dropped(): number {
    return this.#dropped;
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
        link = { heardAt: connection.timeline.open, quietMs: this.#quietMs(), pinging: false };
        link.unlisten = listenForArrivals(connection, link);
        this.#links.set(connection, link);
      }
      if (link.pinging) continue;
      // Until a ping has measured its round-trip time, the link is pinged whatever arrives.
      const since = connection.rtt === undefined ? connection.timeline.open : link.heardAt;
      if (now - since < link.quietMs) continue;
      link.quietMs = this.#quietMs();
      void this.#ping(connection, link);
    }
    if (this.#links.size > connections.length) this.#forgetClosed();
  }

  #quietMs(): number {
    return this.#intervalMs * (0.9 + 0.1 * Math.random());
  }

  #forgetClosed(): void {
    for (const [connection, link] of this.#links) {
      if (connection.status === "open") continue;
      link.unlisten?.();
      this.#links.delete(connection);
    }
  }

  async #ping(connection: Connection, link: Link): Promise<void> {
    // A controller and a timer cleared on the answer: AbortSignal.timeout
    // would fire after every answered ping too, building an exception with
    // its stack trace each time, and AbortSignal.any a signal more per ping.
    const ping = new AbortController();
    const deadline = setTimeout(() => ping.abort(new Error("no answer to ping")), this.#timeoutMs);
    this.#pings.add(ping);
    const sentAt = Date.now();
    link.pinging = true;
    try {
      connection.rtt = await pingConnection(connection, ping.signal);
      // The answer itself was heard, also where nothing listens for arrivals.
      link.heardAt = Math.max(link.heardAt, Date.now());
    } catch (error) {
      if (ping.signal.reason === STOPPED || connection.status !== "open") return;
      if (link.heardAt > sentAt) {
        log.debug("No answer from {peer} to a ping within {timeoutMs} ms, but data arrived meanwhile; keeping it", {
          peer: connection.remotePeer.toString(),
          timeoutMs: this.#timeoutMs,
        });
        return;
      }
      log.debug("No answer from {peer} to a ping within {timeoutMs} ms; dropping the connection: {error}", {
        peer: connection.remotePeer.toString(),
        timeoutMs: this.#timeoutMs,
        error: (error as Error).message,
      });
      this.#dropped++;
      connection.abort(new Error(`no answer to a ping within ${this.#timeoutMs} ms`));
    } finally {
      clearTimeout(deadline);
      this.#pings.delete(ping);
      link.pinging = false;
    }
  }
}

/**
 * Notes when the connection last received anything. The muxer reads the
 * connection through its `maConn`; a connection without one is pinged after
 * every interval of silence between its pings.
 */
function listenForArrivals(connection: Connection, link: Link): (() => void) | undefined {
  const target = (connection as unknown as { muxer?: Partial<HearingMuxer> }).muxer?.maConn;
  if (typeof target?.addEventListener !== "function") return undefined;
  const heard = () => link.heardAt = Date.now();
  target.addEventListener("message", heard);
  return () => target.removeEventListener("message", heard);
}
