/**
 * Server side of the control socket. Each request is validated; anything
 * malformed, oversized or unknown gets an error reply and the agent carries
 * on. The socket (or, on Windows, the token file) is reachable only by the
 * user who runs the agent.
 */

import { getLogger } from "@logtape/logtape";
import { HarkError } from "../errors.ts";
import {
  type ControlReply,
  type ControlRequest,
  type HistoryRequest,
  type TailRequest,
  tokenPath,
  USE_TCP,
} from "./protocol.ts";
import { parseRequest } from "./parse.ts";
import { LineTooLongError, readLines } from "../util/lines.ts";
import { socketPath } from "../config/paths.ts";
import { reason } from "../store/state_dir.ts";

const log = getLogger(["hark", "control"]);
const encoder = new TextEncoder();
/** Events that may wait for a slow `hark tail` before it misses some. */
const TAIL_BUFFER = 1000;
/** Requests from one connection handled at once before the server reads no further. */
const MAX_PIPELINED = 256;

/** Stored events a page at a time; each page's release() once it is written. */
export interface ReplyPages {
  next(signal?: AbortSignal): Promise<{ events: unknown[]; last: boolean; release(): void }>;
}

export interface ControlHandlers {
  /** Handles one request op but tail and history; throws `HarkError` for a clear error reply. */
  handle(request: Exclude<ControlRequest, TailRequest | HistoryRequest>): Promise<ControlReply>;
  /** The stored events a history request asks for; throws `HarkError` for a clear error reply. */
  history(request: HistoryRequest): ReplyPages;
  /**
   * Registers a tail listener; returns the function that removes it, and
   * with a since field the stored events to write first (the listener
   * starts once their last page is read).
   */
  tail(
    request: TailRequest,
    push: (reply: ControlReply) => void,
  ): { reply: ControlReply; pages?: ReplyPages; stop: () => void };
}

export interface ControlServerInit {
  stateDir: string;
  /** Longest request line accepted. */
  maxRequestBytes: number;
  handlers: ControlHandlers;
}

/**
 * Serialises writes to one connection, in the order they were asked for
 * (a reply may still be on its way), and drops them once it is gone.
 */
class ReplyWriter {
  #conn: Deno.Conn;
  #chain = Promise.resolve();
  #pending = 0;
  closed = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  get pending(): number {
    return this.#pending;
  }

  write(reply: ControlReply | Promise<ControlReply>): Promise<void> {
    this.#pending++;
    this.#chain = this.#chain.then(async () => {
      try {
        const bytes = encoder.encode(JSON.stringify(await reply) + "\n");
        let offset = 0;
        while (!this.closed && offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
      } catch {
        this.closed = true;
      } finally {
        this.#pending--;
      }
    });
    return this.#chain;
  }

  /** Resolves once every reply asked for so far is written (or dropped). */
  settled(): Promise<void> {
    return this.#chain;
  }
}

export class ControlServer {
  #init: ControlServerInit;
  #listener?: Deno.Listener;
  #connections = new Set<Deno.Conn>();
  #tasks = new Set<Promise<void>>();
  #token = "";
  /** Aborts what waits for room to send history when the server stops. */
  #stopping = new AbortController();

  constructor(init: ControlServerInit) {
    this.#init = init;
  }

