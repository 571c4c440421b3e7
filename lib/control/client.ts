/**
 * Client side of the control socket, used by every command but `run`. It
 * imports nothing from libp2p, so `hark send` starts fast.
 */

import { AgentReplyError, NoAgentError } from "../errors.ts";
import { controlEndpoint, type ControlReply, type ControlRequest, type WireRequest } from "./protocol.ts";
import { readLines } from "../util/lines.ts";

const encoder = new TextEncoder();
/** Replies (status, peers) stay far below this; it only bounds a broken agent. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;
const NO_AGENT_HINT = "start one with `hark run`, or install the service with `hark service install`";

/** A connection to the local agent. `await using` closes it. */
export class ControlClient {
  #conn: Deno.Conn;
  #lines: AsyncGenerator<string>;
  #token?: string;

  private constructor(conn: Deno.Conn, token?: string) {
    this.#conn = conn;
    this.#token = token;
    this.#lines = readLines(conn.readable, MAX_REPLY_BYTES);
  }

  /** Connects to the agent of `stateDir`; throws `NoAgentError` if none runs. */
  static async connect(stateDir: string): Promise<ControlClient> {
    try {
      const endpoint = await controlEndpoint(stateDir);
      return new ControlClient(await endpoint.connect(), endpoint.token);
    } catch (error) {
      if (
        error instanceof Deno.errors.NotFound || error instanceof Deno.errors.ConnectionRefused ||
        error instanceof Deno.errors.PermissionDenied
      ) {
        const why = error instanceof Deno.errors.PermissionDenied
          ? " (permission denied: it belongs to another user)"
          : "";
        throw new NoAgentError(`No hark agent is running for state dir "${stateDir}"${why}; ${NO_AGENT_HINT}.`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /** Sends one request and returns its reply; throws `AgentReplyError` on `ok: false`. */
  async request(request: ControlRequest): Promise<ControlReply> {
    await this.send(request);
    return await this.next();
  }

  /**
   * Sends a request whose reply comes in pages (`history`) and yields each
   * page's line until the one that says no more follow.
   */
  async *requestPages(request: ControlRequest): AsyncGenerator<ControlReply> {
    await this.send(request);
    yield* this.pages();
  }

  /** The lines of one paged reply, read as they come: `more: true` says another follows. */
  async *pages(): AsyncGenerator<ControlReply> {
    for (;;) {
      const reply = await this.next();
      yield reply;
      if (reply.more !== true) return;
    }
  }

  async send(request: ControlRequest): Promise<void> {
    const wire: WireRequest = this.#token ? { ...request, token: this.#token } : request;
    const line = JSON.stringify(wire) + "\n";
    const bytes = encoder.encode(line);
    let offset = 0;
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
  }

  /** The next line from the agent, parsed; throws if the agent closed or refused. */
  async next(): Promise<ControlReply> {
    const { value, done } = await this.#lines.next();
    if (done) throw new AgentReplyError("The agent closed the connection without a reply; see its log.");
    const reply = JSON.parse(value) as ControlReply;
    if (!reply.ok && reply.error !== undefined) throw new AgentReplyError(reply.error);
    return reply;
  }

  /** Yields the lines that follow (for `tail`) until the agent closes. */
  async *stream(): AsyncGenerator<ControlReply> {
    for await (const line of this.#lines) yield JSON.parse(line) as ControlReply;
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** Connects, sends one request, returns the reply and closes. */
export async function requestAgent(stateDir: string, request: ControlRequest): Promise<ControlReply> {
  await using client = await ControlClient.connect(stateDir);
  return await client.request(request);
}
