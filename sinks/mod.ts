/**
 * A sink is where events end up: a terminal, a file, a desktop popup, a
 * script or a webhook. The router gives each sink its own queue, so a sink
 * may take its time; it must honour `signal` when the agent stops.
 */

import type { HarkEvent } from "../lib/event.ts";
import type { SinkConfig } from "../lib/config.ts";
import { StdoutSink } from "./stdout.ts";
import { FileSink } from "./file.ts";
import { ExecSink } from "./exec.ts";
import { WebhookSink } from "./webhook.ts";
import { DesktopSink } from "./desktop/mod.ts";

export interface Sink {
  /** Shown in logs and `hark status`, e.g. `file:/var/log/hark.jsonl`. */
  readonly name: string;
  deliver(event: HarkEvent, options: { signal: AbortSignal }): Promise<void>;
  /** Releases what the sink holds (file handles). Idempotent. */
  close(): Promise<void>;
  /** Sink-specific state for `hark status` (running scripts, circuit, backend). */
  stats?(): Record<string, unknown>;
}

/** Makes the sink a config entry describes. */
export function createSink(config: SinkConfig): Sink {
  switch (config.type) {
    case "stdout":
      return new StdoutSink({ maxAgeMs: config.max_age, summarizeAfter: config.summarize_after });
    case "file":
      return new FileSink({ path: config.path!, maxBytes: config.max_size, keep: config.keep });
    case "desktop":
      return new DesktopSink({
        maxAgeMs: config.max_age,
        summarizeAfter: config.summarize_after,
        maxPopups: config.max_popups,
        popupWindowMs: config.popup_window,
      });
    case "exec":
      return new ExecSink({
        command: config.command!,
        timeoutMs: config.timeout,
        concurrency: config.concurrency,
        slowMs: config.slow_after,
      });
    case "webhook":
      return new WebhookSink({
        url: config.url!,
        format: config.format,
        headers: config.headers,
        secret: config.secret,
        timeoutMs: config.timeout,
        retries: config.retries,
      });
  }
}
