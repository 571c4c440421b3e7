/**
 * POSTs each event to an HTTP endpoint: a generic JSON receiver, a Slack or
 * Discord incoming webhook, or an ntfy server.
 *
 * Bodies by `format`:
 * - `json`: the event JSON exactly as in SPEC.
 * - `slack`: `{"text": "*title*\nbody\n<click>"}`. `&`, `<` and `>` are
 *   escaped as Slack asks, which also neutralises `<!everyone>`, `<@U123>`
 *   and `<url|label>` links; Slack has no escape for `*` or `_`.
 * - `discord`: `{"content": "**title**\nbody\n<click>", "allowed_mentions": {"parse": []}}`
 *   of at most 2000 characters. Markdown characters are backslash-escaped,
 *   a zero-width space follows every `@` (so `@everyone` and `<@123>` stay
 *   text), and `allowed_mentions` tells Discord to ping no one whatever the
 *   text says. A long body is cut with `…`; a link that does not fit is left out.
 * - `ntfy`: ntfy's JSON publish format. ntfy reads JSON only when it is
 *   posted to the server's root, so a URL that names a topic
 *   (`https://ntfy.sh/mytopic`, as ntfy users copy it) is split: the last
 *   path segment becomes `topic` and the request goes to the path above it
 *   (`https://ntfy.sh/`). A URL without a path (`https://ntfy.sh`) publishes
 *   to the event's own topic.
 *
 * In the chat formats control characters (NUL, escape sequences, bidi
 * overrides) become U+FFFD; newlines stay, except in the title.
 *
 * Every request carries `Idempotency-Key` and `X-Hark-Id`, both the event id
 * (receivers drop duplicates by it), `X-Hark-Repeat: 1` when the event was
 * in flight at a crash of the agent and may have been received already,
 * `X-Hark-Topic`, `Content-Type: application/json`, `User-Agent: hark/<version>`
 * and, with a `secret`, `X-Hark-Signature: sha256=<hex HMAC-SHA256 of the body bytes>`.
 *
 * Failures: network errors, timeouts, 408, 429 and 5xx are retried inside
 * one `deliver` with exponential backoff and full jitter (429 and 503 wait
 * for `Retry-After` instead, capped), `retries` times at most. Other
 * statuses, redirects included, fail at once. What happens then depends on
 * who is at fault:
 * - The receiver is unavailable (no answer, a timeout, 408, 429, 502, 503,
 *   504): the event is not at fault, so the error is retryable and the
 *   router tries it again later; the events behind it wait in the store.
 * - The receiver answered with another error (a 500 for this event, a 4xx):
 *   the event is given up (logged and counted) and the next one goes.
 * After `breakerFailures` failed delivers in a row, of either kind, the
 * circuit opens and `deliver` fails without a request until the cooldown
 * has passed; then one delivery, a single attempt, decides whether it closes
 * again. So an event the receiver chokes on costs `1 + retries` requests,
 * and a dead receiver one request per cooldown.
 */

import { getLogger } from "@logtape/logtape";
import type { HarkEvent } from "../lib/event/event.ts";
import { ConfigError, HarkError } from "../lib/errors.ts";
import { VERSION } from "../lib/version.ts";
import type { DeliverOptions, Sink } from "./sink.ts";
import { delay } from "../lib/util/delay.ts";
import { stripControls } from "../lib/util/controls.ts";
import { fnv1a } from "../lib/util/fnv.ts";
import { discordBody, ntfyBody, slackBody } from "./webhook_formats.ts";
import { CircuitBreaker } from "./webhook_breaker.ts";
import { WEBHOOK_FORMATS, type WebhookFormat } from "./webhook_config.ts";

const log = getLogger(["hark", "sink", "webhook"]);
const encoder = new TextEncoder();

