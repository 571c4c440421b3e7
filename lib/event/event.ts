/**
 * The event model from SPEC: fields, limits, validation and the wire
 * encoding. The same checks run where an event is made (send side) and where
 * one arrives from the mesh (receive side).
 */

import { checkActions, type EventAction } from "./actions.ts";
import { checkAttachment, checkMediaUrl, type EventAttachment } from "./attachment.ts";
import { EventError } from "../errors.ts";
import { ULID_PATTERN } from "./ulid.ts";
import { dueOf, MAX_DELAY_MS } from "./due.ts";

/** 1 min, 2 low, 3 default, 4 high, 5 urgent (ntfy's scale). */
export type Priority = 1 | 2 | 3 | 4 | 5;

export interface EventSource {
  /**
   * The host name its publisher claims. A receiver that finds the name
   * bound to another peer (lib/mesh/host_names.ts) shows it as `name?`
   * with `host_verified: false`.
   */
  host: string;
  /** The verified libp2p signer of the message. */
  peer: string;
  user?: string;
  /** Set by a receiver, false only: the publisher is not the peer this host name is bound to. */
  host_verified?: false;
}

export interface HarkEvent {
  id: string;
  topic: string;
  title: string;
  body: string;
  priority: Priority;
  tags: string[];
  /** RFC 3339 with milliseconds, UTC. */
  time: string;
  click?: string;
  /** Buttons on the notification: open a URL, or make an HTTP request (ntfy's actions). */
  actions?: EventAction[];
  /** After this instant (RFC 3339) sinks no longer deliver the event. */
  expires?: string;
  /**
   * `false`: the publisher asked that no agent store it (ntfy's `Cache: no`).
   * It reaches sinks and live subscribers, and is never stored, served in
   * catch-up or replayed. Absent otherwise; `true` is never written.
   */
  cache?: false;
  source: EventSource;
  data?: unknown;
  /** The notification this event creates, replaces, clears or deletes (per topic); see lib/notifications/. */
  sequence?: string;
  /** Absent or "message": a notification; "clear" or "delete": an acknowledgement or deletion of `sequence`. */
  kind?: EventKind;
  /**
   * The problem this event reports, when several hosts may report it: a
   * desktop shows the events of one topic with one `dedup` key as one popup
   * that counts them (sinks/desktop/coalesce.ts). Other sinks get each event.
   */
  dedup?: string;
  /** A scheduled event: when sinks and subscribers get it (RFC 3339); every agent holds it until then. */
  due?: string;
  /** `true`: the body is Markdown (ntfy's `content_type: text/markdown`). Absent for plain text; `false` is never written. */
  markdown?: true;
  /** An http(s) URL of an image for the notification (ntfy's `icon`); no agent fetches it. */
  icon?: string;
  /** A file the notification links to, by URL (ntfy's attachment); no agent fetches it. */
  attachment?: EventAttachment;
}

/** What a publisher supplies; the agent adds id, time and source. */
export interface EventDraft {
  topic?: string;
  title?: string;
  body?: string;
  priority?: number;
  tags?: string[];
  click?: string;
  actions?: EventAction[];
  /** Lifetime in milliseconds, turned into `expires`. */
  ttl?: number;
  /** `false`: deliver, but let no agent store it. @default true */
  cache?: boolean;
  data?: unknown;
  user?: string;
  sequence?: string;
  kind?: EventKind;
  dedup?: string;
  /** Deliver this many milliseconds from now (`hark send --delay`, ntfy's `Delay: 30m`). */
  delay?: number;
  /** Deliver at this instant, milliseconds since the epoch (`hark send --at`, ntfy's `At: 10am`). */
  at?: number;
  /** The body is Markdown. @default false */
  markdown?: boolean;
  icon?: string;
  attachment?: EventAttachment;
}

export interface EventLimits {
  /** Largest JSON encoding of a whole event, in bytes. */
  maxEventBytes: number;
}

export const TITLE_MAX_CHARS = 256;
export const BODY_MAX_BYTES = 4096;
export const DEFAULT_MAX_EVENT_BYTES = 16 * 1024;
export const MAX_EVENT_BYTES_CEILING = 1024 * 1024;
export const TAGS_MAX = 32;
export const TAG_MAX_CHARS = 64;
export const CLICK_MAX_CHARS = 2048;
export const HOST_MAX_CHARS = 255;
/**
 * Deepest nesting of `data` (a scalar is 0, `[]` or `{}` 1). Far past any
 * real payload, far below SQLite's JSON limit (1,000 levels, past which
 * `json_extract` calls the whole store row "malformed JSON") and below what
 * recursive code (schemas, filters) can walk without overflowing the stack.
 */
