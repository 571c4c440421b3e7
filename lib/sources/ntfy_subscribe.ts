/**
 * ntfy's subscribe API on the http source: `GET /<topics>/json`, `/sse`,
 * `/raw` and `/ws`, in ntfy's wire format, so the ntfy Android app (with
 * this agent as its server), `ntfy subscribe`, a browser's EventSource and
 * `curl -s host/topic/json` all read hark events. No central server: each
 * agent answers from its own store and its own view of the mesh.
 *
 * A stream opens with an `open` message, then the stored events `since=`
 * asks for, then live ones, with a `keepalive` message (a ping on
 * WebSockets) when nothing else was sent for the keepalive interval.
 * `poll=1` returns the stored ones and ends. Stored events are read and
 * sent a page at a time, each after the client took the last.
 */

import type { EventSource, HarkEvent } from "../event/event.ts";
import type { EventAction } from "../event/actions.ts";
import type { EventAttachment } from "../event/attachment.ts";
import { parsePriority } from "../event/event.ts";
import { parseDuration } from "../util/duration.ts";
import { ULID_PATTERN } from "../event/ulid.ts";
import type { Feed, FeedReader, Since, StoredFilter } from "./source.ts";
import { holdsText, MAX_SEARCH_CHARS } from "../store/text_search.ts";
import { HistoryBusyError } from "../store/history_budget.ts";
import type { Page } from "../store/history_pages.ts";
import { HttpFailure } from "./http_failure.ts";
import { readParam } from "./ntfy_params.ts";

export const SUBSCRIBE_FORMATS = ["json", "sse", "raw", "ws"] as const;
export type SubscribeFormat = typeof SUBSCRIBE_FORMATS[number];

export const DEFAULT_KEEPALIVE_MS = 45_000;
/** ntfy's own message ids: 12 letters and digits. */
const NTFY_MESSAGE_ID = /^[A-Za-z0-9]{12}$/;
/**
 * A subscriber that reads slower than events come is cut off once this
 * many messages wait for it, rather than buffer without bound; it can
 * reconnect with `since=<last id>` and miss nothing the store still holds.
 */
const MAX_QUEUED_MESSAGES = 1000;
const MAX_WS_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Stored events wait until the socket has sent all but this much. */
const WS_HISTORY_BUFFERED_BYTES = 256 * 1024;

/** ntfy's message object, as its server sends it. */
export interface NtfyMessage {
  id: string;
  /** Unix seconds. */
  time: number;
  expires?: number;
  /** ntfy 2.16: `message_clear` and `message_delete` acknowledge or delete the notification `sequence_id`. */
  event: "open" | "keepalive" | "message" | "message_clear" | "message_delete";
  /** One topic, or for open and keepalive the path's comma-separated list. */
  topic: string;
  message?: string;
  title?: string;
  tags?: string[];
  priority?: number;
  click?: string;
  actions?: (EventAction & { id: string })[];
  /** The notification a message updates, or a clear or delete closes (ntfy 2.16). */
  sequence_id?: string;
  /** `text/markdown` for a Markdown body; absent for plain text, as in ntfy. */
  content_type?: "text/markdown";
  icon?: string;
  /** ntfy's attachment object; `expires` in unix seconds. */
  attachment?: NtfyAttachment;
  /** hark's: who published a message (its host, `name?` with `host_verified: false` when not its signer's). */
  source?: EventSource;
}

/** ntfy's attachment object as its server writes it. */
export interface NtfyAttachment {
  name: string;
  type?: string;
  size?: number;
  /** Unix seconds. */
  expires?: number;
  url: string;
}

/** What a subscribe request asks for. */
export interface Subscription {
  topics: ReadonlySet<string>;
  /** The topics as the path named them, for open and keepalive messages. */
  topicList: string;
  poll: boolean;
  since: Since;
  /** ntfy's `sched=1`: also the scheduled messages not yet due. */
  scheduled: boolean;
  /** ntfy's filters: id, message, title, priority, tags; and hark's `q=`. */
  passes(message: NtfyMessage): boolean;
  /** hark's `q=`, `limit=` and `before=`, which the store applies to stored events. */
  stored: StoredFilter;
}

