/**
 * What a notification shows beside its text, as ntfy has it: an `icon` and an
 * `attachment`, both by URL. An agent never fetches either: a publisher could
 * otherwise make every agent in the mesh request a URL of its choosing. They
 * ride along to ntfy subscribers (whose apps fetch them, as they would from
 * ntfy's server), and a desktop shows the attachment as a link.
 */

import { EventError } from "../errors.ts";
import { stripControls } from "../util/controls.ts";

/** ntfy's attachment, by URL (hark stores no files); `expires` is RFC 3339 here, unix seconds in ntfy's JSON. */
export interface EventAttachment {
  /** The file's name, as shown to the person (ntfy's `Filename`). */
  name: string;
  /** Where the file is: an http or https URL. */
  url: string;
  /** Its MIME type, when the publisher knows it. */
  type?: string;
  /** Its size in bytes, when the publisher knows it. */
  size?: number;
  /** When the URL stops working, when the publisher knows it. */
  expires?: string;
}

export const MEDIA_URL_MAX_CHARS = 2048;
export const ATTACHMENT_NAME_MAX_CHARS = 255;
const MIME_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}$/;
const ATTACHMENT_KEYS = new Set(["name", "url", "type", "size", "expires"]);
const HTTP_SCHEMES = new Set(["http:", "https:"]);
const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** An http or https URL of at most MEDIA_URL_MAX_CHARS; throws EventError naming `field`. */
export function checkMediaUrl(value: unknown, field: string): string {
  // Only http(s): the ntfy app opens and downloads these, and file:, content:
  // or intent: URLs would reach into the phone.
  const url = typeof value === "string" && value.length <= MEDIA_URL_MAX_CHARS ? URL.parse(value) : null;
  if (!url || !HTTP_SCHEMES.has(url.protocol)) {
    throw new EventError(
      `invalid ${field} ${
        JSON.stringify(typeof value === "string" ? value.slice(0, 80) : value)
      }: use an absolute http or https URL of at most ${MEDIA_URL_MAX_CHARS} characters`,
    );
  }
  return value as string;
}

/** Checks an attachment of unknown shape; throws EventError naming the first wrong field. */
export function checkAttachment(value: unknown): EventAttachment {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EventError("attachment must be an object with name and url");
  }
  const attachment = value as Record<string, unknown>;
  for (const key of Object.keys(attachment)) {
    if (!ATTACHMENT_KEYS.has(key)) throw new EventError(`unknown field "attachment.${key}"`);
  }
  const name = attachment.name;
  // The name is shown as text and becomes a file name in the ntfy app's
  // downloads: no path, and no control or bidi characters, which could make
  // "cod.exe" read as "exe.doc".
  if (
    typeof name !== "string" || name.length === 0 || name.length > ATTACHMENT_NAME_MAX_CHARS ||
    stripControls(name, "") !== name || /[/\\]/.test(name)
  ) {
    throw new EventError(
      `attachment.name must be 1-${ATTACHMENT_NAME_MAX_CHARS} characters without control or bidi characters, "/" or "\\"`,
    );
  }
  checkMediaUrl(attachment.url, "attachment.url");
  if (attachment.type !== undefined && (typeof attachment.type !== "string" || !MIME_TYPE.test(attachment.type))) {
    throw new EventError(
      `invalid attachment.type ${JSON.stringify(attachment.type)}: use a MIME type such as image/jpeg`,
    );
  }
  if (
    attachment.size !== undefined &&
    (typeof attachment.size !== "number" || !Number.isSafeInteger(attachment.size) || attachment.size < 0)
  ) {
    throw new EventError(`invalid attachment.size ${JSON.stringify(attachment.size)}: use a whole number of bytes`);
  }
  if (
    attachment.expires !== undefined &&
    (typeof attachment.expires !== "string" || !RFC3339_MS.test(attachment.expires) ||
      Number.isNaN(Date.parse(attachment.expires)) ||
      new Date(attachment.expires).toISOString() !== attachment.expires)
  ) {
    throw new EventError(
      `invalid attachment.expires ${JSON.stringify(attachment.expires)}: use RFC 3339 UTC with milliseconds`,
    );
  }
  return attachment as unknown as EventAttachment;
}

/**
 * ntfy's name for an attachment given only by URL: the last path segment,
 * else "attachment" (as ntfy's server names it).
 */
export function attachmentNameOf(url: string): string {
  const path = URL.parse(url)?.pathname ?? "";
  let base = path.slice(path.lastIndexOf("/") + 1);
  try {
    base = decodeURIComponent(base);
  } catch {
    // Kept as written: a malformed escape is still a name.
  }
  const clean = stripControls(base, "").replace(/[/\\]/g, "").slice(0, ATTACHMENT_NAME_MAX_CHARS);
  return clean === "" || clean === "." || clean === ".." ? "attachment" : clean;
}
