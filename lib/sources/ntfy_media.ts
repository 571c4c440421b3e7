/**
 * ntfy's publish options for what a notification shows beside its text:
 * Markdown (`Markdown: yes`, `Content-Type: text/markdown`), an icon
 * (`Icon: URL`) and an attachment by URL (`Attach: URL`, `Filename: name`),
 * read as ntfy's server reads them, into the event's `markdown`, `icon` and
 * `attachment`.
 *
 * A file upload (a body that is not UTF-8 text, a message over the message
 * limit, or a `Filename` without `Attach`) is what ntfy stores in its
 * attachment cache. hark stores no files, so it answers as an ntfy server
 * without an attachment cache does: 400 with code 40014.
 */

import { attachmentNameOf, checkAttachment, checkMediaUrl, type EventAttachment } from "../event/attachment.ts";
import { EventError } from "../errors.ts";
import { HttpFailure } from "./http_failure.ts";

/** ntfy's parameter names, header or query. */
export const MEDIA_PARAMS = {
  markdown: ["x-markdown", "markdown", "md"],
  contentType: ["content-type", "content_type"],
  icon: ["x-icon", "icon"],
  attach: ["x-attach", "attach", "a"],
  filename: ["x-filename", "filename", "file", "f"],
} as const;

/** What ntfy's server writes when a message is only an attachment. */
export function fileMessage(name: string): string {
  return `You received a file: ${name}`;
}

export interface Media {
  markdown?: boolean;
  icon?: string;
  attachment?: EventAttachment;
}

/** The raw values, from headers and query parameters or from ntfy's JSON publish. */
export interface MediaParams {
  markdown?: string | boolean;
  contentType?: string;
  icon?: string;
  attach?: string;
  filename?: string;
}

/**
 * ntfy's reading: `Markdown` is true for 1, yes or true, and so is a
 * `Content-Type` of text/markdown; `Attach` names the file's URL, and its name
 * is `Filename` or the URL's last path segment. Throws HttpFailure with
 * ntfy's codes: 40013 for an attachment URL, 40021 for an icon URL, 40014
 * for a `Filename` without `Attach` (an upload).
 */
export function readMedia(params: MediaParams): Media {
  const media: Media = {};
  const markdown = typeof params.markdown === "string"
    ? ["1", "yes", "true"].includes(params.markdown.trim().toLowerCase())
    : params.markdown === true;
  if (markdown || params.contentType?.trim().toLowerCase() === "text/markdown") media.markdown = true;
  if (params.icon !== undefined && params.icon !== "") {
    media.icon = checked(40021, "icon URL is invalid", () => checkMediaUrl(params.icon, "icon"));
  }
  const filename = params.filename === "" ? undefined : params.filename;
  if (params.attach !== undefined && params.attach !== "") {
    const url = checked(40013, "attachment URL is invalid", () => checkMediaUrl(params.attach, "attachment URL"));
    media.attachment = checked(
      40013,
      "attachment is invalid",
      () => checkAttachment({ name: filename ?? attachmentNameOf(url), url }),
    );
  } else if (filename !== undefined) {
    throw uploadRefused(`"Filename: ${filename.slice(0, 80)}" without Attach asks to upload a file`);
  }
  return media;
}

/** 40014, as an ntfy server without an attachment cache answers an upload; `why` says what made it one. */
export function uploadRefused(why: string): HttpFailure {
  return new HttpFailure(
    400,
    40014,
    `invalid request: attachments not allowed: ${why}, and hark stores no files; put the file on a web server and send its URL with Attach: <url> (and Filename: <name>)`,
  );
}

function checked<T>(code: number, what: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof EventError)) throw error;
    throw new HttpFailure(400, code, `invalid request: ${what}: ${error.message}`, { cause: error });
  }
}