/** Reads poll, since, scheduled and the filters, under ntfy's names. */
export function parseSubscription(
  request: Request,
  url: URL,
  topics: ReadonlySet<string>,
  topicList: string,
): Subscription {
  const param = (...names: string[]) => readParam(request, url, names);
  const poll = isTrue(param("x-poll", "poll", "po"));
  const scheduled = isTrue(param("x-scheduled", "scheduled", "sched"));
  const since = parseSince(param("x-since", "since", "si"), poll);
  const id = param("x-id", "id");
  const text = param("x-message", "message", "m");
  const title = param("x-title", "title", "t");
  const priorities: number[] = listOf(param("x-priority", "priority", "prio", "p")).map((value) => {
    try {
      return parsePriority(value);
    } catch (error) {
      throw new HttpFailure(400, 40004, `invalid priority filter: ${(error as Error).message}`, { cause: error });
    }
  });
  const tags = listOf(param("x-tags", "tags", "tag", "ta"));
  const stored = parseStoredFilter(url);
  return {
    topics,
    topicList,
    poll,
    since,
    scheduled,
    stored,
    passes(message) {
      if (message.event !== "message") return true;
      if (stored.text !== undefined && !holdsText({ title: message.title, body: message.message }, stored.text)) {
        return false;
      }
      if (id !== undefined && message.id !== id) return false;
      if (text !== undefined && message.message !== text) return false;
      if (title !== undefined && message.title !== title) return false;
      if (priorities.length > 0 && !priorities.includes(message.priority ?? 3)) return false;
      return tags.every((tag) => message.tags?.includes(tag) ?? false);
    },
  };
}

/** The most stored events one `limit=` asks for: a reader wanting more pages back with `before=`. */
export const MAX_LIMIT = 1000;

/**
 * hark's own query parameters (ntfy has none of them): `q=` text in a
 * title or message, `limit=` the newest that many stored events, and
 * `before=<id>` those stored before that event, for paging back.
 */
export function parseStoredFilter(url: URL): StoredFilter {
  const filter: StoredFilter = {};
  const text = url.searchParams.get("q")?.trim();
  if (text) {
    if (text.length > MAX_SEARCH_CHARS) {
      throw new HttpFailure(400, 40018, `q= is longer than ${MAX_SEARCH_CHARS} characters: search for fewer words`);
    }
    filter.text = text;
  }
  const limit = url.searchParams.get("limit");
  if (limit !== null) {
    if (!/^\d{1,7}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT) {
      throw new HttpFailure(
        400,
        40019,
        `invalid limit=${JSON.stringify(limit.slice(0, 20))}: use 1 to ${MAX_LIMIT}, and before=<id> for older events`,
      );
    }
    filter.limit = Number(limit);
  }
  const before = url.searchParams.get("before");
  if (before !== null) {
    if (!ULID_PATTERN.test(before)) {
      throw new HttpFailure(400, 40021, `invalid before=${JSON.stringify(before.slice(0, 40))}: use a message id`);
    }
    filter.before = before;
  }
  return filter;
}

/**
 * ntfy's `since=`: empty (nothing, or everything with poll), `all`, `none`,
 * `latest`, a message id, unix seconds, or a duration back from now.
 */
export function parseSince(value: string | undefined, poll: boolean, now = Date.now()): Since {
  if (value === undefined || value === "") return poll ? { kind: "all" } : { kind: "none" };
  if (value === "all") return { kind: "all" };
  if (value === "none") return { kind: "none" };
  if (value === "latest") return { kind: "latest" };
  if (ULID_PATTERN.test(value)) return { kind: "id", id: value };
  if (/^\d{1,12}$/.test(value)) return { kind: "time", ms: Number(value) * 1000 };
  // An ntfy server's message id: a phone moved over from one asks for what came after it, which here is everything.
  if (NTFY_MESSAGE_ID.test(value)) return { kind: "id", id: value };
  try {
    return { kind: "time", ms: now - parseDuration(value) };
  } catch {
    throw new HttpFailure(
      400,
      40008,
      `invalid since=${
        JSON.stringify(value.slice(0, 40))
      }: use a duration (10m, 1h), unix seconds, a message id, all, latest or none`,
    );
  }
}

/**
 * A hark event as ntfy's message; one without an expiry lasts as long as the
 * store keeps it, and one no store keeps (`cache: false`) has no `expires`,
 * as ntfy sends a `Cache: no` message.
 */
