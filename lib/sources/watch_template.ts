/**
 * A matched line becomes an event: the rule's templates filled from the
 * line's named groups and `{host}`, `{line}`, `{path}`, and a line's own
 * `title`, `body`, `priority` or `tags` groups winning over the rule's.
 */

import { BODY_MAX_BYTES, type EventDraft, parsePriority, TAGS_MAX, TITLE_MAX_CHARS } from "../event/event.ts";
import { cleanTerminalLine } from "../util/controls.ts";
import { type CompiledRule, isTag, PLACEHOLDER } from "./watch_rules.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** What a template may name besides the line's groups. */
export interface TemplateContext {
  host: string;
  path: string;
  /** The title of rules that give none: the file's name. */
  fileName: string;
  /** The topic of rules that name none; undefined leaves it to the agent. */
  topic?: string;
}

export function draftFor(
  rule: CompiledRule,
  line: string,
  groups: Record<string, string | undefined>,
  context: TemplateContext,
): EventDraft {
  const values: Record<string, string> = { host: context.host, line, path: context.path };
  for (const [name, value] of Object.entries(groups)) {
    if (value !== undefined) values[name] = value;
  }
  const fill = (template: string) => template.replace(PLACEHOLDER, (_, name) => values[name] ?? "");
  let title = rule.title === undefined ? context.fileName : fill(rule.title);
  let body = rule.body === undefined ? line : fill(rule.body);
  let priority = rule.priority;
  let tags = rule.tags;
  if (groups.title !== undefined) title = groups.title;
  if (groups.body !== undefined) body = groups.body;
  if (groups.priority !== undefined) {
    try {
      priority = parsePriority(groups.priority);
    } catch {
      // A priority the line got wrong keeps the rule's.
    }
  }
  if (groups.tags !== undefined) {
    const extra = groups.tags.split(/[\s,]+/).filter(isTag);
    tags = [...new Set([...tags, ...extra])].slice(0, TAGS_MAX);
  }
  const draft: EventDraft = {
    title: clipChars(title, TITLE_MAX_CHARS),
    body: clipBytes(body, BODY_MAX_BYTES),
    priority,
    tags,
    data: { path: context.path },
  };
  const topic = rule.topic ?? context.topic;
  // No topic at all lets the agent (or the source entry's `topic`) decide.
  return topic === undefined ? draft : { topic, ...draft };
}

/** Drops a CRLF's CR, terminal escape sequences and other control characters (tabs stay). */
export function cleanLine(line: string): string {
  const text = line.endsWith("\r") ? line.slice(0, -1) : line;
  return cleanTerminalLine(text, "\uFFFD");
}

export function clipChars(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  // Do not leave half a surrogate pair behind.
  return (/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut) + "…";
}

export function clipBytes(text: string, max: number): string {
  const bytes = encoder.encode(text);
  if (bytes.length <= max) return text;
  // Cut at a character boundary: continuation bytes are 0b10xxxxxx.
  let end = max - 3;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end)) + "…";
}
