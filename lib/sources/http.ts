/**
 * The `http` source: a loopback listener that speaks ntfy's publish API, so
 * scripts written for ntfy (`curl -H "Title: x" -d "body" localhost:8089/topic`)
 * publish hark events unchanged.
 *
 * Accepted requests (see README of issue #7 and ntfy's "Publishing" docs):
 * - `PUT`/`POST /<topic>` with the message as the body;
 * - `GET`/`PUT`/`POST /<topic>/publish|send|trigger`, the message in `?message=`;
 * - `PUT`/`POST /` with a JSON body `{"topic","message","title","priority","tags","click"}`.
 * Options come as headers or query parameters under ntfy's names and aliases.
 * The reply is the created hark event as JSON; errors are `{"code","http","error"}`
 * in ntfy's shape.
 */

import { getLogger } from "@logtape/logtape";
import { createHash, timingSafeEqual } from "node:crypto";
import { ConfigError, EventError, HarkError } from "../errors.ts";
import { type EventDraft, parsePriority } from "../event.ts";
import type { Publish, Source } from "./source.ts";

const log = getLogger(["hark", "source", "http"]);

export const DEFAULT_HTTP_LISTEN = "127.0.0.1:8089";

export interface HttpSourceInit {
  /**
   * `host:port` or `[v6]:port`; port 0 picks a free port.
   * @default "127.0.0.1:8089"
   */
  listen?: string;
  /** Bearer token every request must carry; required for a non-loopback `listen`. */
  token?: string;
  /** Largest request body accepted; larger ones get 413. */
  maxBodyBytes: number;
  publish: Publish;
}

/** ntfy's topic alphabet plus hark's `.`; letters are lower-cased (see `#topic`). */
const URL_TOPIC = /^[-_.A-Za-z0-9]{1,64}$/;
const PUBLISH_ACTIONS = new Set(["publish", "send", "trigger"]);
const SUBSCRIBE_ACTIONS = new Set(["json", "sse", "raw", "ws"]);
/** ntfy sends this text when a publish has no message (`curl -X POST …/trigger`). */
const EMPTY_MESSAGE = "triggered";
const MAX_PATH_CHARS = 256;
const BODY_TIMEOUT_MS = 10_000;

/** ntfy's parameter names, header or query, first match wins (headers first, as in ntfy). */
const PARAMS = {
  title: ["x-title", "title", "ti", "t"],
  message: ["x-message", "message", "m"],
  priority: ["x-priority", "priority", "prio", "p"],
  tags: ["x-tags", "tags", "tag", "ta"],
  click: ["x-click", "click"],
} as const;

/**
 * ntfy features hark cannot honour and whose loss would surprise the sender
 * (a delayed message sent now, an e-mail or call that never happens, an
 * attachment dropped): refused with 400 rather than silently ignored. Purely
 * cosmetic ones (icon, markdown, actions, cache, firebase) are ignored.
 */
