/**
 * The bodies of a webhook sink's chat formats: a Slack or Discord message, or
 * an ntfy publish. Event text is data from other machines, so each format
 * escapes its own markup and drops control characters.
 */

import type { HarkEvent } from "../lib/event/event.ts";
import { stripControlsKeepingLines } from "../lib/util/controls.ts";

const DISCORD_MAX_CHARS = 2000;

/** Text for a chat message: newlines normalised, control characters made visible and harmless. */
function chatText(text: string): string {
  return stripControlsKeepingLines(text);
}

/** A title is one line. */
function chatTitle(text: string): string {
  return chatText(text).replace(/\n/g, " ").trim();
}

/** The click URL normalised (percent-encoded, so no spaces or angle brackets), or undefined if it is not a URL. */
function linkOf(event: HarkEvent): string | undefined {
  return event.click === undefined ? undefined : URL.parse(event.click)?.href;
}

function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function slackBody(event: HarkEvent): string {
  const lines: string[] = [];
  const title = chatTitle(event.title);
  if (title) lines.push(`*${slackEscape(title)}*`);
  if (event.body) lines.push(slackEscape(chatText(event.body)));
  const link = linkOf(event);
  // `|` would start a link label inside `<...>`.
  if (link) lines.push(`<${slackEscape(link.replace(/\|/g, "%7C"))}>`);
  return JSON.stringify({ text: lines.join("\n") });
}

/** Characters Discord reads as markdown: `\` before any of them shows it as itself. */
const DISCORD_MARKDOWN = /[\\*_~`|<>[\]()#]/;

/** Escapes one code point for Discord. */
function discordChar(char: string): string {
  if (char === "@") return "@\u200b";
  return DISCORD_MARKDOWN.test(char) ? `\\${char}` : char;
}

/** Escapes text for Discord, at most `budget` UTF-16 units, never splitting an escape or a surrogate pair. */
function discordText(text: string, budget: number): string {
  const out: string[] = [];
  let length = 0;
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i++) {
    const piece = discordChar(chars[i]);
    // Room must stay for the ellipsis unless this is the last character.
    const reserve = i === chars.length - 1 ? 0 : 1;
    if (length + piece.length + reserve > budget) {
      out.push("…");
      break;
    }
    out.push(piece);
    length += piece.length;
  }
  return out.join("");
}

export function discordBody(event: HarkEvent): string {
  const title = chatTitle(event.title);
  const head = title ? `**${discordText(title, DISCORD_MAX_CHARS - 4)}**` : "";
  const link = linkOf(event);
  let tail = link ? `<${link}>` : "";
  const fixed = head.length + (head ? 1 : 0);
  // A URL cannot be cut: it goes only if it fits beside the title.
  if (tail && fixed + tail.length > DISCORD_MAX_CHARS) tail = "";
  let body = "";
  if (event.body) {
    const budget = DISCORD_MAX_CHARS - fixed - (tail ? tail.length + 1 : 0);
    if (budget > 0) body = discordText(chatText(event.body), budget);
  }
  const content = [head, body, tail].filter((part) => part !== "").join("\n");
  return JSON.stringify({ content, allowed_mentions: { parse: [] } });
}

export function ntfyBody(event: HarkEvent, topic: string): string {
  const title = chatTitle(event.title);
  const body = chatText(event.body);
  // ntfy needs a message; an event with only a title shows it as the message.
  const message: Record<string, unknown> = { topic };
  if (title && body) message.title = title;
  message.message = body || title;
  message.priority = event.priority;
  if (event.tags.length > 0) message.tags = event.tags;
  const link = linkOf(event);
  if (link) message.click = link;
  // The same buttons on ntfy's apps: hark's actions are ntfy's, field for field.
  if (event.actions?.length) message.actions = event.actions;
  // ntfy 2.16 replaces the notification with this sequence id in its apps.
  if (event.sequence !== undefined) message.sequence_id = event.sequence;
  // ntfy's JSON publish names these so; an attachment goes by URL, as it came.
  if (event.markdown) message.markdown = true;
  if (event.icon !== undefined) message.icon = event.icon;
  if (event.attachment !== undefined) {
    message.attach = event.attachment.url;
    message.filename = event.attachment.name;
  }
  return JSON.stringify(message);
}
