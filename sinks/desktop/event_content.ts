/**
 * What of an event's ntfy extras a desktop popup can show, on every platform:
 * a Markdown body as plain text (each backend then escapes it as any body),
 * an attachment as a line with its name and URL plus a button that opens it
 * (as a `view` action, so it is opened the way every button's URL is), and
 * only the buttons a desktop has (a `broadcast` is an Android intent). The
 * icon is left out: a notification server wants a local file or a named
 * icon, and no agent fetches a URL from an event.
 */

import type { HarkEvent } from "../../lib/event/event.ts";
import { ACTION_LABEL_MAX_CHARS, ACTIONS_MAX, type DesktopAction, desktopActions } from "../../lib/event/actions.ts";
import { markdownToText } from "../markdown_text.ts";

/** The popup's body: the text, Markdown made plain, and a line for the attachment. */
export function desktopBody(event: HarkEvent): string {
  const text = event.markdown ? markdownToText(event.body ?? "") : event.body ?? "";
  const attachment = event.attachment;
  if (!attachment) return text;
  const line = `📎 ${attachment.name}: ${attachment.url}`;
  return text === "" ? line : `${text}\n${line}`;
}

/** The popup's buttons: the event's own, without broadcasts, then "Open <file>" while there is room. */
export function desktopButtons(event: HarkEvent): DesktopAction[] {
  const buttons = desktopActions(event.actions);
  const attachment = event.attachment;
  if (attachment && buttons.length < ACTIONS_MAX) {
    const label = `Open ${attachment.name}`;
    buttons.push({
      action: "view",
      label: label.length > ACTION_LABEL_MAX_CHARS ? `${label.slice(0, ACTION_LABEL_MAX_CHARS - 1)}…` : label,
      url: attachment.url,
    });
  }
  return buttons;
}