export const DATA_MAX_DEPTH = 32;
export const USER_MAX_CHARS = 64;
/**
 * SPEC's topic grammar: `[A-Za-z0-9._-]{1,64}`, case-sensitive as ntfy's, and
 * no leading or trailing `.` nor `..`, which would make `a.` and `a..b` topics
 * that a `a.*` pattern or a dotted hierarchy cannot tell apart.
 */
export const TOPIC_PATTERN = /^(?![.])(?!.*[.]{2})(?!.*[.]$)[A-Za-z0-9._-]{1,64}$/;
/** The grammar as a user reads it in an error message. */
export const TOPIC_RULE =
  'use 1-64 characters from A-Z, a-z, 0-9, ".", "_" and "-" (case kept), without a leading or trailing "." or ".."';
export const DEFAULT_TOPIC = "default";
/**
 * Topics under this prefix carry the agents' own events (lib/mesh/membership.ts):
 * `hark send` and sources may not publish there, and a sink or `hark tail`
 * gets them only when it names them.
 */
export const RESERVED_TOPIC_PREFIX = "hark.";

export function isReservedTopic(topic: string): boolean {
  return topic.startsWith(RESERVED_TOPIC_PREFIX);
}
export const DEFAULT_LIMITS: EventLimits = {
  maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
};

const PRIORITY_NAMES: Record<string, Priority> = {
  min: 1,
  low: 2,
  default: 3,
  high: 4,
  urgent: 5,
  max: 5,
};

/**
 * A notification's key: ntfy's sequence id alphabet and length, so an
 * ntfy client's `X-Sequence-ID` (and any event id) is a key as it is.
 */
export const SEQUENCE_PATTERN = /^[-_A-Za-z0-9]{1,64}$/;
export const EVENT_KINDS = ["message", "clear", "delete"] as const;
export type EventKind = typeof EVENT_KINDS[number];

const CLICK_SCHEMES = new Set(["http:", "https:", "mailto:"]);
const EVENT_KEYS = new Set([
  "id",
  "topic",
  "title",
  "body",
  "priority",
  "tags",
  "time",
  "click",
  "actions",
  "expires",
  "cache",
  "source",
  "data",
  "sequence",
  "kind",
  "dedup",
  "due",
  "markdown",
  "icon",
  "attachment",
]);
const SOURCE_KEYS = new Set(["host", "peer", "user"]);
const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** Accepts `1`-`5` or a name (`min`, `low`, `default`, `high`, `urgent`). */
export function parsePriority(text: string | number): Priority {
  const name = typeof text === "string" ? text.trim().toLowerCase() : "";
  const value = typeof text === "number" ? text : PRIORITY_NAMES[name] ?? (/^\d$/.test(name) ? Number(name) : NaN);
  if (!Number.isInteger(value) || value < 1 || value > 5) {
    throw new EventError(
      `invalid priority "${text}": use 1-5 or min, low, default, high, urgent`,
    );
  }
  return value as Priority;
}

export function checkTopic(topic: unknown): string {
  if (typeof topic !== "string" || !TOPIC_PATTERN.test(topic)) {
    throw new EventError(
      `invalid topic ${JSON.stringify(topic)}: ${TOPIC_RULE}`,
    );
  }
  return topic;
}

