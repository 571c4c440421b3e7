/** Picks the service manager for a platform and scope, and refuses, with an alternative, where there is none. */

import type { ServiceHost } from "./host.ts";
import type { Scope, ServiceManager } from "./manager.ts";
import { systemdManager } from "./systemd.ts";
import { launchdManager } from "./launchd.ts";
import { windowsTaskManager } from "./windows_task.ts";
import { HarkError } from "../errors.ts";
import { detectLinuxInit, noSystemdAdvice } from "./init_system.ts";

/** A platform or scope hark cannot install a service for. */
export class UnsupportedServiceError extends HarkError {
  override name = "UnsupportedServiceError";
}

export function serviceManager(host: ServiceHost, scope: Scope): ServiceManager {
  switch (host.os) {
    case "linux": {
      const init = host.systemRoot === undefined
        ? "systemd"
        : detectLinuxInit({ root: host.systemRoot, env: host.env });
      if (init !== "systemd") throw new UnsupportedServiceError(noSystemdAdvice(init));
      return systemdManager(host, scope);
    }
    case "darwin":
      if (scope === "system") {
        throw new UnsupportedServiceError(
          "--system (a LaunchDaemon) is not supported on macOS: a daemon runs outside any login session, where " +
            "notifications cannot show. Install per user instead (`hark service install`, without --system): " +
            "the LaunchAgent starts at each login of that user.",
        );
      }
      return launchdManager(host);
    case "windows":
      if (scope === "system") {
        throw new UnsupportedServiceError(
          "--system is not supported on Windows: a machine-wide task or service runs outside the users' logon " +
            "sessions, where notifications cannot show. Run `hark service install` (without --system) as each " +
            "user who should get them; for a headless agent, wrap `hark run --log-file FILE` with a service " +
            "wrapper such as WinSW or NSSM.",
        );
      }
      return windowsTaskManager(host);
    default:
      throw new UnsupportedServiceError(
        `hark service supports Linux (systemd), macOS (launchd) and Windows (Task Scheduler), not ${host.os}. ` +
          "Start `hark run --log-file FILE` from this system's init system or login scripts instead.",
      );
  }
}