export function ntfyMessage(event: HarkEvent, retentionMs: number): NtfyMessage {
  // A scheduled message's time is when it is due, as ntfy's server writes it.
  const time = Date.parse(event.due ?? event.time);
  const expires = event.expires ? Date.parse(event.expires) : event.cache === false ? undefined : time + retentionMs;
  if (event.kind === "clear" || event.kind === "delete") {
    return {
      id: event.id,
      time: Math.floor(time / 1000),
      ...(expires === undefined ? {} : { expires: Math.floor(expires / 1000) }),
      event: event.kind === "clear" ? "message_clear" : "message_delete",
      topic: event.topic,
      sequence_id: event.sequence,
    };
  }
  const message: NtfyMessage = {
    id: event.id,
    time: Math.floor(time / 1000),
    ...(expires === undefined ? {} : { expires: Math.floor(expires / 1000) }),
    event: "message",
    topic: event.topic,
    message: event.body,
    // ntfy's clients skip names they do not know; the web page shows the host.
    source: event.source,
  };
  if (event.title) message.title = event.title;
  if (event.tags.length > 0) message.tags = event.tags;
  message.priority = event.priority;
  if (event.click) message.click = event.click;
  // ntfy's apps key each button by an id; the event id and the index make one.
  // ntfy's server always writes `clear`, false when not set.
  if (event.actions?.length) {
    message.actions = event.actions.map((action, index) => ({
      id: `${event.id}-${index}`,
      ...action,
      clear: action.clear ?? false,
    }));
  }
  if (event.sequence !== undefined) message.sequence_id = event.sequence;
  if (event.markdown) message.content_type = "text/markdown";
  if (event.icon !== undefined) message.icon = event.icon;
  if (event.attachment !== undefined) message.attachment = ntfyAttachment(event.attachment);
  return message;
}

/** The event's attachment in ntfy's field order, with `expires` in unix seconds. */
function ntfyAttachment(attachment: EventAttachment): NtfyAttachment {
  const { name, type, size, expires, url } = attachment;
  return {
    name,
    ...(type === undefined ? {} : { type }),
    ...(size === undefined ? {} : { size }),
    ...(expires === undefined ? {} : { expires: Math.floor(Date.parse(expires) / 1000) }),
    url,
  };
}

/** A message that carries an event (a message, a clear or a delete), not an open or a keepalive. */
function carriesEvent(message: NtfyMessage): boolean {
  return message.event !== "open" && message.event !== "keepalive";
}

function controlMessage(event: "open" | "keepalive", topicList: string, nextId: () => string): NtfyMessage {
  return { id: nextId(), time: Math.floor(Date.now() / 1000), event, topic: topicList };
}

/** One message in the stream's format, as ntfy's server writes it. */
export function encodeMessage(format: Exclude<SubscribeFormat, "ws">, message: NtfyMessage): string {
  const json = JSON.stringify(message);
  switch (format) {
    case "json":
      return json + "\n";
    case "sse":
      // Browsers' onmessage fires only for unnamed events, so only messages go unnamed.
      return message.event === "message" ? `data: ${json}\n\n` : `event: ${message.event}\ndata: ${json}\n\n`;
    case "raw":
      // One line per message; open and keepalive are empty lines.
      return message.event === "message" ? `${(message.message ?? "").replaceAll("\n", " ")}\n` : "\n";
  }
}

const CONTENT_TYPES: Record<Exclude<SubscribeFormat, "ws">, string> = {
  // ntfy's Android client needs the charset.
  json: "application/x-ndjson; charset=utf-8",
  sse: "text/event-stream; charset=utf-8",
  raw: "text/plain; charset=utf-8",
};

export interface ServeOptions {
  feed: Feed;
  keepaliveMs: number;
  /** A short random id for open and keepalive messages. */
  nextId: () => string;
  /** Registers a way to end the subscription when the source stops; returns its removal. */
  track(close: () => void): () => void;
}

/**
 * Answers a json, sse or raw subscription: a streamed response that ends
 * when the client goes away, the source stops or the client reads live
 * events too slowly. Stored events go out a page at a time, each page read
 * only when the client has taken the one before: a slow client slows the
 * history down and is never cut off for it, and no subscriber makes the
 * agent hold more than a page. Throws HttpFailure 503 when the agent is
 * too busy serving history to start.
 */
