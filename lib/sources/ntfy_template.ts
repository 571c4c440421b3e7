/**
 * ntfy's message templating (`Template: yes`, `?tpl=1`): the body is JSON,
 * and `{{.field.sub}}` in the title and message are filled from it, so a
 * webhook that can only send its own JSON still makes a readable
 * notification. ntfy runs Go templates; hark fills in field references only
 * and refuses anything else (conditions, functions) with 400, rather than
 * publish template text the sender did not mean anyone to read.
 */

import { HttpFailure } from "./http_failure.ts";

const ACTION = /\{\{-?\s*(.*?)\s*-?\}\}/gs;
const FIELD_PATH = /^\.(?:[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)?$/;

/** The body as template data: a JSON value, else ntfy's 400 for a body that is not JSON. */
export function templateData(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new HttpFailure(400, 40042, "invalid request: message body must be JSON if templating is enabled");
  }
}

/** Fills `{{.a.b}}` from `data`; a missing field reads `<no value>`, as in Go's templates. */
export function fillTemplate(template: string, data: unknown): string {
  return template.replace(ACTION, (_, action: string) => {
    if (!FIELD_PATH.test(action)) {
      throw new HttpFailure(
        400,
        40043,
        `invalid request: could not parse template: hark fills in field references such as {{.error.desc}} only, not ${
          JSON.stringify(`{{${action.slice(0, 40)}}}`)
        }`,
      );
    }
    let value = data;
    for (const name of action.split(".").slice(1)) {
      value = typeof value === "object" && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)[name]
        : undefined;
    }
    if (value === undefined || value === null) return "<no value>";
    return typeof value === "string" ? value : JSON.stringify(value);
  });
}