/** Builds a complete event from a draft and validates it. */
export function createEvent(
  draft: EventDraft,
  origin: { id: string; now: number; host: string; peer: string },
  limits: EventLimits = DEFAULT_LIMITS,
): HarkEvent {
  const event: HarkEvent = {
    id: origin.id,
    topic: draft.topic ?? DEFAULT_TOPIC,
    title: draft.title ?? "",
    body: draft.body ?? "",
    priority: draft.priority === undefined ? 3 : parsePriority(draft.priority as number),
    tags: draft.tags ?? [],
    time: new Date(origin.now).toISOString(),
    source: { host: origin.host, peer: origin.peer },
  };
  if (draft.click !== undefined) event.click = draft.click;
  if (draft.actions !== undefined && draft.actions.length > 0) event.actions = draft.actions;
  const due = dueOf(draft, origin.now);
  if (draft.ttl !== undefined) {
    if (!Number.isFinite(draft.ttl) || draft.ttl <= 0) {
      throw new EventError(`invalid ttl ${draft.ttl}: it must be positive`);
    }
    // A scheduled event's lifetime starts when it is due.
    const expires = new Date((due ?? origin.now) + draft.ttl);
    if (Number.isNaN(expires.getTime())) {
      throw new EventError(`invalid ttl ${draft.ttl}: too far in the future`);
    }
    event.expires = expires.toISOString();
  }
  if (draft.cache === false) event.cache = false;
  if (draft.user !== undefined) event.source.user = draft.user;
  if (draft.data !== undefined) event.data = draft.data;
  if (draft.sequence !== undefined) event.sequence = draft.sequence;
  if (draft.kind !== undefined && draft.kind !== "message") event.kind = draft.kind;
  if (draft.dedup !== undefined) event.dedup = draft.dedup;
  if (due !== undefined) {
    // Held by every agent until due: an event no agent stores cannot be held (ntfy refuses the same).
    if (event.cache === false) throw new EventError("a scheduled event cannot be sent without cache: agents hold it");
    if (event.kind !== undefined) throw new EventError(`a ${event.kind} takes effect at once: leave out the delay`);
    event.due = new Date(due).toISOString();
  }
  if (draft.markdown === true) event.markdown = true;
  if (draft.icon !== undefined) event.icon = draft.icon;
  if (draft.attachment !== undefined) event.attachment = draft.attachment;
  // An acknowledgement or deletion says which notification; it needs no text.
  if (event.title === "" && event.body === "" && event.kind === undefined) {
    throw new EventError(
      "nothing to send: give a body, a --title, or pipe text on stdin",
    );
  }
  return validateEvent(event, limits);
}

/**
 * Checks every field and limit of an event of unknown shape and returns it
 * typed. Throws `EventError` naming the first field that is wrong.
 */
export function validateEvent(
  value: unknown,
  limits: EventLimits = DEFAULT_LIMITS,
): HarkEvent {
  const event = asObject(value, "event");
  for (const key of Object.keys(event)) {
    if (!EVENT_KEYS.has(key)) throw new EventError(`unknown field "${key}"`);
  }
  if (typeof event.id !== "string" || !ULID_PATTERN.test(event.id)) {
    throw new EventError(`invalid id ${JSON.stringify(event.id)}: not a ULID`);
  }
  checkTopic(event.topic);
  checkText(event.title, "title");
  if ((event.title as string).length > TITLE_MAX_CHARS) {
    throw new EventError(
      `title is ${(event.title as string).length} characters; the limit is ${TITLE_MAX_CHARS}`,
    );
  }
  checkText(event.body, "body");
  const bodyBytes = encoder.encode(event.body as string).length;
  if (bodyBytes > BODY_MAX_BYTES) {
    throw new EventError(
      `body is ${bodyBytes} bytes; the limit is ${BODY_MAX_BYTES}`,
    );
  }
  if (
    typeof event.priority !== "number" || !Number.isInteger(event.priority) ||
    event.priority < 1 || event.priority > 5
  ) {
    throw new EventError(
      `invalid priority ${JSON.stringify(event.priority)}: use 1-5`,
    );
  }
  checkTags(event.tags);
  checkTime(event.time, "time");
  if (event.click !== undefined) checkClick(event.click);
  if (event.actions !== undefined) checkActions(event.actions);
  if (event.expires !== undefined) checkTime(event.expires, "expires");
  // One encoding per meaning: a stored event has no `cache` field at all.
  if (event.cache !== undefined && event.cache !== false) {
    throw new EventError(`invalid cache ${JSON.stringify(event.cache)}: it is false or absent`);
  }
  checkSource(event.source);
  // Before anything walks `data` recursively, JSON.stringify included.
  if (event.data !== undefined) checkDataDepth(event.data);
  checkLifecycle(event.sequence, event.kind);
  checkDedup(event.dedup);
  if (event.due !== undefined) checkDue(event.due, event.time as string);
  // One encoding per meaning, as for `cache`: plain text has no `markdown` field.
  if (event.markdown !== undefined && event.markdown !== true) {
    throw new EventError(`invalid markdown ${JSON.stringify(event.markdown)}: it is true or absent`);
  }
  if (event.icon !== undefined) checkMediaUrl(event.icon, "icon");
  if (event.attachment !== undefined) checkAttachment(event.attachment);
  const size = encoder.encode(JSON.stringify(event)).length;
  if (size > limits.maxEventBytes) {
    throw new EventError(
      `event is ${size} bytes; the limit is ${limits.maxEventBytes}`,
    );
  }
  return event as unknown as HarkEvent;
}

