/**
 * Scheduled events: when one is due, and the bounds on how far ahead. A
 * scheduled event is published at once and carries `due`; every agent
 * holds it until then (lib/notifications/schedule.ts).
 */

import { EventError } from "../errors.ts";

/** ntfy's bounds: at least 10 seconds ahead, at most 3 days. */
export const MIN_DELAY_MS = 10_000;
export const MAX_DELAY_MS = 3 * 86_400_000;
/**
 * Test-only: a lower minimum, so tests across real agents can wait 1-2 s of
 * real time instead of 10. Never set it in production.
 */
export const MIN_DELAY_ENV = "HARK_TEST_MIN_DELAY_MS";

/** The shortest delay: 10 s, or the test-only override. */
export function minDelayMs(): number {
  let value: string | undefined;
  try {
    value = Deno.env.get(MIN_DELAY_ENV);
  } catch {
    // No env permission: the real bound.
  }
  const ms = value === undefined ? NaN : Number(value);
  return Number.isFinite(ms) && ms >= 0 ? ms : MIN_DELAY_MS;
}

/** How a draft asks for a schedule: a delay from now (ms), or an instant (ms since the epoch). */
export interface DueRequest {
  delay?: number;
  at?: number;
}

/** The due instant (ms) a draft asks for, checked against the bounds; undefined when it asks for none. */
export function dueOf(request: DueRequest, now: number): number | undefined {
  if (request.delay !== undefined && request.at !== undefined) {
    throw new EventError("give a delay or a time to deliver at, not both");
  }
  const due = request.delay !== undefined ? now + request.delay : request.at;
  if (due === undefined) return undefined;
  if (!Number.isFinite(due)) throw new EventError("invalid delivery time: not a number");
  const ahead = due - now;
  const min = minDelayMs();
  if (ahead < min) {
    throw new EventError(
      `the delivery time ${new Date(due).toISOString()} is ${
        ahead < 0 ? "in the past" : `only ${Math.round(ahead / 1000)} s ahead`
      }: schedule at least ${min / 1000} s ahead, or send it now without a delay`,
    );
  }
  if (ahead > MAX_DELAY_MS) {
    throw new EventError(
      `the delivery time ${new Date(due).toISOString()} is more than 3 days ahead, the limit: pick an earlier time`,
    );
  }
  return due;
}
