/**
 * When a scheduled event is due, from what a person or an ntfy client
 * writes: a duration (`30m`, `1h30m`, `2 days`, `in 30 minutes`), unix
 * seconds (`1639194738`), RFC 3339, or the natural forms ntfy documents
 * (`10am`, `8:30pm`, `tomorrow, 10am`, `Tuesday, 7pm`, `noon`). ntfy uses a
 * natural-language library for the last; these few forms are what its docs
 * show, so a small parser of our own covers them without a dependency.
 *
 * A time of day is read in this process's local time zone (the agent's, for
 * ntfy clients; the machine's, for `hark send`), as ntfy's server does.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Go's time.ParseDuration form, which ntfy tries first: `30m`, `1h30m`, `1.5h`, plus `d`. */
const COMPACT = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const COMPACT_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
/** ntfy's long form: a number, optional space, and a unit word. */
const WORDY = /^(\d+)\s*(d|days?|h|hrs?|hours?|m|mins?|minutes?|s|secs?|seconds?)$/i;
const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const CLOCK = /^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$/i;

export const FUTURE_TIME_FORMS =
  'a duration (30m, 2h, 3 days), unix seconds, RFC 3339 (2026-12-07T12:00:00Z), a local date and time ("2026-12-07 12:00"), or a time such as 10am, 8:30pm, tomorrow, 10am or Tuesday, 7pm';
/**
 * `2026-12-07 12:00[:30]`, with a space and no zone: the local time of this
 * process, as a time of day is. RFC 3339's `T` form still needs its zone.
 */
const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2}) +(\d{2}):(\d{2})(?::(\d{2}))?$/;

/** A duration in milliseconds (`30m`, `1h30m`, `2 days`, `in 10 minutes`), or undefined when `text` is not one. */
export function parseDelay(text: string): number | undefined {
  const input = text.trim().replace(/^in\s+/i, "");
  if (COMPACT.test(input)) {
    let total = 0;
    for (const [, amount, unit] of input.matchAll(COMPACT_PART)) total += Number(amount) * UNIT_MS[unit];
    return Math.round(total);
  }
  const wordy = WORDY.exec(input);
  if (wordy) return Number(wordy[1]) * UNIT_MS[wordy[2][0].toLowerCase()];
  return undefined;
}

/**
 * The instant (ms since the epoch) `text` names, from `now`; throws
 * RangeError naming the forms it takes. Whether the instant is in bounds is
 * the caller's to check.
 */
export function parseFutureTime(text: string, now: number = Date.now()): number {
  const input = text.trim();
  if (/^\d{1,12}$/.test(input)) return Number(input) * 1000;
  const delay = parseDelay(input);
  if (delay !== undefined) return now + delay;
  if (/^\d{4}-\d{2}-\d{2}T/.test(input)) {
    const at = Date.parse(input);
    if (!Number.isNaN(at) && /(?:Z|[+-]\d{2}:\d{2})$/i.test(input)) return at;
  }
  const local = parseLocalDateTime(input);
  if (local !== undefined) return local;
  const natural = parseNatural(input.toLowerCase(), new Date(now));
  if (natural !== undefined) return natural;
  throw new RangeError(`cannot read the time ${JSON.stringify(text.slice(0, 80))}: use ${FUTURE_TIME_FORMS}`);
}

/** `YYYY-MM-DD HH:MM[:SS]` in local time; undefined when `input` is not that, or names no such time. */
function parseLocalDateTime(input: string): number | undefined {
  const match = LOCAL_DATE_TIME.exec(input);
  if (!match) return undefined;
  const [year, month, day, hours, minutes, seconds = 0] = match.slice(1).map((part) => Number(part ?? 0));
  const at = new Date(year, month - 1, day, hours, minutes, seconds);
  // new Date rolls 2026-02-30 over into March: such a date is a typo, not a time.
  const exact = at.getFullYear() === year && at.getMonth() === month - 1 && at.getDate() === day &&
    at.getHours() === hours && at.getMinutes() === minutes;
  return exact && seconds < 60 ? at.getTime() : undefined;
}

/** `[day][,] [at] [time]`: a day (today, tomorrow, a weekday) and/or a time of day. */
function parseNatural(input: string, now: Date): number | undefined {
  const match = /^(?:(?:next\s+)?([a-z]+))?\s*,?\s*(?:at\s+)?(.*)$/.exec(input.replace(/^at\s+/, ""));
  if (!match) return undefined;
  let dayWord: string | undefined = match[1];
  let clockText = match[2];
  // "10am" alone: the regex takes no day word, since a day word has no digits.
  if (dayWord !== undefined && !isDay(dayWord) && clockText === "") {
    clockText = dayWord;
    dayWord = undefined;
  }
  if (dayWord !== undefined && !isDay(dayWord)) return undefined;
  const clock = clockText === "" ? undefined : parseClock(clockText.trim());
  if (clockText !== "" && clock === undefined) return undefined;
  if (dayWord === undefined && clock === undefined) return undefined;
  const at = new Date(now);
  if (clock) at.setHours(clock.hours, clock.minutes, 0, 0);
  if (dayWord === undefined || dayWord === "today") {
    // A time already past today means tomorrow (ntfy: "8am" at 9am is tomorrow at 8).
    if (dayWord === undefined && at.getTime() <= now.getTime()) at.setDate(at.getDate() + 1);
    return at.getTime();
  }
  if (dayWord === "tomorrow") {
    at.setDate(at.getDate() + 1);
    return at.getTime();
  }
  const target = WEEKDAYS.findIndex((day) => day.startsWith(dayWord.slice(0, 3)));
  let ahead = (target - now.getDay() + 7) % 7;
  // Today's weekday: today if the time is still ahead, else a week on.
  if (ahead === 0 && at.getTime() <= now.getTime()) ahead = 7;
  at.setDate(at.getDate() + ahead);
  return at.getTime();
}

function isDay(word: string): boolean {
  if (word === "today" || word === "tomorrow") return true;
  return word.length >= 3 && WEEKDAYS.some((day) => day.startsWith(word));
}

function parseClock(text: string): { hours: number; minutes: number } | undefined {
  if (text === "noon") return { hours: 12, minutes: 0 };
  if (text === "midnight") return { hours: 0, minutes: 0 };
  const match = CLOCK.exec(text);
  if (!match) return undefined;
  let hours = Number(match[1]);
  const minutes = match[2] === undefined ? 0 : Number(match[2]);
  const half = match[3]?.toLowerCase();
  // "10" alone is not a time; "10:30" (24-hour) and "10am" are.
  if (half === undefined && match[2] === undefined) return undefined;
  if (minutes > 59) return undefined;
  if (half !== undefined) {
    if (hours < 1 || hours > 12) return undefined;
    hours = hours % 12 + (half === "pm" ? 12 : 0);
  } else if (hours > 23) return undefined;
  return { hours, minutes };
}