/**
 * Refuses `data` nested deeper than `DATA_MAX_DEPTH`. The walk keeps its own
 * stack instead of recursing, so a value nested 100,000 deep is refused, not
 * a stack overflow; it stops at the first branch past the limit.
 */
export function checkDataDepth(data: unknown): void {
  const pending: { value: unknown; depth: number }[] = [{ value: data, depth: 0 }];
  while (pending.length > 0) {
    const { value, depth } = pending.pop()!;
    if (typeof value !== "object" || value === null) continue;
    if (depth + 1 > DATA_MAX_DEPTH) {
      throw new EventError(
        `data is nested more than ${DATA_MAX_DEPTH} levels deep; the limit is ${DATA_MAX_DEPTH}: flatten it`,
      );
    }
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      pending.push({ value: child, depth: depth + 1 });
    }
  }
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EventError(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function checkText(value: unknown, field: string): void {
  if (typeof value !== "string") {
    throw new EventError(`${field} must be a string`);
  }
}

function checkTags(value: unknown): void {
  if (!Array.isArray(value)) throw new EventError("tags must be a list");
  if (value.length > TAGS_MAX) {
    throw new EventError(
      `${value.length} tags; the limit is ${TAGS_MAX}`,
    );
  }
  for (const tag of value) {
    if (
      typeof tag !== "string" || tag.length === 0 ||
      tag.length > TAG_MAX_CHARS || /[\s,]/.test(tag)
    ) {
      throw new EventError(
        `invalid tag ${JSON.stringify(tag)}: use 1-${TAG_MAX_CHARS} characters without spaces or commas`,
      );
    }
  }
}

function checkTime(value: unknown, field: string): void {
  if (
    typeof value !== "string" || !RFC3339_MS.test(value) ||
    // The round trip rejects dates that do not exist, such as February 30.
    Number.isNaN(Date.parse(value)) || new Date(value).toISOString() !== value
  ) {
    throw new EventError(
      `invalid ${field} ${JSON.stringify(value)}: use RFC 3339 UTC with milliseconds`,
    );
  }
}

function checkClick(value: unknown): void {
  if (typeof value !== "string" || value.length > CLICK_MAX_CHARS) {
    throw new EventError(
      `click must be a URL of at most ${CLICK_MAX_CHARS} characters`,
    );
  }
  // A desktop sink opens this URL when clicked: schemes such as file: or
  // javascript: would let any publisher run things on every receiver.
  const url = URL.parse(value);
  if (!url || !CLICK_SCHEMES.has(url.protocol)) {
    throw new EventError(
      `invalid click URL ${JSON.stringify(value)}: use an absolute http, https or mailto URL`,
    );
  }
}

/** `sequence` is a key; `kind` is one of EVENT_KINDS, and a clear or delete names its sequence. */
function checkLifecycle(sequence: unknown, kind: unknown): void {
  if (sequence !== undefined && (typeof sequence !== "string" || !SEQUENCE_PATTERN.test(sequence))) {
    throw new EventError(
      `invalid sequence ${JSON.stringify(sequence)}: use 1-64 characters from A-Z, a-z, 0-9, "-" and "_"`,
    );
  }
  if (kind !== undefined && !EVENT_KINDS.includes(kind as EventKind)) {
    throw new EventError(`invalid kind ${JSON.stringify(kind)}: use "message", "clear" or "delete"`);
  }
  if ((kind === "clear" || kind === "delete") && sequence === undefined) {
    throw new EventError(`a "${kind}" event needs the sequence (or id) of the notification it ${kind}s`);
  }
}

/** `dedup` is a key of the same alphabet as a sequence. */
function checkDedup(dedup: unknown): void {
  if (dedup !== undefined && (typeof dedup !== "string" || !SEQUENCE_PATTERN.test(dedup))) {
    throw new EventError(
      `invalid dedup ${JSON.stringify(dedup)}: use 1-64 characters from A-Z, a-z, 0-9, "-" and "_"`,
    );
  }
}

/** `due` is after `time` and at most the longest delay past it, so no agent holds an event for longer. */
function checkDue(due: unknown, time: string): void {
  checkTime(due, "due");
  const ahead = Date.parse(due as string) - Date.parse(time);
  if (ahead <= 0 || ahead > MAX_DELAY_MS) {
    throw new EventError(`invalid due ${JSON.stringify(due)}: it must be after time and at most 3 days after it`);
  }
}

function checkSource(value: unknown): void {
  const source = asObject(value, "source");
  for (const key of Object.keys(source)) {
    if (!SOURCE_KEYS.has(key)) {
      throw new EventError(`unknown field "source.${key}"`);
    }
  }
  if (
    typeof source.host !== "string" || source.host.length === 0 ||
    source.host.length > HOST_MAX_CHARS
  ) {
    throw new EventError(
      `source.host must be 1-${HOST_MAX_CHARS} characters`,
    );
  }
  if (typeof source.peer !== "string" || source.peer.length === 0) {
    throw new EventError("source.peer must be a peer id");
  }
  if (
    source.user !== undefined &&
    (typeof source.user !== "string" || source.user.length > USER_MAX_CHARS)
  ) {
    throw new EventError(`source.user must be at most ${USER_MAX_CHARS} characters`);
  }
}

/**
 * Encodes an event for the mesh. `source.peer` is left out: the receiver
 * takes it from the verified message signature instead.
 */
export function encodeEvent(event: HarkEvent): Uint8Array {
  const { peer: _signer, ...source } = event.source;
  return encoder.encode(JSON.stringify({ ...event, source }));
}

/**
 * Decodes and validates a message from the mesh. `signer` is the peer id
 * gossipsub verified; it becomes `source.peer`, and a payload that claims a
 * different peer is rejected as forged.
 */
export function decodeEvent(
  bytes: Uint8Array,
  signer: string,
  limits: EventLimits = DEFAULT_LIMITS,
): HarkEvent {
  if (bytes.length > limits.maxEventBytes) {
    throw new EventError(
      `message is ${bytes.length} bytes; the limit is ${limits.maxEventBytes}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(strictDecoder.decode(bytes));
  } catch {
    throw new EventError("message is not UTF-8 JSON");
  }
  const event = asObject(value, "event");
  const source = asObject(event.source, "source");
  if (source.peer !== undefined) {
    throw new EventError("message claims a source.peer; the signer is the source");
  }
  // Rebuild in the canonical field order so the event round-trips exactly.
  const { user, ...rest } = source;
  event.source = user === undefined ? { ...rest, peer: signer } : { ...rest, peer: signer, user };
  return validateEvent(event, limits);
}

const DRAFT_KEYS = new Set([
  "topic",
  "title",
  "body",
  "priority",
  "tags",
  "click",
  "actions",
  "ttl",
  "cache",
  "data",
  "user",
  "sequence",
  "kind",
  "dedup",
  "delay",
  "at",
  "markdown",
  "icon",
  "attachment",
]);

/** Checks the shape of a draft that arrived as JSON (from the control socket). */
export function parseDraft(value: unknown): EventDraft {
  const draft = asObject(value, "event");
  for (const key of Object.keys(draft)) {
    if (!DRAFT_KEYS.has(key)) throw new EventError(`unknown field "${key}"`);
  }
  for (const key of ["topic", "title", "body", "click", "user", "sequence", "kind", "dedup", "icon"] as const) {
    if (draft[key] !== undefined && typeof draft[key] !== "string") {
      throw new EventError(`${key} must be a string`);
    }
  }
  if (draft.ttl !== undefined && typeof draft.ttl !== "number") {
    throw new EventError("ttl must be a number of milliseconds");
  }
  if (draft.delay !== undefined && typeof draft.delay !== "number") {
    throw new EventError("delay must be a number of milliseconds");
  }
  if (draft.at !== undefined && typeof draft.at !== "number") {
    throw new EventError("at must be milliseconds since the epoch");
  }
  if (draft.cache !== undefined && typeof draft.cache !== "boolean") {
    throw new EventError("cache must be true or false");
  }
  if (draft.priority !== undefined) {
    if (typeof draft.priority !== "number" && typeof draft.priority !== "string") {
      throw new EventError("priority must be 1-5 or a priority name");
    }
    draft.priority = parsePriority(draft.priority);
  }
  if (draft.topic !== undefined) checkTopic(draft.topic);
  if (draft.actions !== undefined) checkActions(draft.actions);
  if (draft.data !== undefined) checkDataDepth(draft.data);
  checkLifecycle(draft.sequence, draft.kind);
  checkDedup(draft.dedup);
  if (draft.markdown !== undefined && typeof draft.markdown !== "boolean") {
    throw new EventError("markdown must be true or false");
  }
  if (draft.icon !== undefined) checkMediaUrl(draft.icon, "icon");
  if (draft.attachment !== undefined) checkAttachment(draft.attachment);
  return draft as EventDraft;
}
