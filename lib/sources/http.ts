/**
 * The `http` source: a loopback listener that speaks ntfy's publish API, so
 * scripts written for ntfy (`curl -H "Title: x" -d "body" localhost:8089/topic`)
 * publish hark events unchanged.
 *
 * Accepted requests (see README of issue #7 and ntfy's "Publishing" docs):
 * - `PUT`/`POST /<topic>` with the message as the body;
 * - `GET`/`PUT`/`POST /<topic>/publish|send|trigger`, the message in `?message=`;
 * - `PUT`/`POST /` with a JSON body `{"topic","message","title","priority","tags","click","actions","icon",
 *   "attach","filename","markdown","cache","sequence_id"}`;
 * - ntfy 2.16's notification updates: `PUT`/`POST /<topic>/<sequence_id>` (or the
 *   `X-Sequence-ID` header) replaces, `PUT /<topic>/<sequence_id>/clear` (or `/read`)
 *   acknowledges and `DELETE /<topic>/<sequence_id>` deletes (./ntfy_lifecycle.ts).
 * Options come as headers or query parameters under ntfy's names and aliases.
 * The reply is ntfy's message object for the created event (what the ntfy CLI
 * and apps decode); errors are `{"code","http","error"}` in ntfy's shape.
 */

import { getLogger } from "@logtape/logtape";
import { createHash, timingSafeEqual } from "node:crypto";
import { ConfigError, EventError, HarkError } from "../errors.ts";
import {
  BODY_MAX_BYTES,
  type EventDraft,
  type HarkEvent,
  isReservedTopic,
  parsePriority,
  TOPIC_PATTERN,
  TOPIC_RULE,
} from "../event/event.ts";
import { compileTopicPattern } from "../filter.ts";
import { FollowLimitError } from "../follow/followed_topics.ts";
import { HeaderGuard } from "./http_header_guard.ts";
import { lifecycleDraft, SEQUENCE_PARAMS, sequenceInPath, sequenceOf } from "./ntfy_lifecycle.ts";
import { DELAY_PARAMS, ntfyDue } from "./ntfy_delay.ts";
import type { AgentView, Feed, Publish, Source } from "./source.ts";
import { HttpFailure } from "./http_failure.ts";
import { readParam } from "./ntfy_params.ts";
import { parseActionsHeader, parseActionsJson } from "./ntfy_actions.ts";
import { fillTemplate, templateData } from "./ntfy_template.ts";
import { fileMessage, type Media, MEDIA_PARAMS, readMedia, uploadRefused } from "./ntfy_media.ts";
import type { EventAction } from "../event/actions.ts";
import { METRICS_CONTENT_TYPE } from "../metrics.ts";
import { APP_CSS, APP_JS, FAVICON_SVG, INDEX_HTML } from "../web/assets.ts";
import {
  DEFAULT_KEEPALIVE_MS,
  ntfyMessage,
  parseSubscription,
  socketSubscription,
  streamSubscription,
  SUBSCRIBE_FORMATS,
  type SubscribeFormat,
} from "./ntfy_subscribe.ts";

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
  /** Where subscribers' events come from. */
  feed: Feed;
  /** The agent's counters in Prometheus' text format, served as `GET /metrics`. */
  metrics?: () => string;
  /** Peers and sinks for the web page (`GET /v1/hark/status`); without it there is no page. */
  view?: () => Promise<AgentView>;
  /** How often an idle subscription gets a keepalive (ms). @default 45 s */
  keepaliveMs?: number;
  /** How long a client has to send a request head (ms), see http_header_guard.ts. @default 10 s */
  headTimeoutMs?: number;
  /**
   * Which topics outside the agent's own a subscriber (or a publish) makes
   * the agent follow: globs, or false for none. @default any topic, as ntfy
   */
  follow?: false | readonly string[];
  /** The most topics the agent follows on the fly; the next one is refused with 429. @default 1000 */
  followMax?: number;
}

export const DEFAULT_FOLLOW_MAX = 1000;

