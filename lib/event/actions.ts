/**
 * Action buttons on an event, as ntfy has them: `view` opens a URL, `http`
 * makes an HTTP request, when the person clicks the button on the desktop
 * notification; `broadcast` sends an Android intent on a phone running
 * ntfy's app, so it only passes through to ntfy subscribers (desktops have no
 * intents and leave it out). Only http(s) URLs (and mailto for view), bounded
 * sizes, and header names and values that cannot smuggle a second header.
 */

import { EventError } from "../errors.ts";
import { hasAsciiControl } from "../util/controls.ts";

export interface ViewAction {
  action: "view";
  label: string;
  url: string;
  /** Close the notification after the click. */
  clear?: boolean;
}

export interface HttpAction {
  action: "http";
  label: string;
  url: string;
  /** @default "POST", as in ntfy */
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  clear?: boolean;
}

/** ntfy's Android broadcast: the app sends `intent` with `extras` when the button is tapped. */
export interface BroadcastAction {
  action: "broadcast";
  label: string;
  /** @default "io.heckel.ntfy.USER_ACTION", in ntfy's app */
  intent?: string;
  extras?: Record<string, string>;
  clear?: boolean;
}

export type EventAction = ViewAction | HttpAction | BroadcastAction;
/** The buttons a desktop can show: a broadcast is an Android intent. */
export type DesktopAction = ViewAction | HttpAction;

/** The actions a desktop popup can offer, in their order. */
export function desktopActions(actions: readonly EventAction[] = []): DesktopAction[] {
  return actions.filter((action): action is DesktopAction => action.action !== "broadcast");
}

/** ntfy allows three buttons; so do notification servers in practice. */
export const ACTIONS_MAX = 3;
export const ACTION_LABEL_MAX_CHARS = 64;
export const ACTION_URL_MAX_CHARS = 2048;
export const ACTION_BODY_MAX_CHARS = 4096;
export const ACTION_HEADERS_MAX = 8;
const HEADER_VALUE_MAX_CHARS = 512;
export const ACTION_EXTRAS_MAX = 8;
/** An Android action name: Java identifiers joined by dots (`io.heckel.ntfy.USER_ACTION`). */
const INTENT = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const INTENT_MAX_CHARS = 256;
const EXTRA_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);
const VIEW_SCHEMES = new Set(["http:", "https:", "mailto:"]);
const HTTP_SCHEMES = new Set(["http:", "https:"]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
const ACTION_KEYS: Record<EventAction["action"], Set<string>> = {
  view: new Set(["action", "label", "url", "clear"]),
  http: new Set(["action", "label", "url", "method", "headers", "body", "clear"]),
  broadcast: new Set(["action", "label", "intent", "extras", "clear"]),
};

/** Checks a list of actions of unknown shape; throws EventError naming the first wrong field. */
export function checkActions(value: unknown): EventAction[] {
  if (!Array.isArray(value)) throw new EventError("actions must be a list");
  if (value.length > ACTIONS_MAX) throw new EventError(`${value.length} actions; the limit is ${ACTIONS_MAX}`);
  return value.map((item, index) => checkAction(item, `actions[${index}]`));
}

function checkAction(value: unknown, where: string): EventAction {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EventError(`${where} must be an object`);
  }
  const action = value as Record<string, unknown>;
  if (action.action !== "view" && action.action !== "http" && action.action !== "broadcast") {
    throw new EventError(
      `${where}.action ${
        JSON.stringify(action.action)
      } is not supported: use "view" (open a URL), "http" (make a request) or "broadcast" (an Android intent)`,
    );
  }
  for (const key of Object.keys(action)) {
    if (!ACTION_KEYS[action.action].has(key)) throw new EventError(`unknown field "${where}.${key}"`);
  }
  if (typeof action.label !== "string" || action.label.length === 0 || action.label.length > ACTION_LABEL_MAX_CHARS) {
    throw new EventError(`${where}.label must be 1-${ACTION_LABEL_MAX_CHARS} characters`);
  }
  if (action.clear !== undefined && typeof action.clear !== "boolean") {
    throw new EventError(`${where}.clear must be true or false`);
  }
  if (action.action === "broadcast") {
    checkBroadcast(action, where);
    return action as unknown as EventAction;
  }
  const schemes = action.action === "view" ? VIEW_SCHEMES : HTTP_SCHEMES;
  const url = typeof action.url === "string" && action.url.length <= ACTION_URL_MAX_CHARS
    ? URL.parse(action.url)
    : null;
  if (!url || !schemes.has(url.protocol)) {
    throw new EventError(
      `${where}.url must be an absolute ${action.action === "view" ? "http, https or mailto" : "http or https"} URL`,
    );
  }
  if (action.action === "http") {
    if (action.method !== undefined && (typeof action.method !== "string" || !METHODS.has(action.method))) {
      throw new EventError(`${where}.method must be one of ${[...METHODS].join(", ")}`);
    }
    if (action.headers !== undefined) checkHeaders(action.headers, `${where}.headers`);
    if (action.body !== undefined && (typeof action.body !== "string" || action.body.length > ACTION_BODY_MAX_CHARS)) {
      throw new EventError(`${where}.body must be a string of at most ${ACTION_BODY_MAX_CHARS} characters`);
    }
  }
  return action as unknown as EventAction;
}

/**
 * A broadcast's intent is a name and its extras are strings: the phone's app
 * hands them to other apps, so they are bounded and carry no control characters.
 */
function checkBroadcast(action: Record<string, unknown>, where: string): void {
  if (
    action.intent !== undefined &&
    (typeof action.intent !== "string" || action.intent.length > INTENT_MAX_CHARS || !INTENT.test(action.intent))
  ) {
    throw new EventError(
      `${where}.intent must be an Android action name of at most ${INTENT_MAX_CHARS} characters, such as io.heckel.ntfy.USER_ACTION`,
    );
  }
  if (action.extras === undefined) return;
  if (typeof action.extras !== "object" || action.extras === null || Array.isArray(action.extras)) {
    throw new EventError(`${where}.extras must be an object of names to strings`);
  }
  const entries = Object.entries(action.extras);
  if (entries.length > ACTION_EXTRAS_MAX) throw new EventError(`${where}.extras: at most ${ACTION_EXTRAS_MAX} extras`);
  for (const [name, text] of entries) {
    if (!EXTRA_NAME.test(name)) throw new EventError(`${where}.extras: invalid name ${JSON.stringify(name)}`);
    if (typeof text !== "string" || text.length > HEADER_VALUE_MAX_CHARS || hasAsciiControl(text)) {
      throw new EventError(
        `${where}.extras.${name} must be a string of at most ${HEADER_VALUE_MAX_CHARS} characters without control characters`,
      );
    }
  }
}

function checkHeaders(value: unknown, where: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EventError(`${where} must be an object of header names to values`);
  }
  const entries = Object.entries(value);
  if (entries.length > ACTION_HEADERS_MAX) throw new EventError(`${where}: at most ${ACTION_HEADERS_MAX} headers`);
  for (const [name, text] of entries) {
    if (!HEADER_NAME.test(name)) throw new EventError(`${where}: invalid header name ${JSON.stringify(name)}`);
    // No CR, LF or other control characters: one header stays one header.
    if (typeof text !== "string" || text.length > HEADER_VALUE_MAX_CHARS || hasAsciiControl(text)) {
      throw new EventError(
        `${where}.${name} must be at most ${HEADER_VALUE_MAX_CHARS} characters without control characters`,
      );
    }
  }
}
