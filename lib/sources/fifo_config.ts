/** The fifo source's config keys (fifo.ts). */

import type { KindSchema } from "../config/schema.ts";
import type { SourceConfig } from "./config_registry.ts";

export interface FifoOptions {
  /** fifo: the named pipe; watch: the log file. */
  path?: string;
  /** fifo: permissions of the pipe (who may write). */
  mode?: number;
  owner?: string;
  group?: string;
}

export const fifoSchema: KindSchema<SourceConfig> = {
  fields: { path: "string", mode: "mode", owner: "string", group: "string" },
  required: [["path", `path = "/tmp/alert"`]],
};
