/** Makes sinks from their config: the one place that knows every kind (./sink.ts says what a sink is). */

import { join } from "node:path";
import { PLUGIN_FILE, type SinkConfig } from "../lib/config/config.ts";
import { StdoutSink } from "./stdout.ts";
import { FileSink } from "./file.ts";
import { ExecSink } from "./exec.ts";
import { WebhookSink } from "./webhook.ts";
import { DesktopSink } from "./desktop/mod.ts";
import { PluginSink } from "./plugin/mod.ts";
import type { Sink, SinkContext } from "./sink.ts";

export type { Sink, SinkContext };

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
        acknowledge: (topic, sequence) => context.publish({ topic, kind: "clear", sequence }),
        popups: context.popups,
        repeat: config.repeat,
        coalesceMs: config.coalesce,
        memory: context.memory,
        isOpen: context.isOpen,
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