const UNSUPPORTED_PARAMS: Record<string, readonly string[]> = {
  "delay": ["x-delay", "delay", "x-at", "at", "x-in", "in"],
  "attach": ["x-attach", "attach", "a"],
  "email": ["x-email", "x-e-mail", "email", "e-mail", "mail", "e"],
  "call": ["x-call", "call"],
};
const UNSUPPORTED_JSON_KEYS = ["delay", "attach", "email", "call"];

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A request that ends with an error reply. */
class HttpFailure extends Error {
  override name = "HttpFailure";
  constructor(readonly status: number, readonly code: number, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * Accepts ntfy-style publish requests on a local address and publishes each
 * as a hark event. `start()` and `stop()` are idempotent.
 */
export class HttpSource implements Source, AsyncDisposable {
  readonly name = "http";
  readonly #init: HttpSourceInit;
  readonly #listen: string;
  readonly #hostname: string;
  readonly #port: number;
  readonly #loopback: boolean;
  readonly #tokenDigest?: Buffer;
  #server?: Deno.HttpServer<Deno.NetAddr>;
  #stopping?: Promise<void>;
  #accepted = 0;
  #rejected: Record<string, number> = {};
  #lastError?: string;

  constructor(init: HttpSourceInit) {
    this.#init = init;
    this.#listen = init.listen ?? DEFAULT_HTTP_LISTEN;
    const { hostname, port } = parseListen(this.#listen);
    this.#hostname = hostname;
    this.#port = port;
    this.#loopback = isLoopback(hostname);
    if (!Number.isInteger(init.maxBodyBytes) || init.maxBodyBytes < 1) {
      throw new ConfigError(`invalid maxBodyBytes ${init.maxBodyBytes} for the http source: use a whole number ≥ 1`);
    }
    if (init.token !== undefined) {
      if (init.token.length === 0) throw new ConfigError("the http source's token is empty");
      this.#tokenDigest = digest(init.token);
    }
  }

  /** Binds the listener. Refuses a non-loopback address without a token. */
  start(): Promise<void> {
    try {
      this.#bind();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #bind(): void {
    if (this.#server) return;
    // Anyone who can reach the port could publish into the private mesh in
    // this agent's name; only the local machine may do that without a token.
    if (!this.#loopback && !this.#tokenDigest) {
      throw new HarkError(
        `Cannot listen on ${this.#listen} for the http source: a non-loopback address needs a token; set token = "…" in [[source]] or listen on 127.0.0.1`,
      );
    }
    try {
      this.#server = Deno.serve({
        hostname: this.#hostname,
        port: this.#port,
        onListen: () => {},
        handler: (request) => this.#handle(request),
      });
    } catch (error) {
      const host = this.#hostname.includes(":") ? `[${this.#hostname}]` : this.#hostname;
      const hint = `set listen = "${host}:${this.#port === 65535 ? 8089 : this.#port + 1}" in [[source]]`;
      if (error instanceof Deno.errors.AddrInUse) {
        throw new HarkError(
          `Cannot listen on ${this.#listen} for the http source: ${this.#listen} is in use; ${hint}`,
          {
            cause: error,
          },
        );
      }
      throw new HarkError(
        `Cannot listen on ${this.#listen} for the http source: ${(error as Error).message}; ${hint} or another address`,
        { cause: error },
      );
    }
    log.info("http source listening on {listen}", { listen: this.#address() });
  }

  /** Shuts the listener down; waits for requests in flight. */
  stop(): Promise<void> {
    const server = this.#server;
    if (server) {
      this.#server = undefined;
      this.#stopping = server.shutdown().finally(() => {
        this.#stopping = undefined;
      });
    }
    return this.#stopping ?? Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Counters for `hark status`; `listen` shows the bound port (also when 0 was asked for). */
  stats(): Record<string, unknown> {
    return {
      listen: this.#address(),
      running: this.#server !== undefined,
      auth: this.#tokenDigest !== undefined,
      accepted: this.#accepted,
      rejected: { ...this.#rejected },
      last_error: this.#lastError ?? null,
    };
  }

  /** The actual address, `host:port`; before start the configured one. */
  get address(): string {
    return this.#address();
  }

  #address(): string {
    const port = this.#server?.addr.port ?? this.#port;
    return this.#hostname.includes(":") ? `[${this.#hostname}]:${port}` : `${this.#hostname}:${port}`;
  }

  async #handle(request: Request): Promise<Response> {
    try {
      const url = new URL(request.url);
      this.#guardBrowser(request);
      this.#authorize(request, url);
      const draft = await this.#draft(request, url);
      const event = await this.#publish(draft);
      this.#accepted++;
      log.debug("published {id} on {topic} from http", { id: event.id, topic: event.topic });
      return reply(200, event);
    } catch (error) {
      const failure = error instanceof HttpFailure
        ? error
        : new HttpFailure(500, 50001, `internal error: ${(error as Error)?.message ?? error}`, { cause: error });
      this.#rejected[failure.status] = (this.#rejected[failure.status] ?? 0) + 1;
      this.#lastError = `${failure.status} ${failure.message}`;
      if (failure.status >= 500) log.error("http source: {error}", { error: failure.message });
      else {log.debug("http source refused a request: {status} {error}", {
          status: failure.status,
          error: failure.message,
        });}
      const headers: Record<string, string> = {};
      if (failure.status === 401) headers["www-authenticate"] = 'Bearer realm="hark"';
      if (failure.status === 429) headers["retry-after"] = "1";
      if (failure.status === 405) headers["allow"] = "GET, PUT, POST";
      return reply(failure.status, { code: failure.code, http: failure.status, error: failure.message }, headers);
    }
  }

  /**
   * A web page the user visits can make the browser send requests to
   * 127.0.0.1 (plain forms, images, DNS rebinding), which would let any site
   * publish into the mesh. Browsers mark such requests with `Origin` or
   * `Sec-Fetch-Site`; scripts and curl send neither. A loopback listener also
   * insists on a loopback `Host`, which defeats DNS rebinding in old browsers.
   */
  #guardBrowser(request: Request): void {
    const site = request.headers.get("sec-fetch-site");
    if (request.headers.has("origin") || (site !== null && site !== "none")) {
      throw new HttpFailure(403, 40302, "requests from web pages are refused: publish with curl or a script");
    }
    if (this.#loopback) {
      const host = (request.headers.get("host") ?? "").toLowerCase().replace(/:\d+$/, "");
      if (host !== "" && !isLoopback(host.replace(/^\[(.*)\]$/, "$1"))) {
        throw new HttpFailure(403, 40303, `host "${host}" is not a loopback name: use localhost or 127.0.0.1`);
      }
    }
  }

  /**
   * With a token configured, every request carries it in ntfy's ways:
   * `Authorization: Bearer <token>`, `Authorization: Basic` with the token as
   * the password (`curl -u :<token>`), or `?auth=` holding the base64url of
   * such a header (ntfy's form for clients that cannot set headers). The
   * digests compare in constant time, so the reply time does not leak a prefix.
   */
  #authorize(request: Request, url: URL): void {
    if (!this.#tokenDigest) return;
    let header = request.headers.get("authorization");
    const auth = url.searchParams.get("auth");
    if (header === null && auth !== null) header = decodeBase64Text(auth);
    const token = header === null ? undefined : tokenFromAuthorization(header);
    if (token === undefined) {
      throw new HttpFailure(401, 40101, "unauthorized: send Authorization: Bearer <token> (the token from [[source]])");
    }
    if (!timingSafeEqual(digest(token), this.#tokenDigest)) {
      throw new HttpFailure(401, 40102, "unauthorized: wrong token");
    }
  }

  async #draft(request: Request, url: URL): Promise<EventDraft> {
    const method = request.method;
    if (method !== "GET" && method !== "PUT" && method !== "POST") {
      throw new HttpFailure(405, 40501, `method ${method} is not allowed: publish with PUT, POST or GET …/publish`);
    }
    const path = url.pathname;
    if (path.length > MAX_PATH_CHARS) throw new HttpFailure(404, 40401, "not found");
    if (path === "/") {
      if (method === "GET") {
        throw new HttpFailure(404, 40402, "this is hark's http source: publish with POST /<topic> or a JSON POST to /");
      }
      return this.#jsonDraft(await this.#body(request));
    }
    const segments = path.slice(1).split("/");
    if (segments.length === 1 && method !== "GET") {
      const topic = this.#topic(segments[0]);
      return this.#paramDraft(request, url, topic, await this.#body(request));
    }
    if (segments.length === 2 && PUBLISH_ACTIONS.has(segments[1])) {
      const topic = this.#topic(segments[0]);
      return this.#paramDraft(request, url, topic, method === "GET" ? "" : await this.#body(request));
    }
    if (segments.length <= 2 && (segments.length === 1 || SUBSCRIBE_ACTIONS.has(segments[1]))) {
      throw new HttpFailure(
        404,
        40403,
        "hark's http source only publishes: subscribe with `hark tail` (add --json for JSON lines)",
      );
    }
    throw new HttpFailure(404, 40401, "not found");
  }

  /**
   * ntfy topics are `[-_A-Za-z0-9]{1,64}` and case-sensitive; hark topics are
   * `[a-z0-9._-]{1,64}`. Upper-case letters are lower-cased, so ntfy's
   * `Phil_Alerts` and `phil_alerts` both land on hark's `phil_alerts`; `.` is
   * accepted too so hark names such as `ci.builds` work. Anything else is 400.
   */
  #topic(text: string): string {
    if (!URL_TOPIC.test(text)) {
      throw new HttpFailure(
        400,
        40001,
        `invalid topic ${JSON.stringify(text.slice(0, 80))}: use 1-64 characters from A-Z, a-z, 0-9, ".", "_" and "-"`,
      );
    }
    return text.toLowerCase();
  }

  #paramDraft(request: Request, url: URL, topic: string, body: string): EventDraft {
    const param = (names: readonly string[]) => readParam(request, url, names);
    for (const [feature, names] of Object.entries(UNSUPPORTED_PARAMS)) {
      if (param(names) !== undefined) throw unsupported(feature);
    }
    // ntfy trims the body and, for the message parameter only, turns a
    // literal `\n` into a newline; an empty message becomes "triggered".
    const message = body.trim() || param(PARAMS.message)?.replaceAll("\\n", "\n") || EMPTY_MESSAGE;
    const draft: EventDraft = { topic, body: message };
    const title = param(PARAMS.title);
    if (title !== undefined) draft.title = title;
    const priority = param(PARAMS.priority);
    if (priority !== undefined) draft.priority = priorityOf(priority);
    const tags = param(PARAMS.tags);
    if (tags !== undefined) {
      const list = tags.split(",").map((tag) => tag.trim()).filter((tag) => tag !== "");
      if (list.length > 0) draft.tags = list;
    }
    const click = param(PARAMS.click);
    if (click !== undefined) draft.click = click;
    return draft;
  }

