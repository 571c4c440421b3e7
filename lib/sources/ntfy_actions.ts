/**
 * ntfy's action buttons as publishers send them: the `Actions` header (or
 * `actions=` parameter) in its short or long form, and the JSON `actions`
 * list. Both become hark's `EventAction`s, checked by the event model.
 *
 *   Actions: view, Open portal, https://home.example/, clear=true;
 *            http, Turn down, https://api.example/, method=PUT, headers.Authorization=Bearer x, body='{"t": 65}'
 */

import { checkActions, type EventAction } from "../event/actions.ts";
import { EventError } from "../errors.ts";

/** The fields ntfy names positionally, in order, before any `key=value`. */
const POSITIONAL = ["action", "label", "url"] as const;
const KEY_VALUE = /^([A-Za-z][\w.-]*)\s*=\s*(.*)$/s;

/** Parses the header's short or long form; throws EventError naming what is wrong. */
export function parseActionsHeader(text: string): EventAction[] {
  const actions = split(text, ";").filter((part) => part.trim() !== "").map((part, index) => {
    const action: Record<string, unknown> = {};
    const headers: Record<string, string> = {};
    let position = 0;
    for (const raw of split(part, ",")) {
      const field = raw.trim();
      if (field === "") continue;
      const match = KEY_VALUE.exec(field);
      if (match) {
        const [, key, value] = match;
        const name = key.toLowerCase();
        if (name.startsWith("headers.")) headers[key.slice("headers.".length)] = unquote(value.trim());
        else action[name] = unquote(value.trim());
        continue;
      }
      if (position >= POSITIONAL.length) {
        throw new EventError(`action ${index + 1}: unexpected ${JSON.stringify(field)}; name it, as in body=…`);
      }
      action[POSITIONAL[position++]] = unquote(field);
    }
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

/** ntfy's spellings to hark's: `clear` as a boolean, the method upper-cased, no empty headers. */
function normalise(action: Record<string, unknown>, headers?: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...action };
  if (typeof out.action === "string") out.action = out.action.toLowerCase();
  if (typeof out.clear === "string") {
    if (!["true", "false"].includes(out.clear.toLowerCase())) throw new EventError("clear must be true or false");
    out.clear = out.clear.toLowerCase() === "true";
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
