/** Whether the config file (and HARK_* overrides) parse into a config `hark run` accepts. */

import type { Finding } from "./finding.ts";
import type { HarkConfig } from "../config/config.ts";
import { loadConfig } from "../cli/load_config.ts";

export async function checkConfig(
  path: string | undefined,
  stateDir: string,
): Promise<{ finding: Finding; config?: HarkConfig }> {
  try {
    const config = await loadConfig({ path, stateDir, flags: {} });
    const sinks = config.sinks.map((sink) => sink.type).join(", ") || "none";
    return { config, finding: { check: "config", verdict: "ok", detail: `reads cleanly; sinks: ${sinks}` } };
  } catch (error) {
    return {
      finding: {
        check: "config",
        verdict: "fail",
        detail: (error as Error).message,
        fix: "correct the key the message names; `hark run` refuses to start until then",
      },
    };
  }
}