const PUBLISH_ACTIONS = new Set(["publish", "send", "trigger"]);
const SUBSCRIBE_ACTIONS: ReadonlySet<string> = new Set(SUBSCRIBE_FORMATS);
/** Open subscriptions at once, over all clients: each holds a connection and a follower. */
const MAX_SUBSCRIBERS = 256;
const MIN_KEEPALIVE_MS = 1000;
/** ntfy sends this text when a publish has no message (`curl -X POST …/trigger`). */
const EMPTY_MESSAGE = "triggered";
const MAX_PATH_CHARS = 256;
const BODY_TIMEOUT_MS = 10_000;

const WEB_ASSETS: Record<string, { body: string; type: string }> = {
  "/": { body: INDEX_HTML, type: "text/html; charset=utf-8" },
  "/app.js": { body: APP_JS, type: "text/javascript; charset=utf-8" },
  "/app.css": { body: APP_CSS, type: "text/css; charset=utf-8" },
  "/favicon.svg": { body: FAVICON_SVG, type: "image/svg+xml" },
  "/favicon.ico": { body: FAVICON_SVG, type: "image/svg+xml" },
};

/** The page runs only its own script, talks only to this listener, and cannot be framed. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** ntfy's parameter names, header or query, first match wins (headers first, as in ntfy). */
const PARAMS = {
  title: ["x-title", "title", "ti", "t"],
  message: ["x-message", "message", "m"],
  priority: ["x-priority", "priority", "prio", "p"],
  tags: ["x-tags", "tags", "tag", "ta"],
  click: ["x-click", "click"],
  actions: ["x-actions", "actions", "action"],
  cache: ["x-cache", "cache"],
  template: ["x-template", "template", "tpl"],
} as const;

/**
 * ntfy features hark cannot honour and whose loss would surprise the sender
 * (an e-mail or call that never happens): refused with 400 rather than
 * silently ignored. Firebase is ignored: hark has none to skip. An uploaded
 * file is refused as ntfy refuses it without an attachment cache
 * (./ntfy_media.ts).
 */
const UNSUPPORTED_PARAMS: Record<string, readonly string[]> = {
  "email": ["x-email", "x-e-mail", "email", "e-mail", "mail", "e"],
  "call": ["x-call", "call"],
};
const UNSUPPORTED_JSON_KEYS = ["email", "call"];

