/**
 * `installService()`: resolves what the service will run (absolute state
 * dir, config, log file, the sandbox's extra paths) and hands that to the
 * platform's service manager.
 */

import type { ServiceHost } from "./host.ts";
import { realHost } from "./host.ts";
import type { Account, Scope, ServiceReport } from "./manager.ts";
import { requireRoot, serviceAccount } from "./account.ts";
import { serviceManager } from "./platform.ts";
import { agentCommand, harkProgram } from "./program.ts";
import { NO_EXTRA_PATHS, type SandboxPaths, sandboxPaths } from "./sandbox.ts";
import { absolutePath, joinPath } from "./platform_path.ts";
import { exists } from "./files.ts";
import { defaultPaths } from "../config/paths.ts";
import { parseConfig, resolveConfig } from "../config/config.ts";
import { ConfigError, HarkError, UsageError } from "../errors.ts";
import { reason } from "../store/state_dir.ts";
import { hasAsciiControl } from "../util/controls.ts";

export interface ServiceOptions {
  /** A machine-wide service (Linux only) instead of one that runs at the user's login. @default false */
  system?: boolean;
  /** With `system`: the account it runs as. @default the sudo caller, else the caller */
  user?: string;
}

export interface InstallOptions extends ServiceOptions {
  /** The agent's state dir. @default the platform's default for the account the service runs as */
  stateDir?: string;
  /** A config file, which must exist. @default the default config file, when there is one */
  config?: string;
  /** The agent's `--log-level`. @default "info" */
  logLevel?: string;
}

export interface InstallResult extends ServiceReport {
  /** The definition the install wrote. */
  path: string;
  /** The command line the service runs. */
  command: string[];
}

export function scopeOf(options: ServiceOptions): Scope {
  if (options.user !== undefined && !options.system) {
    throw new UsageError("--user NAME only applies to a machine-wide service: add --system");
  }
  return options.system ? "system" : "user";
}

/** Writes the service definition for this hark and (re)starts it. Running it again updates both. */
export async function installService(
  options: InstallOptions = {},
  host: ServiceHost = realHost(),
): Promise<InstallResult> {
  const scope = scopeOf(options);
  const manager = serviceManager(host, scope);
  let account: Account | undefined;
  if (scope === "system") {
    requireRoot(host, "install");
    account = await serviceAccount(host, options.user);
  }
  const defaults = account
    ? defaultPaths(host.os as typeof Deno.build.os, (name) => name === "HOME" ? account.home : undefined)
    : defaultPaths(host.os as typeof Deno.build.os, (name) => host.env(name));
  const stateDir = absolutePath(host.os, host.cwd, options.stateDir ?? defaults.stateDir);
  const config = await configToPass(host, options.config, defaults.config);
  const logFile = joinPath(host.os, stateDir, "hark.log");
  const argv = agentCommand(harkProgram(host), { stateDir, config, logFile, logLevel: options.logLevel });
  const unwritable = argv.find(hasAsciiControl);
  if (unwritable !== undefined) {
    throw new HarkError(
      `${JSON.stringify(unwritable)} contains a control character, which no service definition can hold; ` +
        "use a path without one",
    );
  }
  const sandbox = config === undefined ? NO_EXTRA_PATHS : await sandboxFor(config, stateDir);
  const report = await manager.install({ argv, stateDir, logFile, sandbox, account });
  return { ...report, path: manager.path, command: argv };
}

/**
 * The config the service names with `--config`: the one given (which must
 * exist, as `hark run` requires), else the default one if it exists now.
 * Naming the default keeps it found when the service's environment lacks
 * the caller's XDG_CONFIG_HOME; without one the agent runs on defaults.
 */
async function configToPass(host: ServiceHost, given: string | undefined, fallback: string) {
  if (given !== undefined) {
    const path = absolutePath(host.os, host.cwd, given);
    if (!(await exists(path))) {
      throw new ConfigError(`config file "${path}" does not exist; the service would not start with it`);
    }
    return path;
  }
  const path = absolutePath(host.os, host.cwd, fallback);
  return (await exists(path)) ? path : undefined;
}

/** Reads the config as the agent will, to learn which paths it writes; a broken config stops the install. */
async function sandboxFor(config: string, stateDir: string): Promise<SandboxPaths> {
  let text: string;
  try {
    text = await Deno.readTextFile(config);
  } catch (error) {
    throw new ConfigError(`Cannot read config "${config}": ${reason(error)}`, { cause: error });
  }
  try {
    return sandboxPaths(resolveConfig(parseConfig(text, config), { host: "service", stateDir }), stateDir);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(`${error.message}. The agent would not start with it: fix it, then run this again.`, {
      cause: error,
    });
  }
}
