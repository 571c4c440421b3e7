/** Builds the agent's config from its layers: defaults → file → env → flags. */

import {
  type ConfigLayer,
  envLayer,
  type HarkConfig,
  mergeConfig,
  parseConfig,
  resolveConfig,
} from "../config/config.ts";
import { ConfigError } from "../errors.ts";
import { defaultPaths } from "../config/paths.ts";
import { reason } from "../store/state_dir.ts";

export interface LoadConfigOptions {
  /** `--config` or `HARK_CONFIG`; when given, the file must exist. */
  path?: string;
  stateDir: string;
  flags: ConfigLayer;
  env?: Record<string, string | undefined>;
}

export async function loadConfig(options: LoadConfigOptions): Promise<HarkConfig> {
  const path = options.path ?? defaultPaths().config;
  let fileLayer: ConfigLayer = {};
  try {
    fileLayer = parseConfig(await Deno.readTextFile(path), path);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    // A missing default config just means "all defaults"; a missing explicit one is a mistake.
    const missingDefault = error instanceof Deno.errors.NotFound && options.path === undefined;
    if (!missingDefault) {
      throw new ConfigError(`Cannot read config "${path}": ${reason(error)}`, { cause: error });
    }
  }
  const env = envLayer(options.env ?? Deno.env.toObject());
  const layers = mergeConfig(mergeConfig(fileLayer, env), options.flags);
  return resolveConfig(layers, { host: Deno.hostname(), stateDir: options.stateDir });
}