  /** ntfy's JSON publish; unknown keys are ignored as ntfy's server does. */
  #jsonDraft(body: string): EventDraft {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      throw new HttpFailure(400, 40002, 'the body to / must be a JSON object such as {"topic":"x","message":"y"}');
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new HttpFailure(400, 40002, 'the body to / must be a JSON object such as {"topic":"x","message":"y"}');
    }
    const json = value as Record<string, unknown>;
    for (const key of UNSUPPORTED_JSON_KEYS) {
      if (json[key] !== undefined && json[key] !== "") throw unsupported(key);
    }
    if (typeof json.topic !== "string") throw new HttpFailure(400, 40001, 'the JSON body needs a "topic" string');
    const draft: EventDraft = { topic: this.#topic(json.topic), body: EMPTY_MESSAGE };
    for (const key of ["message", "title", "click"] as const) {
      if (json[key] !== undefined && typeof json[key] !== "string") {
        throw new HttpFailure(400, 40003, `"${key}" must be a string`);
      }
    }
    const message = (json.message as string | undefined)?.trim();
    if (message) draft.body = message;
    if (json.title !== undefined && json.title !== "") draft.title = json.title as string;
    if (json.priority !== undefined && json.priority !== "" && json.priority !== 0) {
      if (typeof json.priority !== "number" && typeof json.priority !== "string") {
        throw new HttpFailure(400, 40004, "invalid priority: use 1-5 or min, low, default, high, urgent, max");
      }
      draft.priority = priorityOf(json.priority);
    }
    if (json.tags !== undefined) {
      if (!Array.isArray(json.tags) || json.tags.some((tag) => typeof tag !== "string")) {
        throw new HttpFailure(400, 40005, '"tags" must be a list of strings');
      }
      if (json.tags.length > 0) draft.tags = json.tags as string[];
    }
    if (json.click !== undefined && json.click !== "") draft.click = json.click as string;
    return draft;
  }

  /** Reads at most `maxBodyBytes`, as UTF-8 text. */
  async #body(request: Request): Promise<string> {
    const max = this.#init.maxBodyBytes;
    const tooLarge = () =>
      new HttpFailure(413, 41301, `the body is larger than ${max} bytes, the limit of this http source`);
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > max) throw tooLarge();
    if (!request.body) return "";
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = request.body.getReader();
    // A client that stalls mid-body would hold the request, and stop(), open.
    let stalled = false;
    const timer = setTimeout(() => {
      stalled = true;
      reader.cancel().catch(() => {});
    }, BODY_TIMEOUT_MS);
    try {
      // Chunk count is bounded too, in case a stream yields empty chunks.
      for (let reads = 0; reads <= max + 1; reads++) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        if (total > max) throw tooLarge();
        chunks.push(value);
      }
      if (stalled) throw new Error("stalled");
    } catch (error) {
      await reader.cancel().catch(() => {});
      if (stalled) {
        throw new HttpFailure(408, 40801, `the body did not arrive within ${BODY_TIMEOUT_MS / 1000} s`, {
          cause: error,
        });
      }
      throw error;
    } finally {
      clearTimeout(timer);
      reader.releaseLock();
    }
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    try {
      return utf8.decode(bytes);
    } catch {
      throw new HttpFailure(400, 40006, "the body is not UTF-8 text (hark has no attachments)");
    }
  }

  async #publish(draft: EventDraft) {
    try {
      return await this.#init.publish(draft);
    } catch (error) {
      throw refusal(error);
    }
  }
}

