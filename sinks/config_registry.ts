/**
 * Every sink kind's config schema, and the keys all sinks share. The config
 * reader (lib/config/config.ts) walks this list; a new kind adds its schema module
 * and one line here. Only schemas are imported: never a sink itself.
 */

import type { Priority } from "../lib/event/event.ts";
import type { FieldSpec } from "../lib/config/fields.ts";
import type { SinkKindSchema } from "../lib/config/schema.ts";
import { type StdoutOptions, stdoutSchema } from "./stdout_config.ts";
import { type FileOptions, fileSchema } from "./file_config.ts";
import { type DesktopOptions, desktopSchema } from "./desktop/config.ts";
import { type ExecOptions, execSchema } from "./exec_config.ts";
import { type WebhookOptions, webhookSchema } from "./webhook_config.ts";
import { type PluginOptions, pluginSchema } from "./plugin/config.ts";

/** In this order: the first kind that gives a shared key a default gives it to kinds without one. */
export const SINK_SCHEMAS = {
  stdout: stdoutSchema,
  file: fileSchema,
  desktop: desktopSchema,
  exec: execSchema,
  webhook: webhookSchema,
  plugin: pluginSchema,
} satisfies Record<string, SinkKindSchema<SinkConfig>>;

export type SinkType = keyof typeof SINK_SCHEMAS;
export const SINK_TYPES = Object.keys(SINK_SCHEMAS) as SinkType[];

export const SINK_QUEUE_DEFAULT = 1000;
export const MAX_AGE_DEFAULT_MS = 10 * 60_000;

/** What every sink has, whatever its kind. */
export interface CommonSinkConfig {
  type: SinkType;
  /** Only these topics; undefined means every subscribed topic. */
  topics?: string[];
  min_priority: Priority;
  /** Events waiting for this sink before new ones are dropped. */
  queue: number;
  /**
   * Events older than this (ms) are stale. stdout turns many stale events
   * into one summary; on an agent new to the network, history older than
   * this stays in the store and does not reach the sink.
   */
  max_age: number;
  /** A filter expression over the event's fields, checked when the config is read. */
  when?: string;
}

export const SINK_COMMON_FIELDS: Record<string, FieldSpec> = {
  type: "string",
  topics: "patterns",
  min_priority: "priority",
  queue: "count",
  max_age: "duration",
  when: "filter",
};

/** A sink's config, one flat shape for every kind: each reads the keys it knows. */
export type SinkConfig =
  & CommonSinkConfig
  & StdoutOptions
  & FileOptions
  & DesktopOptions
  & ExecOptions
  & WebhookOptions
  & PluginOptions;
