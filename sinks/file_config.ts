/** The file sink's config keys (sinks/file.ts). */

import type { SinkKindSchema } from "../lib/config/schema.ts";
import { inDir } from "../lib/config/paths.ts";
import type { SinkConfig } from "./config_registry.ts";

export const FILE_MAX_SIZE_DEFAULT = 10 * 1024 * 1024;
export const FILE_KEEP_DEFAULT = 5;

export interface FileOptions {
  /** file: where to append JSON lines; plugin: the plugin's file. */
  path?: string;
  /** file: rotate when the file grows past this many bytes. */
  max_size: number;
  /** file: rotated files to keep. */
  keep: number;
}

export const fileSchema: SinkKindSchema<SinkConfig> = {
  fields: { path: "string", max_size: "bytes", keep: "count" },
  defaults: { max_size: FILE_MAX_SIZE_DEFAULT, keep: FILE_KEEP_DEFAULT },
  // The log lives with the rest of the agent's state unless the config says otherwise.
  resolve: (sink, stateDir) => ({ path: sink.path ?? inDir(stateDir, "events.jsonl") }),
};
