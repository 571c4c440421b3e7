/**
 * ntfy's action buttons as publishers send them: the `Actions` header (or
 * `actions=` parameter) in its short or long form, and the JSON `actions`
 * list. Both become hark's `EventAction`s, checked by the event model.
 *
 *   Actions: view, Open portal, https://home.example/, clear=true;
 *            http, Turn down, https://api.example/, method=PUT, headers.Authorization=Bearer x, body='{"t": 65}'
 *   Actions: broadcast, Take picture, extras.cmd=pic, extras.camera=front
 *
 * As in ntfy, a header that starts with `[` is the JSON list.
 */

import { checkActions, type EventAction } from "../event/actions.ts";
import { EventError } from "../errors.ts";

/** The fields ntfy names positionally, in order, before any `key=value`; a broadcast has no URL. */
const POSITIONAL = ["action", "label", "url"] as const;
const BROADCAST_POSITIONAL = ["action", "label"] as const;
const KEY_VALUE = /^([A-Za-z][\w.-]*)\s*=\s*(.*)$/s;

/** Parses the header's short or long form; throws EventError naming what is wrong. */
export function parseActionsHeader(text: string): EventAction[] {
  if (text.trim().startsWith("[")) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new EventError("the actions start with [ but are not a JSON list");
    }
    return parseActionsJson(value);
  }
  const actions = split(text, ";").filter((part) => part.trim() !== "").map((part, index) => {
    const action: Record<string, unknown> = {};
    const headers: Record<string, string> = {};
    const extras: Record<string, string> = {};
    let position = 0;
    for (const raw of split(part, ",")) {
      const field = raw.trim();
      if (field === "") continue;
      const match = KEY_VALUE.exec(field);
      if (match) {
        const [, key, value] = match;
        const name = key.toLowerCase();
        if (name.startsWith("headers.")) headers[key.slice("headers.".length)] = unquote(value.trim());
        else if (name.startsWith("extras.")) extras[key.slice("extras.".length)] = unquote(value.trim());
        else action[name] = unquote(value.trim());
        continue;
      }
      const positional = String(action.action).toLowerCase() === "broadcast" ? BROADCAST_POSITIONAL : POSITIONAL;
      if (position >= positional.length) {
        throw new EventError(`action ${index + 1}: unexpected ${JSON.stringify(field)}; name it, as in body=…`);
      }
      action[positional[position++]] = unquote(field);
    }
    if (Object.keys(extras).length > 0) action.extras = extras;
    return normalise(action, headers);
  });
  return checkActions(actions);
}

/** ntfy's JSON `actions`: a list of objects with its field names. */
export function parseActionsJson(value: unknown): EventAction[] {
  if (!Array.isArray(value)) throw new EventError('"actions" must be a list of objects');
  return checkActions(value.map((item) => {
    if (typeof item !== "object" || item === null) return item;
    const { headers, ...rest } = item as Record<string, unknown>;
    const action: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(rest)) action[key.toLowerCase()] = field;
    return normalise(action, headers as Record<string, string> | undefined);
  }));
}

/**
 * ntfy's spellings to hark's: `clear` as a boolean (ntfy's true/yes/1,
 * false/no/0), the method upper-cased, no empty headers or extras, and no
 * `id` (ntfy's server gives each button its own, as hark's subscribers do).
 */
function normalise(action: Record<string, unknown>, headers?: Record<string, string>): Record<string, unknown> {
  const { id: _id, ...out } = action;
  if (typeof out.action === "string") out.action = out.action.toLowerCase();
  if (typeof out.clear === "string") {
    const clear = out.clear.toLowerCase();
    if (!["true", "yes", "1", "false", "no", "0"].includes(clear)) {
      throw new EventError("clear must be true or false (or yes/no, 1/0)");
    }
    out.clear = ["true", "yes", "1"].includes(clear);
  }
  // What a JSON encoder writes for a field it does not use.
  for (const key of ["url", "method", "body", "intent"]) if (out[key] === "") delete out[key];
  if (typeof out.extras === "object" && out.extras !== null && Object.keys(out.extras).length === 0) {
    delete out.extras;
  }
  if (typeof out.method === "string") out.method = out.method.toUpperCase();
  if (headers && Object.keys(headers).length > 0) out.headers = headers;
  return out;
}

/** Splits on `separator` outside single or double quotes. */
function split(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quote: string | undefined;
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = undefined;
      current += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      current += char;
    } else if (char === separator) {
      parts.push(current);
      current = "";
    } else {
      current += char;
    }
  }
  if (quote) throw new EventError(`unbalanced ${quote} in the actions`);
  parts.push(current);
  return parts;
}

function unquote(value: string): string {
  const first = value[0];
  if ((first === "'" || first === '"') && value.length >= 2 && value.at(-1) === first) return value.slice(1, -1);
  return value;
}