export async function streamSubscription(
  format: Exclude<SubscribeFormat, "ws">,
  subscription: Subscription,
  options: ServeOptions,
): Promise<Response> {
  const { feed, keepaliveMs } = options;
  const encoder = new TextEncoder();
  const cancelled = new AbortController();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let open = true;
  let releasePage = () => {};
  const close = (error?: Error) => {
    if (!open) return;
    open = false;
    clearTimeout(timer);
    reader.stop();
    releasePage();
    untrack();
    cancelled.abort(error ?? new Error("subscription closed"));
    try {
      if (error) controller.error(error);
      else controller.close();
    } catch {
      // Already cancelled by the client.
    }
  };
  const encode = (message: NtfyMessage) => subscription.passes(message) ? encodeMessage(format, message) : "";
  // Live events that come while the last page is on its way wait for it, so none overtakes the history.
  let held: string[] | undefined = [];
  const send = (message: NtfyMessage) => {
    const text = encode(message);
    if (!open || text === "") return;
    if (held && carriesEvent(message)) {
      if (held.length >= MAX_QUEUED_MESSAGES) close(new Error("subscriber too slow"));
      else held.push(text);
      return;
    }
    if ((controller.desiredSize ?? 0) < -MAX_QUEUED_MESSAGES) {
      close(new Error("subscriber too slow"));
      return;
    }
    controller.enqueue(encoder.encode(text));
    if (message.event !== "open") armKeepalive();
  };
  const armKeepalive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => send(controlMessage("keepalive", subscription.topicList, options.nextId)), keepaliveMs);
  };
  // With a follower, live events start in the same step as the last page is read.
  const reader = feed.read(
    subscription.topics,
    subscription.since,
    subscription.poll ? undefined : (event) => send(ntfyMessage(event, feed.retentionMs)),
    { ...subscription.stored, scheduled: subscription.scheduled },
  );
  const untrack = options.track(() => close());
  let first: Page | undefined;
  try {
    // The first page before the reply: a busy agent can still answer 503.
    first = await reader.pages.next(cancelled.signal);
  } catch (error) {
    open = false;
    reader.stop();
    untrack();
    throw busyFailure(error);
  }
  // Given back if the client leaves before reading it.
  releasePage = first.release;
  const historyDone = () => {
    if (subscription.poll) return close();
    for (const text of held ?? []) controller.enqueue(encoder.encode(text));
    held = undefined;
    armKeepalive();
  };
  const body = new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
      if (!subscription.poll) send(controlMessage("open", subscription.topicList, options.nextId));
    },
    async pull() {
      // The client took the last page: its bytes have left the agent.
      releasePage();
      while (open && held) {
        let page: Page;
        try {
          page = first ?? await reader.pages.next(cancelled.signal);
        } catch (error) {
          close(error as Error);
          return;
        }
        first = undefined;
        releasePage = page.release;
        if (!open) return releasePage();
        const text = page.events.map((event) => encode(ntfyMessage(event, feed.retentionMs))).join("");
        if (text !== "") controller.enqueue(encoder.encode(text));
        if (page.last) return historyDone();
        // Enqueued a page: the next is read once the client has taken it.
        if (text !== "") return;
        releasePage();
      }
    },
    cancel() {
      close();
    },
  }, new CountQueuingStrategy({ highWaterMark: 1 }));
  return new Response(body, {
    status: 200,
    headers: { "content-type": CONTENT_TYPES[format], "cache-control": "no-cache", "x-accel-buffering": "no" },
  });
}

/** A subscriber refused because the history budget stayed full: 503, and try again. */
function busyFailure(error: unknown): unknown {
  if (!(error instanceof HistoryBusyError)) return error;
  return new HttpFailure(503, 50301, error.message, { cause: error });
}

/** A Sec-WebSocket-Key: base64 of 16 bytes, so 22 characters and "==" (RFC 6455, 4.1). */
const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/**
 * RFC 6455's handshake rules, which Deno.upgradeWebSocket leaves to the
 * server: a version other than 13 gets 426 (with the version this server
 * speaks, set where the reply is made), a key that is not 16 bytes of base64
 * gets 400. A client that gets these wrong would misread the frames anyway.
 */
