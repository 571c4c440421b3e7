/**
 * Every source kind's config schema, and the keys all sources share. The
 * config reader (lib/config/config.ts) walks this list; a new kind adds its schema
 * module and one line here. Only schemas are imported: never a source itself.
 */

import type { FieldSpec } from "../config/fields.ts";
import type { KindSchema } from "../config/schema.ts";
import { type FifoOptions, fifoSchema } from "./fifo_config.ts";
import { type HttpOptions, httpSchema } from "./http_config.ts";
import { type WatchOptions, watchSchema } from "./watch_config.ts";

export const SOURCE_SCHEMAS = {
  fifo: fifoSchema,
  http: httpSchema,
  watch: watchSchema,
} satisfies Record<string, KindSchema<SourceConfig>>;

export type SourceType = keyof typeof SOURCE_SCHEMAS;
export const SOURCE_TYPES = Object.keys(SOURCE_SCHEMAS) as SourceType[];

export interface CommonSourceConfig {
  type: SourceType;
  /** The topic of events that do not name one. @default "default" */
  topic?: string;
}

export const SOURCE_COMMON_FIELDS: Record<string, FieldSpec> = { type: "string", topic: "topic" };

/** A source's config, one flat shape for every kind: each reads the keys it knows. */
export type SourceConfig = CommonSourceConfig & FifoOptions & HttpOptions & WatchOptions;
