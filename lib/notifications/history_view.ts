/**
 * `hark history` as a person reads it: each notification once, as its
 * latest version, with its earlier versions and who acknowledged or deleted
 * it indented below. Events without a sequence that nobody acknowledged
 * print as they are. (`--json` prints every event unchanged, for scripts.)
 */

import type { HarkEvent } from "../event/event.ts";
import { formatEventLine } from "../../sinks/format.ts";
import { isMessage, sequenceOf } from "./book.ts";

/** As the event lines' own times (UTC), not the locale's "12/8/2026, 10:00:00 AM" beside them. */
function utcTime(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

const STEP_WORDS = { clear: "acknowledged", delete: "deleted" } as const;

function newerThan(a: HarkEvent, b: HarkEvent): boolean {
  return a.time > b.time || (a.time === b.time && a.id > b.id);
}

/** The lines for `events` (oldest first): a notification prints where its newest step is. */
export function historyLines(events: HarkEvent[], now = Date.now()): string[] {
  const groups = new Map<string, HarkEvent[]>();
  const keyOf = (event: HarkEvent) => `${event.topic}\n${sequenceOf(event)}`;
  for (const event of events) {
    const key = keyOf(event);
    const group = groups.get(key);
    if (group) group.push(event);
    else groups.set(key, [event]);
  }
  const lastIndex = new Map<string, number>();
  events.forEach((event, index) => lastIndex.set(keyOf(event), index));
  const lines: string[] = [];
  events.forEach((event, index) => {
    const key = keyOf(event);
    if (lastIndex.get(key) !== index) return;
    lines.push(...notificationLines(groups.get(key)!, now));
  });
  return lines;
}

function notificationLines(steps: HarkEvent[], now: number): string[] {
  const messages = steps.filter(isMessage).sort((a, b) => (newerThan(a, b) ? 1 : -1));
  const lines: string[] = [];
  const latest = messages.at(-1);
  if (latest) {
    // Scheduled and not yet due: held by every agent, not shown anywhere yet.
    const pending = latest.due !== undefined && Date.parse(latest.due) > now;
    lines.push(formatEventLine(latest) + (pending ? ` (scheduled, due ${utcTime(latest.due!)})` : ""));
    for (const earlier of messages.slice(0, -1).reverse()) lines.push(`    was: ${formatEventLine(earlier)}`);
  }
  // Every acknowledgement and deletion since the latest version, oldest first: an ack followed by a
  // delete says who did each, not only who deleted it.
  const closes = steps.filter((step) => !isMessage(step) && (!latest || newerThan(step, latest)))
    .sort((a, b) => (newerThan(a, b) ? 1 : -1));
  for (const close of closes) {
    const who = close.source.user ? `${close.source.user}@${close.source.host}` : close.source.host;
    const when = close.time.slice(0, 19).replace("T", " ");
    const what = `${STEP_WORDS[close.kind as "clear" | "delete"]} by ${who} at ${when}`;
    lines.push(latest ? `    ${what}` : `${when} [${close.topic}] ${sequenceOf(close)} ${what}`);
  }
  return lines;
}
