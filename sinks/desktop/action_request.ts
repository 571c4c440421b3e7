/**
 * The `http` action button: the request a click makes, as ntfy's apps make
 * it (POST unless the publisher said otherwise). Bounded by a deadline, no
 * redirects followed (a click must not be bounced somewhere else), and the
 * response body is read only to release the connection.
 */

import type { HttpAction } from "../../lib/event/actions.ts";

const REQUEST_TIMEOUT_MS = 15_000;

/** Makes the request; resolves with the status line for the log, rejects with why it failed. */
export async function runHttpAction(action: HttpAction, signal?: AbortSignal): Promise<string> {
  const method = action.method ?? "POST";
  const deadline = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const response = await fetch(action.url, {
    method,
    headers: action.headers,
    body: method === "GET" ? undefined : action.body ?? "",
    redirect: "manual",
    signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
  });
  await response.body?.cancel();
  return `${method} ${action.url}: ${response.status} ${response.statusText}`.trim();
}
