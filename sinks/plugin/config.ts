/** The plugin sink's config keys (sinks/plugin/mod.ts). */

import { dirname, resolve } from "node:path";
import type { EntryContext, SinkKindSchema } from "../../lib/config/schema.ts";
import type { SinkConfig } from "../config_registry.ts";

export const PLUGIN_TIMEOUT_DEFAULT_MS = 30_000;

export interface PluginOptions {
  /** plugin: a directory; each .ts or .js file in it is a plugin (`path` names one file). */
  plugins?: string;
  /** plugin: what its Worker may do; nothing by default (sinks/plugin/permissions.ts). */
  allow_net?: string[];
  allow_read?: string[];
  allow_write?: string[];
  allow_run?: string[];
  allow_env?: string[];
}

export const pluginSchema: SinkKindSchema<SinkConfig> = {
  fields: {
    path: "string",
    plugins: "string",
    timeout: "duration",
    allow_net: "strings",
    allow_read: "strings",
    allow_write: "strings",
    allow_run: "strings",
    allow_env: "strings",
  },
  defaults: { timeout: PLUGIN_TIMEOUT_DEFAULT_MS },
  afterRead: readPluginPaths,
  ownKeys: ["plugins", "allow_net", "allow_read", "allow_write", "allow_run", "allow_env"],
};

/**
 * A plugin sink names one file (`path`) or a directory of them (`plugins`).
 * Its paths are relative to the config file, and checked now, so that a
 * typo stops the agent at start rather than leaving a plugin that never runs.
 */
function readPluginPaths(sink: Partial<SinkConfig>, { path, fail, source }: EntryContext): void {
  const base = dirname(source);
  if ((sink.path === undefined) === (sink.plugins === undefined)) {
    fail(
      [...path, "type"],
      `a plugin sink needs either path (one file, e.g. path = "notify.ts") or plugins (a directory, e.g. plugins = "plugins")`,
    );
  }
  const key = sink.path !== undefined ? "path" : "plugins";
  const target = resolve(base, (sink.path ?? sink.plugins)!);
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.statSync(target);
  } catch {
    fail([...path, key], `"sink.${key}" names ${target}, which does not exist`);
  }
  if (key === "path" && !info!.isFile) fail([...path, key], `"sink.path" names ${target}, which is not a file`);
  if (key === "plugins" && !info!.isDirectory) {
    fail([...path, key], `"sink.plugins" names ${target}, which is not a directory`);
  }
  if (key === "path" && !PLUGIN_FILE.test(target)) {
    fail([...path, key], `"sink.path" names ${target}; a plugin is a .ts, .js or .mjs file`);
  }
  sink[key] = target;
  for (const grant of ["allow_read", "allow_write"] as const) {
    if (sink[grant]) sink[grant] = sink[grant]!.map((granted) => resolve(base, granted));
  }
}

/** The files a plugin sink's `path` or `plugins` directory may name. */
export const PLUGIN_FILE = /\.(ts|js|mjs)$/;
