/**
 * The agent's last line of defence: a promise rejection nobody handled, or an
 * exception thrown from a callback (a timer, an event listener) that nothing
 * caught. Deno ends the process on either, with one line and, when the reason
 * is not an Error, no stack at all (`error: Uncaught null`). One stray
 * rejection deep in a library (libp2p and its stream helpers run hundreds of
 * callbacks per connection) would take down every sink, source and peer of
 * the agent, silently when it runs as a service.
 *
 * Installed by `hark run` before libp2p loads. Each occurrence is logged at
 * error level with what there is to know (its stack, or for a value that is
 * not an Error, its type and value), counted for `hark status` and
 * `GET /metrics`, and the agent keeps running: the failure unwound one
 * callback, and the parts that own connections (pings, redials, catch-up)
 * repair what that callback left half done.
 */

import { getLogger } from "@logtape/logtape";

const log = getLogger(["hark", "process"]);

/**
 * Each different failure (kind, place and first line) is logged in full the first time; this many at most, so a
 * bug that fails in ever new ways cannot fill the log.
 */
const DISTINCT_LOGGED = 100;
/** Repeats, and failures past that many, are logged at most this often, with how many were not. */
const QUIET_LOG_INTERVAL_MS = 60_000;

/** Uncaught failures since the process started, by kind. */
export interface UncaughtCounts {
  /** Promise rejections that no handler caught. */
  rejections: number;
  /** Exceptions thrown out of a callback (timer, event listener). */
  exceptions: number;
}

const counts: UncaughtCounts = { rejections: 0, exceptions: 0 };
let installed = false;
const logged = new Set<string>();
let unlogged = 0;
let lastLoggedAt = 0;

/** What the process has survived so far. */
export function uncaughtCounts(): UncaughtCounts {
  return { ...counts };
}

/**
 * Keeps the process alive through uncaught rejections and exceptions, logging
 * and counting each one. Idempotent.
 */
export function guardProcess(): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    survived("rejections", "A promise was rejected and nothing handled it", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    // event.error is what was thrown. A thrown value that is not an Error has no stack, but the
    // event still names the script position V8 reported for it (empty when a timer threw).
    const where = event.filename ? ` at ${event.filename}:${event.lineno}:${event.colno}` : "";
    survived("exceptions", `An exception escaped a callback${where}`, event.error);
  });
}

function survived(kind: keyof UncaughtCounts, what: string, reason: unknown): void {
  counts[kind]++;
  const description = describeReason(reason);
  // A repeat of the same failure says nothing new; a different one (the rarer bug behind a flood) must show.
  const key = `${kind} ${what} ${description.split("\n", 1)[0]}`.slice(0, 500);
  const now = Date.now();
  const fresh = !logged.has(key) && logged.size < DISTINCT_LOGGED;
  if (!fresh && now - lastLoggedAt < QUIET_LOG_INTERVAL_MS) {
    unlogged++;
    return;
  }
  logged.add(key);
  lastLoggedAt = now;
  const more = unlogged > 0 ? ` (${unlogged} more since the last one logged, not shown)` : "";
  unlogged = 0;
  log.error(
    "{what}: {reason}. The agent keeps running{more}. This is a bug in hark or a library it uses: please report it " +
      "with this line and the log lines before it. `hark status` counts these under uncaught.",
    { what, reason: description, more },
  );
}

/**
 * An Error as its stack (which begins with its name and message); anything
 * else as its type and value, since a thrown `null` or string carries no
 * stack of where it came from.
 */
export function describeReason(reason: unknown): string {
  if (reason instanceof Error) {
    const stack = reason.stack ?? `${reason.name}: ${reason.message}`;
    const cause = reason.cause === undefined ? "" : `; caused by ${describeReason(reason.cause)}`;
    return `${stack}${cause}`;
  }
  const type = reason === null ? "null" : Array.isArray(reason) ? "array" : typeof reason;
  const value = Deno.inspect(reason, { depth: 2, colors: false, strAbbreviateSize: 200 }).slice(0, 500);
  const what = value === type ? value : `${type} ${value}`;
  return `${what} (not an Error, so it carries no stack)`;
}