  async start(): Promise<void> {
    if (this.#listener) return;
    if (this.#stopping.signal.aborted) this.#stopping = new AbortController();
    this.#listener = USE_TCP ? await this.#listenTcp() : await this.#listenUnix();
    this.#track(this.#acceptLoop(this.#listener));
  }

  async stop(): Promise<void> {
    const listener = this.#listener;
    if (!listener) return;
    this.#listener = undefined;
    this.#stopping.abort(new HarkError("the agent is stopping"));
    listener.close();
    for (const conn of this.#connections) closeQuietly(conn);
    await Promise.allSettled(this.#tasks);
    await removeQuietly(USE_TCP ? tokenPath(this.#init.stateDir) : socketPath(this.#init.stateDir));
  }

  async #listenUnix(): Promise<Deno.Listener> {
    const path = socketPath(this.#init.stateDir);
    await clearStaleSocket(this.#init.stateDir);
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ transport: "unix", path });
    } catch (error) {
      throw new HarkError(`Cannot open control socket "${path}": ${reason(error)}`, { cause: error });
    }
    // The state dir is 0700 already; 0600 on the socket is the second lock.
    await Deno.chmod(path, 0o600);
    return listener;
  }

  async #listenTcp(): Promise<Deno.Listener> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#token = crypto.randomUUID();
    const port = (listener.addr as Deno.NetAddr).port;
    await Deno.writeTextFile(tokenPath(this.#init.stateDir), JSON.stringify({ port, token: this.#token }), {
      mode: 0o600,
    });
    return listener;
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  async #acceptLoop(listener: Deno.Listener): Promise<void> {
    try {
      for await (const conn of listener) {
        this.#connections.add(conn);
        this.#track(
          this.#serve(conn).finally(() => {
            this.#connections.delete(conn);
            closeQuietly(conn);
          }),
        );
      }
    } catch (error) {
      if (this.#listener) log.error("Control socket failed: {error}", { error: (error as Error).message });
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const writer = new ReplyWriter(conn);
    let stopTail: (() => void) | undefined;
    try {
      for await (const line of readLines(conn.readable, this.#init.maxRequestBytes)) {
        if (line.trim() === "") continue;
        const request = this.#parse(line);
        if (typeof request === "string") {
          await writer.write({ ok: false, error: request });
          continue;
        }
        if (request.op === "history") {
          // Its pages go out one by one; later requests wait until the last is written.
          await writer.settled();
          await this.#writeHistory(writer, request);
          continue;
        }
        if (request.op === "tail") {
          // What was sent before the tail is in the store before its history is read.
          await writer.settled();
          stopTail?.();
          // Live events that come before the history is written wait for it.
          let held: ControlReply[] | undefined = [];
          // Live events waiting to be written; the history ahead of them does not count.
          let live = 0;
          const writeLive = (reply: ControlReply) => {
            // A stalled reader must not make the agent buffer without bound.
            if (live >= TAIL_BUFFER) return;
            live++;
            void writer.write(reply).then(() => live--);
          };
          let tail: ReturnType<ControlHandlers["tail"]>;
          try {
            tail = this.#init.handlers.tail(request, (reply) => {
              if (!held) writeLive(reply);
              else if (held.length < TAIL_BUFFER) held.push(reply);
            });
          } catch (error) {
            // A bad filter or an unknown since_id: say so, as for any request.
            await writer.write(this.#failure(request, error));
            continue;
          }
          stopTail = tail.stop;
          // The reply, then the history a page at a time, then live events.
          const failed = tail.pages ? await this.#writeTailHistory(writer, tail.reply, tail.pages) : undefined;
          if (failed) {
            tail.stop();
            stopTail = undefined;
            await writer.write(this.#failure(request, failed));
            continue;
          }
          if (!tail.pages) await writer.write(tail.reply);
          const waiting = held;
          held = undefined;
          waiting.forEach(writeLive);
          continue;
        }
        // Pipelined: a client may send many requests before it reads a
        // reply. They are handled at once, so sends that arrive together
        // can leave in one gossip message; replies keep the request order.
        const written = writer.write(this.#handle(request));
        if (writer.pending >= MAX_PIPELINED) await written;
      }
      await writer.settled();
    } catch (error) {
      if (error instanceof LineTooLongError) {
        await writer.write({
          ok: false,
          error: `request too large: the limit is ${this.#init.maxRequestBytes} bytes`,
        });
      } else if (!(error instanceof Deno.errors.BadResource || error instanceof Deno.errors.ConnectionReset)) {
        log.debug("Control connection ended: {error}", { error: (error as Error).message });
      }
    } finally {
      stopTail?.();
      writer.closed = true;
    }
  }

  /**
   * A history reply: one line per page, `{"ok":true,"events":[…],"more":true}`
   * while more follow, then the last without `more`. A page is read once the
   * one before it is written, so a slow reader holds one page in the agent.
   */
  async #writeHistory(writer: ReplyWriter, request: HistoryRequest): Promise<void> {
    let pages: ReplyPages;
    try {
      pages = this.#init.handlers.history(request);
    } catch (error) {
      await writer.write(this.#failure(request, error));
      return;
    }
    for (;;) {
      let page: Awaited<ReturnType<ReplyPages["next"]>>;
      try {
        page = await pages.next(this.#stopping.signal);
      } catch (error) {
        // Before the first page this is a clear refusal; later pages wait rather than fail.
        await writer.write(this.#failure(request, error));
        return;
      }
      try {
        await writer.write(
          page.last ? { ok: true, events: page.events } : { ok: true, events: page.events, more: true },
        );
      } finally {
        page.release();
      }
      if (page.last || writer.closed) return;
    }
  }

  /** A tail's reply and then its history, one event a line; the error that stopped it, if any. */
  async #writeTailHistory(writer: ReplyWriter, reply: ControlReply, pages: ReplyPages): Promise<unknown> {
    let page: Awaited<ReturnType<ReplyPages["next"]>>;
    try {
      // The first page before the reply: a busy agent can still refuse the tail.
      page = await pages.next(this.#stopping.signal);
    } catch (error) {
      return error;
    }
    await writer.write(reply);
    for (;;) {
      try {
        for (const event of page.events) void writer.write({ ok: true, event });
        await writer.settled();
      } finally {
        page.release();
      }
      if (page.last || writer.closed) return undefined;
      try {
        page = await pages.next(this.#stopping.signal);
      } catch (error) {
        return error;
      }
    }
  }

  /** The request, or why it is not one. */
  #parse(line: string): ControlRequest | string {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return "request is not valid JSON";
    }
    // The token first: a client without it learns nothing about the protocol.
    const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
    if (USE_TCP && isObject && (value as { token?: unknown }).token !== this.#token) return "bad or missing token";
    try {
      return parseRequest(value);
    } catch (error) {
      if (error instanceof HarkError) return error.message;
      throw error;
    }
  }

  async #handle(request: Exclude<ControlRequest, TailRequest | HistoryRequest>): Promise<ControlReply> {
    try {
      return await this.#init.handlers.handle(request);
    } catch (error) {
      return this.#failure(request, error);
    }
  }

  #failure(request: ControlRequest, error: unknown): ControlReply {
    if (error instanceof HarkError) return { ok: false, error: error.message };
    log.error("Control request {op} failed: {error}", { op: request.op, error: (error as Error).stack });
    return { ok: false, error: `internal error: ${(error as Error).message}` };
  }
}

/** Throws if an agent already answers on this state dir's control socket. */
export async function refuseIfRunning(stateDir: string): Promise<void> {
  if (!USE_TCP) await clearStaleSocket(stateDir);
}

/** A socket file left by a crashed agent is removed; a live agent is an error. */
async function clearStaleSocket(stateDir: string): Promise<void> {
  const path = socketPath(stateDir);
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    throw new HarkError(
      `Another agent is already running with state dir "${stateDir}". Stop it, or give this one its own --state-dir.`,
    );
  } catch (error) {
    if (error instanceof HarkError) throw error;
    await removeQuietly(path);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch {
    // Gone already.
  }
}
