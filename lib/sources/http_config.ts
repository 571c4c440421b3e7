/** The http source's config keys (http.ts). */

import type { KindSchema } from "../config/schema.ts";
import type { SourceConfig } from "./config_registry.ts";

export interface HttpOptions {
  /** http: where to listen. */
  listen?: string;
  /** http: the bearer token clients must send (required off loopback). */
  token?: string;
  /** http: how often subscribers get a keepalive (ms). @default 45 s */
  keepalive?: number;
}

export const httpSchema: KindSchema<SourceConfig> = {
  fields: { listen: "string", token: "string", keepalive: "duration" },
};
