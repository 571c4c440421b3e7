/**
 * One readable line per event, for terminals (`stdout` sink, `hark tail`).
 * Event text is data from other machines: control characters, including
 * escape sequences that could move the cursor, retitle the terminal or fake
 * other output, are replaced before anything reaches a terminal.
 */

import type { HarkEvent } from "../lib/event.ts";

// C0 controls (newlines too: one event must stay one line), DEL, C1 controls,
// and the Unicode line/paragraph separators and bidi overrides.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Replaces every control character with a visible, harmless one. */
export function stripControls(text: string): string {
  return text.replace(UNSAFE, (char) => (char === "\n" || char === "\r" || char === "\t" ? " " : "\uFFFD"));
}

const PRIORITY_MARK: Record<number, string> = { 1: "min", 2: "low", 3: "", 4: "HIGH", 5: "URGENT" };

/** `2026-11-21 23:59:59 [builds] HIGH Build #812 failed: test_login timed out (ci-01) #ci #failed` */
export function formatEventLine(event: HarkEvent): string {
  const time = event.time.slice(0, 19).replace("T", " ");
  const parts = [time, `[${event.topic}]`];
  const mark = PRIORITY_MARK[event.priority];
  if (mark) parts.push(mark);
  const text = event.title && event.body ? `${event.title}: ${event.body}` : event.title || event.body;
  parts.push(text);
  parts.push(`(${event.source.host})`);
  for (const tag of event.tags) parts.push(`#${tag}`);
  if (event.click) parts.push(`<${event.click}>`);
  return stripControls(parts.join(" "));
}
