/** `uninstallService()`: stops and removes the service, whatever part of it exists; the agent's data stays. */

import type { ServiceHost } from "./host.ts";
import { realHost } from "./host.ts";
import type { ServiceReport } from "./manager.ts";
import { requireRoot } from "./account.ts";
import { scopeOf, type ServiceOptions } from "./install.ts";
import { serviceManager } from "./platform.ts";

export interface UninstallResult extends ServiceReport {
  /** The definition that was (or would have been) removed. */
  path: string;
}

export async function uninstallService(
  options: ServiceOptions = {},
  host: ServiceHost = realHost(),
): Promise<UninstallResult> {
  const scope = scopeOf(options);
  const manager = serviceManager(host, scope);
  if (scope === "system") requireRoot(host, "uninstall");
  return { ...(await manager.uninstall()), path: manager.path };
}