const utf8 = new TextDecoder("utf-8", { fatal: true });

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
  /** Owns the public address; the server listens behind it on loopback. */
  #guard?: HeaderGuard;
  #stopping?: Promise<void>;
  #accepted = 0;
  #rejected: Record<string, number> = {};
  readonly #keepaliveMs: number;
  /** How to end each open subscription, for stop(). */
  readonly #subscribers = new Set<() => void>();
  #subscriptions = 0;
  #nextControlId = 0;
  #lastError?: string;
  /** Which new topics this source may make the agent follow. */
  readonly #mayFollow: (topic: string) => boolean;

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
    this.#keepaliveMs = init.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    if (!Number.isFinite(this.#keepaliveMs) || this.#keepaliveMs < MIN_KEEPALIVE_MS) {
      throw new ConfigError(`the http source's keepalive must be at least 1s, not ${this.#keepaliveMs} ms`);
    }
    const follow = init.follow === false ? undefined : init.follow?.map(compileTopicPattern);
    this.#mayFollow = init.follow === false
      ? () => false
      : (topic) => !isReservedTopic(topic) && (follow?.some((matches) => matches(topic)) ?? true);
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
    // Deno.serve has no deadline on request heads: it serves on a loopback
    // port of its own, behind a guard that has one and owns the address.
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
      handler: async (request) => {
        // Decided before the request is handled: a WebSocket upgrade closes the request, headers and all.
        const allowOrigin = this.#mayAllowOrigin(request);
        const response = await this.#handle(request);
        if (allowOrigin && response.status !== 101) response.headers.set("access-control-allow-origin", "*");
        return response;
      },
    });
    const guard = new HeaderGuard({
      hostname: this.#hostname,
      port: this.#port,
      serverPort: server.addr.port,
      headTimeoutMs: this.#init.headTimeoutMs,
    });
    try {
      guard.start();
      this.#server = server;
      this.#guard = guard;
    } catch (error) {
      server.shutdown().catch(() => {});
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

  /** Shuts the listener down; ends every subscription and waits for requests in flight. */
  stop(): Promise<void> {
    const server = this.#server;
    const guard = this.#guard;
    if (server && guard) {
      this.#server = undefined;
      this.#guard = undefined;
      for (const close of [...this.#subscribers]) close();
      // No new connections; those open finish their requests, then are closed.
      this.#stopping = guard.stop(false).then(() => server.shutdown()).finally(() => {
        this.#stopping = undefined;
        return guard.stop();
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
      subscribers: this.#subscribers.size,
      subscriptions: this.#subscriptions,
      last_error: this.#lastError ?? null,
    };
  }

  /** The actual address, `host:port`; before start the configured one. */
  get address(): string {
    return this.#address();
  }

  #address(): string {
    const port = this.#guard?.addr?.port ?? this.#port;
    return this.#hostname.includes(":") ? `[${this.#hostname}]:${port}` : `${this.#hostname}:${port}`;
  }

  async #handle(request: Request): Promise<Response> {
    try {
      const url = new URL(request.url);
      if (request.method === "OPTIONS") return this.#preflight();
      this.#guardBrowser(request, url);
      // The page, its script, style and icon are the same code in every hark
      // and hold no data, so they load without the token: a browser that
      // opens the page can then ask for it, and every request for data
      // below still needs it.
      const page = request.method === "GET" ? this.#servePage(url.pathname) : undefined;
      if (page) return page;
      this.#authorize(request, url);
      const served = request.method === "GET" ? await this.#serveFixed(url.pathname) : undefined;
      if (served) return served;
      if (isAuthCheck(request, url)) return this.#authCheck(url);
      const target = this.#subscribeTarget(request, url);
      // Awaited here: a subscription refused before its reply starts (503) is answered below.
      if (target) return await this.#subscribe(request, url, target);
      const draft = await this.#draft(request, url);
      const event = await this.#publish(draft);
      this.#followPublished(event.topic);
      this.#accepted++;
      log.debug("published {id} on {topic} from http", { id: event.id, topic: event.topic });
      return reply(200, publishReply(event, this.#init.feed.retentionMs));
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
      if (failure.status === 429 || failure.status === 503) headers["retry-after"] = "1";
      if (failure.status === 405) headers["allow"] = "GET, PUT, POST, DELETE";
      if (failure.status === 426) headers["sec-websocket-version"] = "13";
      return reply(failure.status, { code: failure.code, http: failure.status, error: failure.message }, headers);
    }
  }

  /**
   * Lets a page on another origin read the answer to a request that carried
   * the token itself (a 401 included, so it can tell its user the token is
   * wrong). Only a listener with a token sends this, and a page without the
   * token learns nothing, not even the refusal. `*` never covers what a
   * browser adds on its own (cookies), so only the token opens anything.
   */
  #mayAllowOrigin(request: Request): boolean {
    return this.#tokenDigest !== undefined && request.headers.has("origin") &&
      carriesToken(request, new URL(request.url));
  }

  /**
   * A browser asks before a cross-origin request that sends headers (the
   * token, ntfy's Title, …) or uses PUT: the answer lists what may come.
   * The preflight itself carries no token; the request after it must. A
   * listener without a token refuses cross-origin requests, so it refuses
   * the question too.
   */
  #preflight(): Response {
    if (!this.#tokenDigest) {
      return reply(403, {
        code: 40304,
        http: 403,
        error: 'requests from other web pages need a token: set token = "…" in [[source]]',
      });
    }
    return new Response(null, {
      status: 204,
      headers: {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "GET, PUT, POST",
        // `*` alone does not cover Authorization (the Fetch standard), so it is named.
        "access-control-allow-headers": "Authorization, *",
        "access-control-max-age": "3600",
      },
    });
  }

  /** The web page, its script, style and icon; undefined for other paths or without a page. */
  #servePage(path: string): Response | undefined {
    const asset = this.#init.view ? WEB_ASSETS[path] : undefined;
    if (!asset) return undefined;
    return new Response(asset.body, { headers: { "content-type": asset.type, ...PAGE_HEADERS } });
  }

  /** The page's status call and the metrics; undefined for other paths. */
  async #serveFixed(path: string): Promise<Response | undefined> {
    const { metrics, view } = this.#init;
    if (path === "/metrics" && metrics) {
      return new Response(metrics(), { headers: { "content-type": METRICS_CONTENT_TYPE } });
    }
    if (path === "/v1/hark/status" && view) return reply(200, await view(), { "cache-control": "no-store" });
    return undefined;
  }

  /** `GET /<topics>/<format>`: which topics and format, or undefined for any other request. */
  #subscribeTarget(
    request: Request,
    url: URL,
  ): { format: SubscribeFormat; topics: Set<string>; list: string } | undefined {
    if (request.method !== "GET" || url.pathname.length > MAX_PATH_CHARS) return undefined;
    const segments = url.pathname.slice(1).split("/");
    if (segments.length !== 2 || !SUBSCRIBE_ACTIONS.has(segments[1])) return undefined;
    return { format: segments[1] as SubscribeFormat, ...this.#readableTopics(segments[0]) };
  }

  /**
   * `GET /<topics>/auth`, which the ntfy app sends before it adds a
   * subscription: 200 `{"success":true}` once `#authorize` let the request
   * through (401 otherwise, which makes the app ask for a login), 403 for
   * topics this agent may not follow, so the app shows the reason instead of
   * adding a subscription that can never receive anything.
   */
  #authCheck(url: URL): Response {
    const { topics } = this.#readableTopics(url.pathname.slice(1).split("/")[0]);
    this.#refuseUnfollowable([...topics].filter((topic) => !this.#init.feed.topics.has(topic)));
    return reply(200, { success: true });
  }

  /** A path's comma-separated topics, each checked against the grammar; HttpFailure 400 otherwise. */
  #readableTopics(segment: string): { topics: Set<string>; list: string } {
    const names = segment.split(",").filter((name) => name !== "");
    if (names.length === 0) throw new HttpFailure(400, 40001, "invalid topic: name one or more, comma-separated");
    const topics = new Set(names.map((name) => this.#topic(name)));
    return { topics, list: [...topics].join(",") };
  }

  async #subscribe(
    request: Request,
    url: URL,
    target: { format: SubscribeFormat; topics: Set<string>; list: string },
  ): Promise<Response> {
    const subscription = parseSubscription(request, url, target.topics, target.list);
    if (this.#subscribers.size >= MAX_SUBSCRIBERS) {
      throw new HttpFailure(429, 42903, `too many subscribers (${MAX_SUBSCRIBERS}); close some and try again`);
    }
    await this.#follow(target.topics);
    this.#subscriptions++;
    const options = {
      feed: this.#init.feed,
      keepaliveMs: this.#keepaliveMs,
      nextId: () => `hark${(this.#nextControlId++).toString(36).padStart(8, "0")}`,
      track: (close: () => void) => {
        this.#subscribers.add(close);
        return () => this.#subscribers.delete(close);
      },
    };
    log.debug("subscription to {topics} as {format}", { topics: target.list, format: target.format });
    return target.format === "ws"
      ? socketSubscription(request, subscription, options)
      : streamSubscription(target.format, subscription, options);
  }

  /**
   * ntfy creates a topic when it is first used: a subscription (or poll)
   * makes the agent follow each topic it does not, where `follow` allows,
   * up to `followMax` topics.
   */
  async #follow(topics: ReadonlySet<string>): Promise<void> {
    const fresh = [...topics].filter((topic) => !this.#init.feed.topics.has(topic));
    if (fresh.length === 0) return;
    this.#refuseUnfollowable(fresh);
    try {
      await this.#init.feed.follow(new Set(fresh), this.#init.followMax ?? DEFAULT_FOLLOW_MAX);
    } catch (error) {
      if (error instanceof FollowLimitError) throw new HttpFailure(429, 42904, error.message, { cause: error });
      throw error;
    }
  }

  /** HttpFailure 403 naming those of `fresh` (topics not followed yet) that `follow` does not let subscribers add. */
  #refuseUnfollowable(fresh: readonly string[]): void {
    const refused = fresh.filter((topic) => !this.#mayFollow(topic));
    if (refused.length > 0) {
      const names = refused.map((topic) => `"${topic}"`).join(", ");
      const rule = this.#init.follow === false
        ? "follow = false"
        : `follow = ${JSON.stringify(this.#init.follow ?? ["*"])}, and never hark.*`;
      throw new HttpFailure(
        403,
        40301,
        `forbidden: this agent does not follow ${names}, and its http source lets subscribers follow only the topics of ${rule}; add ${
          refused.length === 1 ? "it" : "them"
        } to agent.topics or to follow in [[source]]`,
      );
    }
  }

  /**
   * ntfy keeps what is published to a topic for its later subscribers, so
   * a publish makes the agent follow the topic too, where `follow` allows
   * and there is room; the publish stands either way.
   */
  #followPublished(topic: string): void {
    if (this.#init.feed.topics.has(topic) || !this.#mayFollow(topic)) return;
    this.#init.feed.follow(new Set([topic]), this.#init.followMax ?? DEFAULT_FOLLOW_MAX).catch((error) => {
      log.debug("http source: not following {topic} after a publish: {error}", { topic, error: error.message });
    });
  }

  /**
   * A web page the user visits can make the browser send requests to
   * 127.0.0.1 (plain forms, images, DNS rebinding, WebSockets, which no CORS
   * rule covers), which would let any site publish into the mesh or read
   * its events. Browsers mark such requests with `Origin` or
   * `Sec-Fetch-Site`; scripts and curl send neither. Same-origin requests
   * get through; so do cross-origin ones that carry the token themselves
   * (`Authorization`, or `?auth=` for EventSource and WebSocket), which
   * `#authorize` then checks: a page that knows the token was given it by
   * its user. Nothing a browser adds on its own counts. A loopback listener
   * also insists on a loopback `Host`, which defeats DNS rebinding.
   */
  #guardBrowser(request: Request, url: URL): void {
    const site = request.headers.get("sec-fetch-site");
    const origin = request.headers.get("origin");
    const host = (request.headers.get("host") ?? "").toLowerCase();
    // This listener's own pages may call it from a browser.
    const sameOrigin = site === "same-origin" ||
      (site === null && origin !== null && URL.parse(origin)?.host.toLowerCase() === host);
    if (!sameOrigin && (origin !== null || (site !== null && site !== "none"))) {
      if (!this.#tokenDigest) {
        throw new HttpFailure(
          403,
          40302,
          'requests from other web pages are refused: publish with curl or a script, or set token = "…" in [[source]] and send it',
        );
      }
      if (!carriesToken(request, url)) {
        throw new HttpFailure(
          403,
          40305,
          "requests from other web pages must carry the token: send Authorization: Bearer <token>, or ?auth= for EventSource and WebSocket",
        );
      }
    }
    if (this.#loopback) {
      const name = host.replace(/:\d+$/, "");
      if (name !== "" && !isLoopback(name.replace(/^\[(.*)\]$/, "$1"))) {
        throw new HttpFailure(403, 40303, `host "${name}" is not a loopback name: use localhost or 127.0.0.1`);
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
    // A clear or a delete of a notification, by its sequence id.
    const lifecycle = lifecycleDraft(method, url.pathname, (text) => this.#topic(text));
    if (lifecycle) return lifecycle;
    if (method !== "GET" && method !== "PUT" && method !== "POST") {
      throw new HttpFailure(
        405,
        40501,
        `method ${method} is not allowed here: publish with PUT, POST or GET …/publish; delete a notification with DELETE /<topic>/<sequence_id>`,
      );
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
    if (segments.length === 2 && method !== "GET") {
      // ntfy's `/<topic>/<sequence_id>`: a new version of that notification.
      const topic = this.#topic(segments[0]);
      const draft = this.#paramDraft(request, url, topic, await this.#body(request));
      return { ...draft, sequence: sequenceInPath(segments[1]) };
    }
    if (segments.length === 1) {
      throw new HttpFailure(
        404,
        40403,
        `GET /${segments[0]} shows nothing: subscribe with GET /${
          segments[0]
        }/json (or /sse, /raw, /ws), or publish with POST`,
      );
    }
    throw new HttpFailure(404, 40401, "not found");
  }

  /**
   * ntfy topics are `[-_A-Za-z0-9]{1,64}` and case-sensitive, and so are
   * hark's (which add `.`): the name is kept as written, because an ntfy app
   * files each message under `message.topic` and drops one whose case changed.
   * Anything the event model refuses is 400, with the same rule in the message.
   */
  #topic(text: string): string {
    if (!TOPIC_PATTERN.test(text)) {
      throw new HttpFailure(400, 40001, `invalid topic ${JSON.stringify(text.slice(0, 80))}: ${TOPIC_RULE}`);
    }
    return text;
  }

  #paramDraft(request: Request, url: URL, topic: string, body: string): EventDraft {
    const param = (names: readonly string[]) => readParam(request, url, names);
    for (const [feature, names] of Object.entries(UNSUPPORTED_PARAMS)) {
      if (param(names) !== undefined) throw unsupported(feature);
    }
    const media = readMedia({
      markdown: param(MEDIA_PARAMS.markdown),
      contentType: param(MEDIA_PARAMS.contentType),
      icon: param(MEDIA_PARAMS.icon),
      attach: param(MEDIA_PARAMS.attach),
      filename: param(MEDIA_PARAMS.filename),
    });
    // With templating the body is JSON data for the title and message; it is never a file.
    const data = isYes(param(PARAMS.template)) ? templateData(body) : undefined;
    const fill = (text: string | undefined) =>
      data === undefined || text === undefined ? text : fillTemplate(text, data);
    // Over ntfy's message limit, ntfy takes the body for a file (unless an Attach URL says it is the message).
    const bodyBytes = new TextEncoder().encode(body).length;
    if (data === undefined && !media.attachment && bodyBytes > BODY_MAX_BYTES) {
      throw uploadRefused(
        `the body is ${bodyBytes} bytes, over the message limit of ${BODY_MAX_BYTES}, so it is a file`,
      );
    }
    // ntfy trims the body and, for the message parameter only, turns a
    // literal `\n` into a newline; an empty message becomes "triggered", or
    // names the attached file.
    const message = (data === undefined ? body.trim() : "") ||
      fill(param(PARAMS.message)?.replaceAll("\\n", "\n")) ||
      (media.attachment ? fileMessage(media.attachment.name) : EMPTY_MESSAGE);
    const draft: EventDraft = { topic, body: message, ...mediaDraft(media) };
    const title = fill(param(PARAMS.title));
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
    const actions = param(PARAMS.actions);
    if (actions !== undefined) draft.actions = actionsOf(() => parseActionsHeader(actions));
    if (!cacheWanted(param(PARAMS.cache))) draft.cache = false;
    const sequence = param(SEQUENCE_PARAMS);
    if (sequence !== undefined) draft.sequence = sequenceOf(sequence);
    const delay = param(DELAY_PARAMS);
    if (delay !== undefined) draft.at = ntfyDue(delay, draft.cache !== false);
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
    for (const key of ["message", "title", "click", "icon", "attach", "filename"] as const) {
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
    if (json.actions !== undefined && json.actions !== null) {
      draft.actions = actionsOf(() => parseActionsJson(json.actions));
    }
    // ntfy's JSON has `"cache": "no"`, a string; a boolean is taken too.
    if (json.cache === false || (typeof json.cache === "string" && !cacheWanted(json.cache))) draft.cache = false;
    if (json.sequence_id !== undefined && json.sequence_id !== "") {
      if (typeof json.sequence_id !== "string") throw new HttpFailure(400, 40003, '"sequence_id" must be a string');
      draft.sequence = sequenceOf(json.sequence_id);
    }
    if (json.delay !== undefined && json.delay !== "") {
      if (typeof json.delay === "number") {
        // ntfy's JSON `delay` is a string; a number fails its JSON decoding (400). Say what to write instead
        // of guessing: 30 may mean 30 seconds or a unix time, and read as unix time it is 1970.
        throw new HttpFailure(
          400,
          40024,
          `"delay" must be a string, as in ntfy: write "delay": "${json.delay}s" for a delay of ${json.delay} seconds, or "delay": "${json.delay}" in quotes for unix time`,
        );
      }
      if (typeof json.delay !== "string") {
        throw new HttpFailure(400, 40003, '"delay" must be a string such as "30m" or "tomorrow, 10am"');
      }
      draft.at = ntfyDue(json.delay, draft.cache !== false);
    }
    if (json.markdown !== undefined && typeof json.markdown !== "boolean") {
      throw new HttpFailure(400, 40003, '"markdown" must be true or false');
    }
    // ntfy's JSON publish says "triggered" for an empty message even with an attachment.
    Object.assign(
      draft,
      mediaDraft(readMedia({
        markdown: json.markdown as boolean | undefined,
        icon: json.icon as string | undefined,
        attach: json.attach as string | undefined,
        filename: json.filename as string | undefined,
      })),
    );
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
      throw uploadRefused("the body is not UTF-8 text, so it is a file");
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

/**
 * A publish's reply as ntfy's server writes it (`id`, `time` in unix seconds,
 * `expires`, `event: "message"`, `topic`, `message`, …), since ntfy's CLI and
 * scripts (`curl … | jq .message`) decode it. The hark event's `source` rides
 * along: ntfy uses no such name.
 */
function publishReply(event: HarkEvent, retentionMs: number) {
  return { ...ntfyMessage(event, retentionMs), source: event.source };
}

/**
 * ntfy's `Cache:` header: absent or empty means store the message; only
 * `1`, `yes` and `true` mean so when given, so `no`, `0` and `false` (and
 * anything else, as in ntfy) ask that no agent store it.
 */
function cacheWanted(value: string | undefined): boolean {
  return value === undefined || value.trim() === "" || ["1", "yes", "true"].includes(value.trim().toLowerCase());
}

/** ntfy's true for a boolean parameter: 1, yes or true. */
function isYes(value: string | undefined): boolean {
  return value !== undefined && ["1", "yes", "true"].includes(value.trim().toLowerCase());
}

/** Whether the request itself names a token (checked by `#authorize`), as a header or ntfy's `?auth=`. */
function carriesToken(request: Request, url: URL): boolean {
  return request.headers.has("authorization") || url.searchParams.has("auth");
}

/** `GET /<topics>/auth`: ntfy's "may I read these topics" check. */
function isAuthCheck(request: Request, url: URL): boolean {
  if (request.method !== "GET" || url.pathname.length > MAX_PATH_CHARS) return false;
  const segments = url.pathname.slice(1).split("/");
  return segments.length === 2 && segments[1] === "auth";
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

/** Only what is set, so a plain message's draft has no media fields at all. */
function mediaDraft(media: Media): Partial<EventDraft> {
  const draft: Partial<EventDraft> = {};
  if (media.markdown) draft.markdown = true;
  if (media.icon !== undefined) draft.icon = media.icon;
  if (media.attachment !== undefined) draft.attachment = media.attachment;
  return draft;
}

function actionsOf(parse: () => EventAction[]): EventAction[] {
  try {
    return parse();
  } catch (error) {
    throw new HttpFailure(400, 40007, `invalid actions: ${(error as Error).message}`, { cause: error });
  }
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
