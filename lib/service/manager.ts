/** What every platform's service manager (systemd, launchd, Task Scheduler) offers hark, and what it reports. */

import type { SandboxPaths } from "./sandbox.ts";

/** `user`: runs at the user's login, in their session. `system`: machine-wide, from boot. */
export type Scope = "user" | "system";

export type ManagerKind = "systemd" | "launchd" | "task-scheduler";

/** The account a machine-wide service runs as. */
export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Everything a service definition needs, already resolved to absolute paths. */
export interface ServicePlan {
  /** The agent's full command line. */
  argv: string[];
  stateDir: string;
  logFile: string;
  sandbox: SandboxPaths;
  /** Set for a machine-wide service. */
  account?: Account;
}

/** What install or uninstall did, as sentences for the user. */
export interface ServiceReport {
  /** Steps taken, in order. */
  done: string[];
  /** Things that work now but may surprise later, each with its fix. */
  warnings: string[];
  /** Commands for checking on the service. */
  next: string[];
}

/** A log the service writes, with its last lines (oldest first). */
export interface LogTail {
  /** A file path, or the command that printed the lines (`journalctl --user -u hark.service`). */
  source: string;
  lines: string[];
}

/**
 * The service as the platform sees it; `hark service status --json` prints
 * this object. `null` means unknown (the manager could not be asked) or not
 * applicable.
 */
export interface ServiceState {
  manager: ManagerKind;
  scope: Scope;
  /** `hark.service`, `org.hark.agent` or `hark`. */
  name: string;
  /** The definition file, or the task's path in Task Scheduler (`\hark`). */
  path: string;
  /** The definition exists. */
  installed: boolean;
  /** It starts by itself: at login (user) or boot (system). */
  enabled: boolean | null;
  /** The agent's process is up now. */
  running: boolean | null;
  /** The manager's own word for the state: `active (running)`, `failed (failed)`, `running`, `Ready`… */
  status: string | null;
  /** The agent's argv, read back from the definition. */
  command: string[] | null;
  /** Its state dir and log file, taken from that command. */
  stateDir: string | null;
  logFile: string | null;
  logs: LogTail[];
  /** Why a field is null, or what else looks wrong. */
  notes: string[];
}

export interface ServiceManager {
  readonly kind: ManagerKind;
  readonly scope: Scope;
  readonly name: string;
  readonly path: string;
  /** Writes the definition and (re)starts the service; running it again updates both. */
  install(plan: ServicePlan): Promise<ServiceReport>;
  /** Stops and removes what install created, also when only part of it is there. Never touches the state dir. */
  uninstall(): Promise<ServiceReport>;
  state(): Promise<ServiceState>;
  /** What to run so the service starts now. */
  startHint(): string;
}

export function emptyReport(): ServiceReport {
  return { done: [], warnings: [], next: [] };
}
