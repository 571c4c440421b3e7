/**
 * ntfy's scheduled delivery on the http source: the `X-Delay` header (or
 * `Delay`, `X-At`, `At`, `X-In`, `In`, the same as query parameters) or
 * `delay` in a JSON publish, in every form ntfy's docs show (`30m`,
 * `2 hours`, `1639194738`, `10am`, `tomorrow, 10am`, `Tuesday, 7pm`), with
 * ntfy's bounds and error codes. A time of day is the agent's local time.
 */

import { MAX_DELAY_MS, minDelayMs } from "../event/due.ts";
import { FUTURE_TIME_FORMS, parseFutureTime } from "../util/future_time.ts";
import { HttpFailure } from "./http_failure.ts";

export const DELAY_PARAMS = ["x-delay", "delay", "x-at", "at", "x-in", "in"] as const;

/** The instant (ms) a delay parameter names, or ntfy's 400 (40002, 40004-40006). */
export function ntfyDue(text: string, cache: boolean, now = Date.now()): number {
  if (!cache) throw new HttpFailure(400, 40002, "cannot disable cache for delayed message: every agent holds it");
  let due: number;
  try {
    due = parseFutureTime(text, now);
  } catch {
    throw new HttpFailure(
      400,
      40004,
      `invalid delay parameter: unable to parse ${JSON.stringify(text.slice(0, 80))}: use ${FUTURE_TIME_FORMS}`,
    );
  }
  const min = minDelayMs();
  if (due - now < min) {
    throw new HttpFailure(400, 40005, `invalid delay parameter: too small, deliver at least ${min / 1000} s ahead`);
  }
  if (due - now > MAX_DELAY_MS) {
    throw new HttpFailure(400, 40006, "invalid delay parameter: too large, deliver at most 3 days ahead");
  }
  return due;
}