export interface WebhookSinkInit {
  /** An http or https URL. User info in it is sent as basic auth, never shown. */
  url: string;
  /** @default "json" */
  format?: WebhookFormat;
  /** Sent with every request. hark's own `X-Hark-*` and `Content-Type` headers win over these. */
  headers?: Record<string, string>;
  /** Signs each body: `X-Hark-Signature: sha256=<hex HMAC-SHA256>`. */
  secret?: string;
  /** Per attempt, from sending the request to reading the answer. @default 10000 */
  timeoutMs?: number;
  /** Extra attempts inside one `deliver`. @default 3 */
  retries?: number;
  /** Backoff before the first retry, doubled for each next one, with full jitter. @default 500 */
  retryDelayMs?: number;
  /** Longest wait between attempts, also for `Retry-After`. @default 30000 */
  maxRetryDelayMs?: number;
  /** Failed delivers in a row that open the circuit. @default 5 */
  breakerFailures?: number;
  /** How long the circuit stays open before one trial delivery. @default 30000 */
  breakerCooldownMs?: number;
  /** In [0, 1); for tests. @default Math.random */
  random?: () => number;
  /** Epoch milliseconds; for tests. @default Date.now */
  now?: () => number;
}

export interface WebhookState {
  circuit: "closed" | "open" | "half-open";
  /** Failed delivers since the last success. */
  consecutive_failures: number;
  /** Delivers that succeeded. */
  delivered: number;
  /** Delivers that reached for the network and failed (not those refused by an open circuit, not aborts). */
  failed: number;
  /** Delivers refused at once because the circuit was open. */
  rejected: number;
  /** When an open circuit lets a trial through (RFC 3339). */
  open_until?: string;
  /** The HTTP status of the last answer. */
  last_status?: number;
  last_error?: string;
}

/** A delivery failed. `retryable` is false when sending the same event again cannot help (a 4xx). */
export class WebhookError extends HarkError {
  override name = "WebhookError";
  /** The endpoint's HTTP status, if it answered. */
  readonly status?: number;
  readonly retryable: boolean;

  constructor(message: string, options: { status?: number; retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.status = options.status;
    this.retryable = options.retryable;
  }
}

/** The circuit is open: `deliver` did not try. Retryable once the circuit lets a trial through. */
export class CircuitOpenError extends WebhookError {
  override name = "CircuitOpenError";
  /** Epoch milliseconds when a trial will be let through. */
  readonly until: number;

  constructor(message: string, until: number) {
    super(message, { retryable: true });
    this.until = until;
  }
}

/** What one attempt came to; only an abort by the caller throws instead. */
type Attempt =
  | { ok: true; status: number }
  | { ok: false; retryable: boolean; message: string; status?: number; retryAfterMs?: number; cause?: unknown };

const ERROR_TEXT_BYTES = 200;

export class WebhookSink implements Sink {
  readonly name: string;
  readonly marksRepeats = true;
  #format: WebhookFormat;
  /** Where requests go: without user info, and for ntfy without the topic. */
  #target: URL;
  /** Shown in logs and errors: scheme, host and port only. */
  #display: string;
  #ntfyTopic?: string;
  #headers: Headers;
  #key?: Promise<CryptoKey>;
  #timeoutMs: number;
  #retries: number;
  #retryDelayMs: number;
  #maxRetryDelayMs: number;
  #random: () => number;
  #now: () => number;
  /** Aborted by `close()`: ends what is in flight. */
  #closing = new AbortController();
  #breaker: CircuitBreaker;
  #delivered = 0;
  #failed = 0;
  #rejected = 0;
  #lastStatus?: number;
  #lastError?: string;

