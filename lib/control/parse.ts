/**
 * Turns a request line's JSON into a typed request, or says why it is not
 * one. Every field a handler reads is checked here, so handlers work with
 * the types in protocol.ts and never with what a client happened to send.
 */

import { HarkError } from "../errors.ts";
import { checkTopic, parseDraft } from "../event/event.ts";
import { CONTROL_OPS, type ControlOp, type ControlRequest, type SinceFields } from "./protocol.ts";

type Fields = Record<string, unknown>;

/** The request in `value`; throws `HarkError` with the reply's error text. */
export function parseRequest(value: unknown): ControlRequest {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HarkError("request must be a JSON object");
  }
  const fields = value as Fields;
  const op = fields.op as ControlOp;
  if (!CONTROL_OPS.includes(op)) {
    throw new HarkError(`unknown op ${JSON.stringify(fields.op)}; use one of ${CONTROL_OPS.join(", ")}`);
  }
  switch (op) {
    case "send":
      return { op, event: parseDraft(fields.event) };
    case "tail":
      return { op, topics: topicsOf(fields), when: whenOf(fields), ...sinceOf(fields) };
    case "history":
      return { op, topics: topicsOf(fields), limit: limitOf(fields), ...sinceOf(fields) };
    default:
      return { op };
  }
}

/** Topics one request may name. */
export const MAX_REQUEST_TOPICS = 256;
/** The largest `limit`: far more events than a store keeps, and well inside SQLite's integers. */
export const MAX_LIMIT = 1_000_000_000;
/** Milliseconds either side of the epoch that a Date can hold. */
const MAX_TIME_MS = 8.64e15;
const MAX_ID_CHARS = 128;
/** Longer than any topic the grammar allows; checked first so a huge string costs nothing. */
const MAX_TOPIC_CHARS = 1024;

/** A value as an error names it: its JSON, cut short, or its kind. */
function shown(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (typeof value === "string") {
    return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
  }
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** What a value is, for errors: "a string", "an object", "an array". */
function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Named topics, or undefined for "agent.topics": an empty or absent list means the same. */
function topicsOf(fields: Fields): string[] | undefined {
  const topics = fields.topics;
  if (topics === undefined) return undefined;
  if (!Array.isArray(topics)) throw new HarkError(`topics must be a list of topic names, not ${kind(topics)}`);
  if (topics.length > MAX_REQUEST_TOPICS) {
    throw new HarkError(`topics: at most ${MAX_REQUEST_TOPICS} topics in one request, not ${topics.length}`);
  }
  if (topics.length === 0) return undefined;
  return topics.map((topic, index) => {
    if (typeof topic !== "string") throw new HarkError(`topics[${index}] must be a topic name, not ${kind(topic)}`);
    if (topic.length > MAX_TOPIC_CHARS) {
      throw new HarkError(`topics[${index}] is not a topic name: ${topic.length} characters is too long`);
    }
    try {
      return checkTopic(topic);
    } catch (error) {
      throw new HarkError(`topics[${index}]: ${(error as Error).message}`, { cause: error });
    }
  });
}

function sinceOf(fields: Fields): SinceFields {
  const since: SinceFields = {};
  const time = fields.since_time;
  if (time !== undefined) {
    if (typeof time !== "number" || !Number.isFinite(time) || Math.abs(time) > MAX_TIME_MS) {
      throw new HarkError(`since_time must be milliseconds since the epoch (a number), not ${shown(time)}`);
    }
    since.since_time = Math.floor(time);
  }
  const id = fields.since_id;
  if (id !== undefined) {
    if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_CHARS) {
      throw new HarkError(
        `since_id must be an event id (a string of 1 to ${MAX_ID_CHARS} characters), not ${shown(id)}`,
      );
    }
    since.since_id = id;
  }
  return since;
}

function whenOf(fields: Fields): string | undefined {
  const when = fields.when;
  if (when === undefined) return undefined;
  if (typeof when !== "string") throw new HarkError(`when must be a filter (a string), not ${kind(when)}`);
  return when;
}

function limitOf(fields: Fields): number | undefined {
  const limit = fields.limit;
  if (limit === undefined) return undefined;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new HarkError(`limit must be a whole number from 1 to ${MAX_LIMIT}, not ${shown(limit)}`);
  }
  return limit;
}
