/**
 * Turns a request line's JSON into a typed request, or says why it is not
 * one. Every field a handler reads is checked here, so handlers work with
 * the types in protocol.ts and never with what a client happened to send.
 */

import { HarkError } from "../errors.ts";
import { parseDraft } from "../event/event.ts";
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
    case "tail": {
      if (fields.when !== undefined && typeof fields.when !== "string") throw new HarkError("when must be a filter");
      return { op, topics: topicsOf(fields), when: fields.when as string | undefined, ...sinceOf(fields) };
    }
    case "history":
      return { op, topics: topicsOf(fields), limit: limitOf(fields), ...sinceOf(fields) };
    default:
      return { op };
  }
}

/** Named topics, or undefined for "agent.topics": an empty or absent list means the same. */
function topicsOf(fields: Fields): string[] | undefined {
  return Array.isArray(fields.topics) && fields.topics.length > 0 ? fields.topics.map(String) : undefined;
}

function sinceOf(fields: Fields): SinceFields {
  const since: SinceFields = {};
  if (fields.since_time !== undefined) {
    if (typeof fields.since_time !== "number") throw new HarkError("since_time must be milliseconds");
    since.since_time = fields.since_time;
  }
  if (fields.since_id !== undefined) {
    // Only a string can name a stored event; the words are those for an id the store lacks.
    if (typeof fields.since_id !== "string") {
      throw new HarkError(`no event with id ${JSON.stringify(fields.since_id)} in the store`);
    }
    since.since_id = fields.since_id;
  }
  return since;
}

function limitOf(fields: Fields): number | undefined {
  const limit = fields.limit;
  if (limit === undefined) return undefined;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) {
    throw new HarkError("limit must be a whole number of at least 1");
  }
  return limit;
}