/** Maps a publish refusal to an HTTP status; its message goes to the client unchanged. */
function refusal(error: unknown): HttpFailure {
  if (!(error instanceof HarkError)) {
    return new HttpFailure(500, 50001, `internal error: ${(error as Error)?.message ?? error}`, { cause: error });
  }
  const message = error.message;
  if (error instanceof EventError) return new HttpFailure(400, 40010, message, { cause: error });
  if (/^rate limit\b/i.test(message)) return new HttpFailure(429, 42901, message, { cause: error });
  if (/may not publish|publishers|not an allowed publisher/i.test(message)) {
    return new HttpFailure(403, 40301, message, { cause: error });
  }
  if (/not running/i.test(message)) return new HttpFailure(503, 50301, message, { cause: error });
  return new HttpFailure(400, 40011, message, { cause: error });
}

function unsupported(feature: string): HttpFailure {
  return new HttpFailure(400, 40020, `ntfy's "${feature}" is not supported by hark: leave it out`);
}

function priorityOf(value: string | number): number {
  try {
    return parsePriority(value);
  } catch (error) {
    throw new HttpFailure(400, 40004, (error as Error).message, { cause: error });
  }
}

/** The first non-empty value among headers `names`, then query parameters `names` (ntfy's `readParam`). */
function readParam(request: Request, url: URL, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = request.headers.get(name);
    if (value !== null && value.trim() !== "") return decodeHeader(value.trim());
  }
  for (const name of names) {
    const value = url.searchParams.get(name);
    if (value !== null && value.trim() !== "") return value.trim();
  }
  return undefined;
}

