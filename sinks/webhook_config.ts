/** The webhook sink's config keys (sinks/webhook.ts). */

import { describe } from "../lib/config/fields.ts";
import type { SinkKindSchema } from "../lib/config/schema.ts";
import type { SinkConfig } from "./config_registry.ts";

export const WEBHOOK_FORMATS = ["json", "slack", "discord", "ntfy"] as const;
export type WebhookFormat = typeof WEBHOOK_FORMATS[number];
export const WEBHOOK_TIMEOUT_DEFAULT_MS = 10_000;
export const WEBHOOK_RETRIES_DEFAULT = 3;

export interface WebhookOptions {
  /** webhook: where to POST. */
  url?: string;
  /** webhook: the body: the event as JSON, or a Slack, Discord or ntfy message. */
  format: WebhookFormat;
  /** webhook: extra request headers. */
  headers?: Record<string, string>;
  /** webhook: signs each body with HMAC-SHA256 (X-Hark-Signature). */
  secret?: string;
  /** webhook: extra attempts per event before the router's own backoff. */
  retries: number;
}

export const webhookSchema: SinkKindSchema<SinkConfig> = {
  fields: {
    url: "url",
    format: (raw, fail) => {
      if (!(WEBHOOK_FORMATS as readonly unknown[]).includes(raw)) {
        fail(`must be one of ${WEBHOOK_FORMATS.join(", ")}, not ${describe(raw)}`);
      }
      return raw;
    },
    headers: "headers",
    secret: "string",
    timeout: "duration",
    retries: "count0",
  },
  required: [["url", `url = "https://example.org/hook"`]],
  // A webhook answers in seconds or not at all; waiting longer only holds up the queue.
  defaults: { format: "json", timeout: WEBHOOK_TIMEOUT_DEFAULT_MS, retries: WEBHOOK_RETRIES_DEFAULT },
};
