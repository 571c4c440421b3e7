/**
 * Running the agent as a login service: a systemd unit on Linux, a launchd
 * LaunchAgent on macOS, a Task Scheduler task on Windows.
 *
 * ```ts
 * const state = await serviceState();
 * if (state.installed && !state.running) console.log(`start it: ${startHint()}`);
 * ```
 */

export { type InstallOptions, type InstallResult, installService, type ServiceOptions } from "./install.ts";
export { type UninstallResult, uninstallService } from "./uninstall.ts";
export { serviceState, serviceUnsupported, startHint } from "./state.ts";
export type { LogTail, ManagerKind, Scope, ServiceReport, ServiceState } from "./manager.ts";
export { realHost, type ServiceHost, ToolMissingError, type ToolResult, type ToolRunner } from "./host.ts";
export { UnsupportedServiceError } from "./platform.ts";