  constructor(init: WebhookSinkInit) {
    const url = URL.parse(init.url);
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
      // The URL may hold a token; only its scheme is named.
      throw new ConfigError(`invalid webhook url (scheme ${JSON.stringify(url?.protocol ?? "?")}): use http or https`);
    }
    this.#format = init.format ?? "json";
    if (!WEBHOOK_FORMATS.includes(this.#format)) {
      throw new ConfigError(`invalid webhook format "${this.#format}": use ${WEBHOOK_FORMATS.join(", ")}`);
    }
    this.#display = redactUrl(url);
    // The name is the router's cursor key, so it must differ between two webhooks to one host
    // and stay the same across restarts; a short hash does that without showing the path's token.
    this.name = `webhook:${this.#display}#${urlTag(url.href)}`;

    this.#headers = new Headers();
    this.#headers.set("User-Agent", `hark/${VERSION}`);
    for (const [key, value] of Object.entries(init.headers ?? {})) {
      try {
        this.#headers.set(key, value);
      } catch (cause) {
        // The value may be a credential: only the header's name is shown.
        throw new ConfigError(`invalid webhook header ${JSON.stringify(key)}`, { cause });
      }
    }
    this.#headers.set("Content-Type", "application/json");
    if (url.username || url.password) {
      const credentials = `${decode(url.username)}:${decode(url.password)}`;
      this.#headers.set("Authorization", `Basic ${base64(encoder.encode(credentials))}`);
    }

    const target = new URL(url.href);
    target.username = "";
    target.password = "";
    target.hash = "";
    if (this.#format === "ntfy") {
      const segments = target.pathname.split("/");
      const last = segments.pop()!;
      if (last !== "") {
        this.#ntfyTopic = decode(last);
        target.pathname = segments.join("/") + "/";
      }
    }
    this.#target = target;

    if (init.secret !== undefined) {
      if (init.secret === "") throw new ConfigError("webhook secret is empty");
      this.#key = crypto.subtle.importKey(
        "raw",
        encoder.encode(init.secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      // A rejection surfaces at the first delivery; this only keeps it from being reported as unhandled.
      this.#key.catch(() => {});
    }
    this.#timeoutMs = positive(init.timeoutMs ?? 10_000, "timeoutMs");
    this.#retries = whole(init.retries ?? 3, "retries");
    this.#retryDelayMs = whole(init.retryDelayMs ?? 500, "retryDelayMs");
    this.#maxRetryDelayMs = whole(init.maxRetryDelayMs ?? 30_000, "maxRetryDelayMs");
    this.#random = init.random ?? Math.random;
    this.#now = init.now ?? Date.now;
    this.#breaker = new CircuitBreaker({
      failures: positive(init.breakerFailures ?? 5, "breakerFailures"),
      cooldownMs: whole(init.breakerCooldownMs ?? 30_000, "breakerCooldownMs"),
      now: this.#now,
    });
  }

