/**
 * Makes sinks from their config: the one place that knows every kind (./sink.ts says what a sink is).
 * Kinds beyond stdout and file load when a config uses them: the desktop sink brings a D-Bus client,
 * plugins a Worker host, and an idle agent should not hold code it never runs (docs/scale.md).
 * Each import names its module literally, so `deno compile` still embeds it.
 */

import { join } from "node:path";
import { PLUGIN_FILE, type SinkConfig } from "../lib/config/config.ts";
import { StdoutSink } from "./stdout.ts";
import { FileSink } from "./file.ts";
import type { PluginSink } from "./plugin/mod.ts";
import type { Sink, SinkContext } from "./sink.ts";

export type { Sink, SinkContext };

/**
 * Makes the sinks a config entry describes: one, or for a plugin directory
 * one per file in it (sorted, so that each keeps its cursor across restarts).
 */
export async function createSinks(config: SinkConfig, context: SinkContext): Promise<Sink[]> {
  if (config.type !== "plugin" || config.plugins === undefined) return [await createSink(config, context)];
  const paths = [...Deno.readDirSync(config.plugins)]
    .filter((entry) => entry.isFile && PLUGIN_FILE.test(entry.name))
    .map((entry) => join(config.plugins!, entry.name))
    .sort();
  return await Promise.all(paths.map((path) => pluginSink(config, path, context)));
}

async function pluginSink(config: SinkConfig, path: string, context: SinkContext): Promise<PluginSink> {
  const { PluginSink } = await import("./plugin/mod.ts");
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
export async function createSink(config: SinkConfig, context: SinkContext): Promise<Sink> {
  switch (config.type) {
    case "stdout":
      return new StdoutSink({ maxAgeMs: config.max_age, summarizeAfter: config.summarize_after });
    case "file":
      return new FileSink({ path: config.path!, maxBytes: config.max_size, keep: config.keep });
    case "desktop": {
      const { DesktopSink } = await import("./desktop/mod.ts");
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
    }
    case "exec": {
      const { ExecSink } = await import("./exec.ts");
      return new ExecSink({
        command: config.command!,
        timeoutMs: config.timeout,
        concurrency: config.concurrency,
        slowMs: config.slow_after,
      });
    }
    case "webhook": {
      const { WebhookSink } = await import("./webhook.ts");
      return new WebhookSink({
        url: config.url!,
        format: config.format,
        headers: config.headers,
        secret: config.secret,
        timeoutMs: config.timeout,
        retries: config.retries,
      });
    }
    case "plugin":
      return await pluginSink(config, config.path!, context);
  }
}
