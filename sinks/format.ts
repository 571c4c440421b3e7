/**
 * One readable line per event, for terminals (`stdout` sink, `hark tail`).
 * Event text is data from other machines: control characters, including
 * escape sequences that could move the cursor, retitle the terminal or fake
 * other output, are replaced before anything reaches a terminal.
 */

import type { HarkEvent } from "../lib/event/event.ts";
import { stripControls } from "../lib/util/controls.ts";

export { stripControls };

const PRIORITY_MARK: Record<number, string> = { 1: "min", 2: "low", 3: "", 4: "HIGH", 5: "URGENT" };

/** `2026-11-21 23:59:59 [builds] HIGH Build #812 failed: test_login timed out (ci-01) #ci #failed` */
export function formatEventLine(event: HarkEvent): string {
  const time = event.time.slice(0, 19).replace("T", " ");
  const parts = [time, `[${event.topic}]`];
  const mark = PRIORITY_MARK[event.priority];
  if (mark) parts.push(mark);
  const text = event.title && event.body ? `${event.title}: ${event.body}` : event.title || event.body;
  // An acknowledgement or deletion has no text of its own: it says what it closes.
  if (event.kind === "clear" || event.kind === "delete") {
    parts.push(`${event.kind === "clear" ? "acknowledged" : "deleted"} ${event.sequence}`);
  } else parts.push(text);
  parts.push(`(${event.source.host})`);
  for (const tag of event.tags) parts.push(`#${tag}`);
  if (event.click) parts.push(`<${event.click}>`);
  return stripControls(parts.join(" "));
}