  /** The body this sink sends for an event, exactly as its bytes go out. */
  body(event: HarkEvent): string {
    switch (this.#format) {
      case "json":
        return JSON.stringify(event);
      case "slack":
        return slackBody(event);
      case "discord":
        return discordBody(event);
      case "ntfy":
        return ntfyBody(event, this.#ntfyTopic ?? event.topic);
    }
  }

  async deliver(event: HarkEvent, options: DeliverOptions): Promise<void> {
    if (this.#closing.signal.aborted) throw new WebhookError(`${this.name} is closed`, { retryable: false });
    const signal = AbortSignal.any([options.signal, this.#closing.signal]);
    signal.throwIfAborted();

    const trial = this.#admit() === "trial";
    try {
      const bytes = encoder.encode(this.body(event));
      const headers = new Headers(this.#headers);
      headers.set("X-Hark-Id", event.id);
      // The IETF draft's name, which Stripe-style receivers already read.
      headers.set("Idempotency-Key", event.id);
      if (options.repeat) headers.set("X-Hark-Repeat", "1");
      headers.set("X-Hark-Topic", event.topic);
      if (this.#key) {
        const mac = await crypto.subtle.sign("HMAC", await this.#key, bytes);
        headers.set("X-Hark-Signature", `sha256=${hex(new Uint8Array(mac))}`);
      }
      // A half-open circuit probes with one attempt: a still-broken endpoint costs one request, not a round of retries.
      const attempts = trial ? 1 : 1 + this.#retries;
      let last!: Attempt & { ok: false };
      for (let attempt = 1; attempt <= attempts; attempt++) {
        const result = await this.#attempt(bytes, headers, signal, this.request(event));
        if (result.ok) {
          this.#succeeded(event);
          return;
        }
        last = result;
        this.#lastError = result.message;
        if (!result.retryable || attempt === attempts) break;
        const backoff = Math.min(this.#maxRetryDelayMs, this.#retryDelayMs * 2 ** (attempt - 1));
        const wait = result.retryAfterMs !== undefined
          ? Math.min(this.#maxRetryDelayMs, result.retryAfterMs)
          : Math.floor(this.#random() * backoff);
        log.debug("Webhook {sink} attempt {attempt} for event {id} failed: {error}; retrying in {wait} ms", {
          sink: this.name,
          attempt,
          id: event.id,
          error: result.message,
          wait,
        });
        await delay(wait, signal);
        signal.throwIfAborted();
      }
      this.#failedDeliver(last);
      // Out of retries: only a receiver that is unavailable keeps the event (and those behind it) waiting.
      const retryable = last.retryable && unavailable(last.status);
      throw new WebhookError(last.message, { status: last.status, retryable, cause: last.cause });
    } finally {
      if (trial) this.#breaker.endTrial();
    }
  }

  /** The circuit, counters and last outcome, for `hark status`. */
  state(): WebhookState {
    const state: WebhookState = {
      circuit: this.#breaker.state,
      consecutive_failures: this.#breaker.consecutiveFailures,
      delivered: this.#delivered,
      failed: this.#failed,
      rejected: this.#rejected,
    };
    const openUntil = this.#breaker.openUntil;
    if (openUntil !== undefined) state.open_until = new Date(openUntil).toISOString();
    if (this.#lastStatus !== undefined) state.last_status = this.#lastStatus;
    if (this.#lastError !== undefined) state.last_error = this.#lastError;
    return state;
  }

  /** `state()` for the router's health report (`hark status`). */
  stats(): Record<string, unknown> {
    return { ...this.state() };
  }

  /** Aborts deliveries in flight; later ones fail. Idempotent. */
  close(): Promise<void> {
    this.#closing.abort(new WebhookError(`${this.name} is closed`, { retryable: false }));
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Throws while the circuit is open; says whether this delivery is the half-open trial. */
  #admit(): "go" | "trial" {
    const admitted = this.#breaker.admit();
    if (admitted) return admitted;
    this.#rejected++;
    const openUntil = this.#breaker.openUntil!;
    throw new CircuitOpenError(
      `${this.name}: circuit open until ${clock(openUntil)}; last error: ${this.#lastError ?? "none"}`,
      openUntil,
    );
  }

  #succeeded(event: HarkEvent): void {
    this.#delivered++;
    this.#lastError = undefined;
    if (this.#breaker.succeeded()) {
      log.info("Webhook {sink} delivered event {id}; circuit closed", { sink: this.name, id: event.id });
    }
  }

  #failedDeliver(last: Attempt & { ok: false }): void {
    this.#failed++;
    if (this.#breaker.failed()) {
      log.warn("Webhook {sink} circuit open until {until} after {count} failed deliveries: {error}", {
        sink: this.name,
        until: clock(this.#breaker.openUntil!),
        count: this.#breaker.consecutiveFailures,
        error: last.message,
      });
    }
  }

  /**
   * Where and how an event goes: a POST to the URL, except that with the
   * ntfy format an acknowledgement or deletion uses ntfy's own requests
   * (`PUT /<topic>/<sequence_id>/clear`, `DELETE /<topic>/<sequence_id>`),
   * so the ntfy apps dismiss the notification instead of showing a new one.
   */
  request(event: HarkEvent): { method: string; url: URL } {
    if (this.#format !== "ntfy" || (event.kind !== "clear" && event.kind !== "delete")) {
      return { method: "POST", url: this.#target };
    }
    const url = new URL(this.#target.href);
    const path = `${encodeURIComponent(this.#ntfyTopic ?? event.topic)}/${encodeURIComponent(event.sequence ?? "")}`;
    url.pathname = url.pathname.replace(/\/?$/, "/") + (event.kind === "clear" ? `${path}/clear` : path);
    return { method: event.kind === "clear" ? "PUT" : "DELETE", url };
  }

  async #attempt(
    body: Uint8Array<ArrayBuffer>,
    headers: Headers,
    signal: AbortSignal,
    request: { method: string; url: URL },
  ): Promise<Attempt> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#timeoutMs);
    const onAbort = () => controller.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const response = await fetch(request.url, {
        method: request.method,
        headers,
        body: request.method === "DELETE" ? undefined : body,
        // A redirect would carry the body, its signature and custom headers (tokens) to wherever the
        // endpoint points; the user should configure the final URL instead.
        redirect: "manual",
        signal: controller.signal,
      });
      this.#lastStatus = response.status;
      if (response.ok) {
        await response.body?.cancel();
        return { ok: true, status: response.status };
      }
      const text = await errorText(response);
      const status = response.status;
      const retryable = status === 408 || status === 429 || status >= 500;
      const retryAfterMs = status === 429 || status === 503
        ? parseRetryAfter(response.headers.get("Retry-After"), this.#now())
        : undefined;
      const what = status >= 300 && status < 400 ? "redirected; configure the final URL" : response.statusText;
      return {
        ok: false,
        retryable,
        status,
        retryAfterMs,
        message: `webhook ${this.#display} answered ${status}${what ? ` ${what}` : ""}${text ? `: ${text}` : ""}`,
      };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (timedOut) {
        return {
          ok: false,
          retryable: true,
          message: `webhook ${this.#display} timed out after ${this.#timeoutMs} ms`,
        };
      }
      return {
        ok: false,
        retryable: true,
        // No `cause`: Deno's network errors spell out the full URL, query and all.
        message: `webhook ${this.#display} failed: ${this.#describe(error)}`,
      };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** A network error's message without the URL Deno puts in it (`error sending request for url (...)`). */
  #describe(error: unknown): string {
    const parts: string[] = [];
    for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) parts.push(e.message);
    let text = parts.join(": ") || String(error);
    for (const href of [this.#target.href, this.#target.href.replace(/\/$/, "")]) text = text.replaceAll(href, "");
    text = text.replace(/\burl \([^)]*\)/g, `url (${this.#display})`);
    return stripControls(text, " ").replace(/\s+/g, " ").trim();
  }
}

/**
 * Whether a failure says the receiver cannot take anything now, rather than
 * that it refused this event: no answer at all, or a status that proxies and
 * overloaded servers give whatever was sent.
 */
function unavailable(status: number | undefined): boolean {
  return status === undefined || [408, 429, 502, 503, 504].includes(status);
}

/** `https://hooks.slack.com/…`: Slack, Discord and ntfy URLs carry their secret in the path, so only the origin is shown. */
export function redactUrl(url: URL): string {
  return url.pathname === "/" && !url.search ? url.origin : `${url.origin}/…`;
}

/** Milliseconds from a `Retry-After` header (seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The start of an error answer's body, one line, for the message. */
async function errorText(response: Response): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < ERROR_TEXT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  const text = new TextDecoder().decode(bytes.subarray(0, ERROR_TEXT_BYTES));
  const line = stripControls(text, " ").replace(/\s+/g, " ").trim();
  return size > ERROR_TEXT_BYTES ? `${line}…` : line;
}

/** `HH:MM:SS` in UTC, like the times in hark's logs. */
function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

/** Percent-decodes a URL part; malformed escapes stay as they are. */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function base64(bytes: Uint8Array): string {
  return btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join(""));
}

/** 8 hex digits: tells URLs apart without revealing them. */
function urlTag(text: string): string {
  return fnv1a(encoder.encode(text)).toString(16).padStart(8, "0");
}

function whole(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`webhook ${what} must be a whole number ≥ 0`);
  return value;
}

function positive(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`webhook ${what} must be a whole number ≥ 1`);
  return value;
}
