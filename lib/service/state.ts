/** `serviceState()`: whether the service is installed, enabled and running, what it runs, and its last log lines. */

import type { ServiceHost } from "./host.ts";
import { realHost } from "./host.ts";
import type { ServiceState } from "./manager.ts";
import { scopeOf, type ServiceOptions } from "./install.ts";
import { serviceManager, UnsupportedServiceError } from "./platform.ts";

/**
 * The service as this platform's manager sees it. Reading needs no root,
 * also for a machine-wide service. Throws only where there can be no
 * service at all (an unsupported platform or scope).
 */
export async function serviceState(
  options: Pick<ServiceOptions, "system"> = {},
  host: ServiceHost = realHost(),
): Promise<ServiceState> {
  return await serviceManager(host, scopeOf(options)).state();
}

/** What to run to start an installed service that is not running. */
export function startHint(options: Pick<ServiceOptions, "system"> = {}, host: ServiceHost = realHost()): string {
  return serviceManager(host, scopeOf(options)).startHint();
}

/** Why this machine can have no service (a platform or a Linux without systemd), or undefined when it can. */
export function serviceUnsupported(host: ServiceHost = realHost()): string | undefined {
  try {
    serviceManager(host, "user");
    return undefined;
  } catch (error) {
    if (error instanceof UnsupportedServiceError) return error.message;
    throw error;
  }
}
