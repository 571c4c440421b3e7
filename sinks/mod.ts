/**
 * A sink is where events end up: a terminal, a file, a desktop popup, a
 * script or a webhook. The router gives each sink its own queue, so a sink
 * may take its time; it must honour `signal` when the agent stops.
 */

import { join } from "node:path";
import type { EventDraft, HarkEvent } from "../lib/event.ts";
import { PLUGIN_FILE, type SinkConfig } from "../lib/config.ts";
import { StdoutSink } from "./stdout.ts";
import { FileSink } from "./file.ts";
import { ExecSink } from "./exec.ts";
import { WebhookSink } from "./webhook.ts";
import { DesktopSink } from "./desktop/mod.ts";
import { PluginSink } from "./plugin/mod.ts";

export interface Sink {
  /** Shown in logs and `hark status`, e.g. `file:/var/log/hark.jsonl`. */
  readonly name: string;
  deliver(event: HarkEvent, options: { signal: AbortSignal }): Promise<void>;
  /** Releases what the sink holds (file handles). Idempotent. */
  close(): Promise<void>;
  /** Sink-specific state for `hark status` (running scripts, circuit, backend). */
  stats?(): Record<string, unknown>;
  /** Called when the router starts the sink, for sinks with work of their own (a plugin's watch). Idempotent. */
  start?(): void;
}

/** What the agent lends sinks that act on its behalf. */
export interface SinkContext {
  /** Publishes as this agent, under `hark send`'s rules. */
  publish(draft: EventDraft): Promise<HarkEvent>;
}

/**
 * Makes the sinks a config entry describes: one, or for a plugin directory
 * one per file in it (sorted, so that each keeps its cursor across restarts).
 */
export function createSinks(config: SinkConfig, context: SinkContext): Sink[] {
  if (config.type !== "plugin" || config.plugins === undefined) return [createSink(config, context)];
  return [...Deno.readDirSync(config.plugins)]
    .filter((entry) => entry.isFile && PLUGIN_FILE.test(entry.name))
    .map((entry) => join(config.plugins!, entry.name))
    .sort()
    .map((path) => pluginSink(config, path, context));
}

function pluginSink(config: SinkConfig, path: string, context: SinkContext): PluginSink {
  return new PluginSink({
    path,
    timeoutMs: config.timeout,
    publish: context.publish,
    grants: {
      net: config.allow_net,
      read: config.allow_read,
      write: config.allow_write,
      run: config.allow_run,
      env: config.allow_env,
    },
  });
}

/** Makes the sink a config entry describes; a plugin sink names one file (`path`). */
export function createSink(config: SinkConfig, context: SinkContext): Sink {
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
    case "plugin":
      return pluginSink(config, config.path!, context);
  }
}
