/** The http source's config keys (http.ts). */

import type { KindSchema } from "../config/schema.ts";
import { compileTopicPattern, FilterError } from "../filter.ts";
import type { SourceConfig } from "./config_registry.ts";

export interface HttpOptions {
  /** http: where to listen. */
  listen?: string;
  /** http: the bearer token clients must send (required off loopback). */
  token?: string;
  /** http: how often subscribers get a keepalive (ms). @default 45 s */
  keepalive?: number;
  /** http: which topics subscribers may make the agent follow: globs, or false for none. @default any */
  follow?: false | string[];
  /** http: the most topics the agent follows on the fly. @default 1000 */
  follow_max?: number;
}

export const httpSchema: KindSchema<SourceConfig> = {
  fields: { listen: "string", token: "string", keepalive: "duration", follow: readFollow, follow_max: "count" },
};

/** `follow = false`, `true` (the default: any topic) or a list of topics and globs. */
function readFollow(raw: unknown, fail: (problem: string) => never): unknown {
  if (raw === true) return undefined;
  if (raw === false) return false;
  if (!Array.isArray(raw) || raw.some((item) => typeof item !== "string")) {
    fail(`must be false, true or a list of topics and globs such as ["phone-*"]`);
  }
  for (const pattern of raw as string[]) {
    try {
      compileTopicPattern(pattern);
    } catch (error) {
      if (error instanceof FilterError) fail(`is invalid: ${error.reason}`);
      throw error;
    }
  }
  return raw;
}
