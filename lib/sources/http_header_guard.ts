/**
 * A deadline on request heads, in front of `Deno.serve`, which has none:
 * hyper's header read timeout needs a timer Deno does not install
 * (denoland/deno#3515), so a client that trickles header bytes, or sends
 * nothing, held a connection forever (slowloris). The guard owns the
 * listening socket, relays each connection to the server on a loopback port
 * of its own, and closes a connection whose request head is not complete
 * within the deadline. Only the client's bytes are framed (see
 * http_request_framing.ts); the server's go back untouched.
 */

import { getLogger } from "@logtape/logtape";
import { RequestFraming } from "./http_request_framing.ts";
import { writeAll } from "../util/write_all.ts";

const log = getLogger(["hark", "source", "http"]);

export interface HeaderGuardInit {
  hostname: string;
  port: number;
  /** The server's own port on 127.0.0.1. */
  serverPort: number;
  /**
   * How long a client has from a head's first byte (or, for the first
   * request, from connecting) to its blank line.
   * @default 10000
   */
  headTimeoutMs?: number;
  /** @default 65536 */
  maxHeadBytes?: number;
}

export const HEAD_TIMEOUT_DEFAULT_MS = 10_000;
const MAX_HEAD_BYTES = 64 * 1024;
const CHUNK_BYTES = 16 * 1024;

export class HeaderGuard {
  readonly #init: Required<HeaderGuardInit>;
  #listener?: Deno.TcpListener;
  #accepting?: Promise<void>;
  readonly #connections = new Set<() => void>();
  /** Connections closed for a late head, for `hark status`. */
  timedOut = 0;

  constructor(init: HeaderGuardInit) {
    // `??`, not a spread of defaults: a caller's `undefined` must not make the deadline 0.
    this.#init = {
      ...init,
      headTimeoutMs: init.headTimeoutMs ?? HEAD_TIMEOUT_DEFAULT_MS,
      maxHeadBytes: init.maxHeadBytes ?? MAX_HEAD_BYTES,
    };
  }

  /** Binds the public address; throws as `Deno.listen` does (AddrInUse…). Idempotent. */
  start(): Deno.NetAddr {
    if (!this.#listener) {
      this.#listener = Deno.listen({ hostname: this.#init.hostname, port: this.#init.port });
      this.#accepting = this.#accept(this.#listener);
    }
    return this.#listener.addr;
  }

  get addr(): Deno.NetAddr | undefined {
    return this.#listener?.addr;
  }

  /** Stops accepting; with `closeAll`, also ends every relayed connection. Idempotent. */
  async stop(closeAll = true): Promise<void> {
    const listener = this.#listener;
    if (listener) {
      this.#listener = undefined;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      await this.#accepting;
    }
    if (closeAll) { for (const close of [...this.#connections]) close(); }
  }

  async #accept(listener: Deno.TcpListener): Promise<void> {
    while (true) {
      let client: Deno.TcpConn;
      try {
        client = await listener.accept();
      } catch {
        return; // Closed by stop().
      }
      this.#relay(client).catch((error) => log.debug("http relay ended: {error}", { error: String(error) }));
    }
  }

  async #relay(client: Deno.TcpConn): Promise<void> {
    const { headTimeoutMs, maxHeadBytes, serverPort } = this.#init;
    let server: Deno.TcpConn | undefined;
    let closed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const close = () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      this.#connections.delete(close);
      for (const conn of [client, server]) {
        try {
          conn?.close();
        } catch {
          // Already closed.
        }
      }
    };
    this.#connections.add(close);
    const startDeadline = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.timedOut++;
        log.debug("http source closed a connection whose request head took over {ms} ms", { ms: headTimeoutMs });
        close();
      }, headTimeoutMs);
    };
    // The first head's deadline runs from the connection: a client that sends nothing is late too.
    startDeadline();
    try {
      server = await Deno.connect({ hostname: "127.0.0.1", port: serverPort });
      if (closed) return close();
      const framing = new RequestFraming(maxHeadBytes);
      let timing = true;
      const upstream = this.#copy(server, client, () => {});
      const downstream = this.#copy(client, server, (chunk) => {
        const step = framing.push(chunk);
        if (step.headTooLarge) return close();
        if (!framing.inHead) {
          clearTimeout(timer);
          timing = false;
        } else if (!timing || step.headEnded) {
          // A new head began: after a body, or right after the last head (pipelining).
          startDeadline();
          timing = true;
        }
      });
      await Promise.all([downstream, upstream]);
    } finally {
      close();
    }
  }

  /** Copies `from` to `to` until `from` ends; then half-closes `to`, so the other side sees the end. */
  async #copy(from: Deno.TcpConn, to: Deno.TcpConn, inspect: (chunk: Uint8Array) => void): Promise<void> {
    const buffer = new Uint8Array(CHUNK_BYTES);
    try {
      while (true) {
        const count = await from.read(buffer);
        if (count === null) break;
        const chunk = buffer.subarray(0, count);
        inspect(chunk);
        await writeAll(to, chunk);
      }
      await to.closeWrite();
    } catch {
      // Either side went away, or close() ran: the other copy ends with it.
      for (const conn of [from, to]) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
    }
  }
}