function checkHandshake(headers: Headers): void {
  const version = headers.get("sec-websocket-version");
  if (version?.trim() !== "13") {
    throw new HttpFailure(
      426,
      42601,
      `unsupported WebSocket version ${JSON.stringify(version)}: this server speaks version 13 (RFC 6455)`,
    );
  }
  if (!WEBSOCKET_KEY.test(headers.get("sec-websocket-key")?.trim() ?? "")) {
    throw new HttpFailure(400, 40017, "invalid request: Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455)");
  }
}

/**
 * Answers a WebSocket subscription: each message a JSON text frame, as
 * ntfy sends them; Deno pings an idle socket every keepalive interval and
 * closes it when no pong comes back. Stored events go a page at a time,
 * the next page once the socket has sent most of the last.
 */
export function socketSubscription(request: Request, subscription: Subscription, options: ServeOptions): Response {
  if ((request.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
    throw new HttpFailure(400, 40016, "invalid request: client not using the websocket protocol");
  }
  checkHandshake(request.headers);
  const { feed } = options;
  const { socket, response } = Deno.upgradeWebSocket(request, {
    idleTimeout: Math.max(1, Math.round(options.keepaliveMs / 1000)),
  });
  const closed = new AbortController();
  let reader: FeedReader | undefined;
  let untrack = () => {};
  let open = true;
  const finish = (code = 1000, reason = "") => {
    if (!open) return;
    open = false;
    reader?.stop();
    untrack();
    closed.abort(new Error("subscription closed"));
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(code, reason);
  };
  // Live events that come while the last page is on its way wait for it, so none overtakes the history.
  let held: NtfyMessage[] | undefined = [];
  const send = (message: NtfyMessage) => {
    if (!open || socket.readyState !== WebSocket.OPEN || !subscription.passes(message)) return;
    if (held && carriesEvent(message)) {
      if (held.length >= MAX_QUEUED_MESSAGES) finish(1008, "subscriber too slow");
      else held.push(message);
      return;
    }
    if (socket.bufferedAmount > MAX_WS_BUFFERED_BYTES) {
      finish(1008, "subscriber too slow");
      return;
    }
    socket.send(JSON.stringify(message));
  };
  const toMessage = (event: HarkEvent) => send(ntfyMessage(event, feed.retentionMs));
  const sendHistory = async (pages: FeedReader["pages"]) => {
    for (;;) {
      const page = await pages.next(closed.signal);
      try {
        for (const event of page.events) {
          const message = ntfyMessage(event, feed.retentionMs);
          if (open && subscription.passes(message)) socket.send(JSON.stringify(message));
        }
        await drained(socket, closed.signal);
      } finally {
        page.release();
      }
      if (page.last) return;
    }
  };
  socket.onopen = async () => {
    untrack = options.track(() => finish(1001, "hark is stopping"));
    try {
      if (!subscription.poll) send(controlMessage("open", subscription.topicList, options.nextId));
      reader = feed.read(
        subscription.topics,
        subscription.since,
        subscription.poll ? undefined : toMessage,
        { ...subscription.stored, scheduled: subscription.scheduled },
      );
      await sendHistory(reader.pages);
      if (subscription.poll) return finish();
      const live = held ?? [];
      held = undefined;
      live.forEach(send);
    } catch (error) {
      if (!open) return;
      // 1013: try again later. Otherwise this is the store going away.
      if (error instanceof HistoryBusyError) finish(1013, error.message.slice(0, 120));
      else finish(1011, (error as Error).message.slice(0, 120));
    }
  };
  socket.onclose = () => finish();
  socket.onerror = () => finish();
  return response;
}

/** Resolves once the socket has sent all but a page's worth; WebSockets tell only by polling bufferedAmount. */
async function drained(socket: WebSocket, signal: AbortSignal): Promise<void> {
  let waitMs = 5;
  while (socket.readyState === WebSocket.OPEN && socket.bufferedAmount > WS_HISTORY_BUFFERED_BYTES) {
    signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    waitMs = Math.min(waitMs * 2, 200);
  }
  signal.throwIfAborted();
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && ["1", "yes", "true"].includes(value.toLowerCase());
}

function listOf(value: string | undefined): string[] {
  return (value ?? "").split(",").map((item) => item.trim()).filter((item) => item !== "");
}
