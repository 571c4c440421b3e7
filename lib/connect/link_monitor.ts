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
 * Each connection is pinged once per interval, counted from when it was
 * opened, so the pings of many connections spread over the interval
 * instead of leaving together.
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
  /** When each connection's next ping is due; connections forgotten with them. */
  #due = new WeakMap<Connection, number>();
  #inFlight = new WeakSet<Connection>();

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
  }

  #tick(): void {
    const now = Date.now();
    for (const connection of this.#node.getConnections()) {
      if (connection.status !== "open" || this.#inFlight.has(connection)) continue;
      const due = this.#due.get(connection) ?? connection.timeline.open + this.#intervalMs;
      if (now < due) {
        this.#due.set(connection, due);
        continue;
      }
      this.#due.set(connection, now + this.#intervalMs);
      void this.#ping(connection);
    }
  }

  async #ping(connection: Connection): Promise<void> {
    const stopped = this.#abort!.signal;
    const signal = AbortSignal.any([stopped, AbortSignal.timeout(this.#timeoutMs)]);
    this.#inFlight.add(connection);
    try {
      connection.rtt = await pingConnection(connection, signal);
    } catch (error) {
      if (stopped.aborted || connection.status !== "open") return;
      log.debug("No answer from {peer} to a ping within {timeoutMs} ms; dropping the connection: {error}", {
        peer: connection.remotePeer.toString(),
        timeoutMs: this.#timeoutMs,
        error: (error as Error).message,
      });
      connection.abort(new Error(`no answer to a ping within ${this.#timeoutMs} ms`));
    } finally {
      this.#inFlight.delete(connection);
    }
  }
}