const ENCODED_WORD = /=\?([-\w]+)\?([BbQq])\?([^?\s]*)\?=/g;

/**
 * Header values arrive as bytes, one char per byte: curl sends UTF-8 as is,
 * so it is decoded again here. RFC 2047 words (`=?UTF-8?B?…?=`), which ntfy
 * accepts for non-ASCII titles, are decoded as well.
 */
function decodeHeader(raw: string): string {
  let text = raw;
  if (/[\x80-\xff]/.test(raw) && !/[\u0100-\uffff]/.test(raw)) {
    try {
      text = utf8.decode(Uint8Array.from(raw, (char) => char.charCodeAt(0)));
    } catch {
      // Not UTF-8: keep the bytes as Latin-1, which is what they then are.
    }
  }
  if (!text.includes("=?")) return text;
  return text.replace(/(\?=)\s+(?==\?)/g, "$1").replace(ENCODED_WORD, (word, charset, encoding, data) => {
    try {
      const bytes = encoding.toUpperCase() === "B"
        ? Uint8Array.from(atob(data), (char) => char.charCodeAt(0))
        : Uint8Array.from(
          data.replaceAll("_", " ").replace(
            /=([0-9A-Fa-f]{2})/g,
            (_: string, hex: string) => String.fromCharCode(parseInt(hex, 16)),
          ),
          (char: string) => char.charCodeAt(0),
        );
      return new TextDecoder(charset, { fatal: true }).decode(bytes);
    } catch {
      return word;
    }
  });
}

/** The token of `Bearer <token>` or the password of `Basic base64(user:password)`. */
function tokenFromAuthorization(header: string): string | undefined {
  const match = /^\s*(bearer|basic)\s+(\S+)\s*$/i.exec(header);
  if (!match) return undefined;
  if (match[1].toLowerCase() === "bearer") return match[2];
  const credentials = decodeBase64Text(match[2]);
  const colon = credentials?.indexOf(":") ?? -1;
  return colon < 0 ? undefined : credentials!.slice(colon + 1);
}

/** Standard or URL-safe base64, padding optional; undefined when malformed. */
function decodeBase64Text(text: string): string | null {
  try {
    const standard = text.replaceAll("-", "+").replaceAll("_", "/");
    const bytes = Uint8Array.from(
      atob(standard.padEnd(Math.ceil(standard.length / 4) * 4, "=")),
      (c) => c.charCodeAt(0),
    );
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function reply(status: number, value: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** Splits `host:port` or `[v6]:port`. */
export function parseListen(listen: string): { hostname: string; port: number } {
  const match = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(listen) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(listen);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new ConfigError(
      `invalid listen ${JSON.stringify(listen)} for the http source: use host:port, e.g. 127.0.0.1:8089 or [::1]:8089`,
    );
  }
  return { hostname: match[1], port };
}

/** `localhost`, `127.0.0.0/8` and `::1`. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === "localhost" || host === "::1" || host === "0:0:0:0:0:0:0:1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
