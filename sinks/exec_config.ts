/** The exec sink's config keys (sinks/exec.ts). */

import type { SinkKindSchema } from "../lib/config/schema.ts";
import type { SinkConfig } from "./config_registry.ts";

export const EXEC_TIMEOUT_DEFAULT_MS = 30_000;
export const EXEC_CONCURRENCY_DEFAULT = 4;

export interface ExecOptions {
  /** exec: the program and its arguments (never a shell string). */
  command?: string[];
  /** exec, webhook, plugin: how long one run, request or call may take (ms). */
  timeout: number;
  /** exec: runs at the same time. */
  concurrency: number;
  /** exec: warn about a run slower than this (ms). */
  slow_after?: number;
}

export const execSchema: SinkKindSchema<SinkConfig> = {
  fields: { command: "argv", timeout: "duration", concurrency: "count", slow_after: "duration" },
  required: [["command", `command = ["/path/to/program", "arg"]`]],
  defaults: { timeout: EXEC_TIMEOUT_DEFAULT_MS, concurrency: EXEC_CONCURRENCY_DEFAULT },
};
