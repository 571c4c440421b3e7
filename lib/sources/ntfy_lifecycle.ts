/**
 * ntfy 2.16's updating, clearing and deleting of notifications on the http
 * source, under ntfy's names: the sequence id comes as the `X-Sequence-ID`
 * header (aliases `Sequence-ID`, `SID`; the same as query parameters),
 * `sequence_id` in a JSON publish, or the path `/<topic>/<sequence_id>`;
 * `PUT /<topic>/<sequence_id>/clear` (or `/read`) acknowledges the
 * notification and `DELETE /<topic>/<sequence_id>` deletes it. Each becomes
 * a hark event with `sequence`, and `kind` for a clear or a delete.
 */

import { type EventDraft, SEQUENCE_PATTERN } from "../event/event.ts";
import { HttpFailure } from "./http_failure.ts";

/** ntfy's parameter names for the sequence id, header or query. */
export const SEQUENCE_PARAMS = ["x-sequence-id", "sequence-id", "sid"] as const;

const CLEAR_ACTIONS = new Set(["clear", "read"]);

/** A sequence id as given, or 400 when it is outside ntfy's alphabet. */
export function sequenceOf(text: string): string {
  if (!SEQUENCE_PATTERN.test(text)) {
    throw new HttpFailure(
      400,
      40012,
      `invalid sequence id ${JSON.stringify(text.slice(0, 80))}: use 1-64 characters from A-Z, a-z, 0-9, "-" and "_"`,
    );
  }
  return text;
}

/**
 * A sequence id from the URL path, percent-decoded first as ntfy's server
 * reads its path, so `/mytopic/has%20space` is reported as "has space".
 */
export function sequenceInPath(segment: string): string {
  let text = segment;
  try {
    text = decodeURIComponent(segment);
  } catch {
    // A broken escape (`%zz`) stays as written; the alphabet check refuses it.
  }
  return sequenceOf(text);
}

/** The draft of a clear (`PUT /<topic>/<seq>/clear`) or a delete (`DELETE /<topic>/<seq>`); undefined for other requests. */
export function lifecycleDraft(
  method: string,
  path: string,
  topicOf: (text: string) => string,
): EventDraft | undefined {
  const segments = path.slice(1).split("/");
  if ((method === "PUT" || method === "POST") && segments.length === 3 && CLEAR_ACTIONS.has(segments[2])) {
    return { topic: topicOf(segments[0]), kind: "clear", sequence: sequenceInPath(segments[1]) };
  }
  if (method === "DELETE" && segments.length === 2) {
    return { topic: topicOf(segments[0]), kind: "delete", sequence: sequenceInPath(segments[1]) };
  }
  return undefined;
}
