/** The stdout sink's config keys (sinks/stdout.ts). */

import type { SinkKindSchema } from "../lib/config/schema.ts";
import type { SinkConfig } from "./config_registry.ts";

export const SUMMARIZE_AFTER_DEFAULT = 5;

export interface StdoutOptions {
  /** stdout, desktop: more stale events than this become one summary. */
  summarize_after: number;
}

export const stdoutSchema: SinkKindSchema<SinkConfig> = {
  fields: { summarize_after: "count" },
  defaults: { summarize_after: SUMMARIZE_AFTER_DEFAULT },
};
