/** `--since` for `history` and `tail`: a duration back from now, an event id, or an instant. */

import { parseDuration } from "../util/duration.ts";
import { UsageError } from "../errors.ts";
import { ULID_PATTERN } from "../event/ulid.ts";

export type Since = { since_time: number } | { since_id: string };

/** `label` names the option in errors: `--since` on the command line, `since` in the client library. */
export function parseSince(text: string, now = Date.now(), label = "--since"): Since {
  if (ULID_PATTERN.test(text)) return { since_id: text };
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const time = Date.parse(text);
    if (Number.isNaN(time)) throw new UsageError(`${label}: "${text}" is not a valid RFC 3339 time`);
    return { since_time: time };
  }
  try {
    return { since_time: now - parseDuration(text) };
  } catch {
    throw new UsageError(
      `${label}: "${text}" is neither a duration (10m, 2h, 7d), an event id nor an RFC 3339 time`,
    );
  }
}
