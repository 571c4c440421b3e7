/**
 * Linux: a systemd unit, per user (`systemctl --user`, started at login) or
 * machine-wide (`/etc/systemd/system`, started at boot as one account).
 */

import type { ServiceHost, ToolResult } from "./host.ts";
import { ToolMissingError } from "./host.ts";
import type { Scope, ServiceManager, ServicePlan, ServiceReport, ServiceState } from "./manager.ts";
import { emptyReport } from "./manager.ts";
import { prepareServiceStateDir } from "./service_state_dir.ts";
import { execStartOf, systemdUnit, UNIT_NAME } from "./systemd_unit.ts";
import { readTextIfPresent, removeEmptyDirs, removeIfPresent, writeFileAtomically } from "./files.ts";
import { isAbsolutePath, joinPath, parentDir } from "./platform_path.ts";
import { definedState, keptFilesNote, logTails } from "./status_parts.ts";
import { HarkError } from "../errors.ts";

/** Where `systemctl --user` looks for units the user wrote: `$XDG_CONFIG_HOME/systemd/user`. */
export function userUnitDir(host: Pick<ServiceHost, "env">): string {
  const configHome = host.env("XDG_CONFIG_HOME");
  // The XDG spec says to ignore a relative value, and systemd does.
  if (configHome && isAbsolutePath("linux", configHome)) return joinPath("linux", configHome, "systemd", "user");
  const home = host.env("HOME");
  if (!home) throw new HarkError("HOME is not set, so the user's systemd directory is unknown; set HOME and try again");
  return joinPath("linux", home, ".config", "systemd", "user");
}

const encoder = new TextEncoder();

type Properties = Record<string, string>;

/** systemd's answer about the unit, or why there is none. */
interface ShowResult {
  properties?: Properties;
  problem?: string;
}

export function systemdManager(host: ServiceHost, scope: Scope): ServiceManager {
  return new SystemdManager(host, scope);
}

class SystemdManager implements ServiceManager {
  readonly kind = "systemd";
  readonly name = UNIT_NAME;
  readonly scope: Scope;
  readonly path: string;
  readonly #host: ServiceHost;
  /** `systemctl --user` or `systemctl`, as the user would type it. */
  readonly #systemctl: string;

  constructor(host: ServiceHost, scope: Scope) {
    this.#host = host;
    this.scope = scope;
    this.path = joinPath("linux", scope === "user" ? userUnitDir(host) : host.systemUnitDir, UNIT_NAME);
    this.#systemctl = scope === "user" ? "systemctl --user" : "systemctl";
  }

  #ctl(args: string[]): Promise<ToolResult> {
    return this.#host.run("systemctl", this.scope === "user" ? ["--user", ...args] : args);
  }

  /** Runs systemctl; a failure ends the install with systemctl's reason and what to do. */
  async #must(args: string[]): Promise<void> {
    const result = await this.#ctl(args);
    if (result.code !== 0) {
      throw this.#failure(
        args,
        result,
        `${this.path} is written; \`hark service uninstall${this.#systemFlag()}\` removes it.`,
      );
    }
  }

  #failure(args: string[], result: ToolResult, aftermath: string): HarkError {
    const reason = firstLine(result.stderr) || `exit status ${result.code}`;
    const advice = this.scope === "user"
      ? "`systemctl --user` needs your login session's service manager: run this from your desktop or an SSH " +
        "login as yourself, not through sudo or su (for a machine-wide service, run `sudo hark service install --system`)."
      : "See `journalctl -xe` for systemd's side.";
    return new HarkError(`${this.#systemctl} ${args.join(" ")} failed: ${reason}. ${advice} ${aftermath}`.trim());
  }

  /** Whether the unit runs now. is-active exits 3 for inactive and 4 for unknown units; anything else is a failure to ask. */
  async #isActive(): Promise<boolean> {
    const args = ["is-active", "--quiet", UNIT_NAME];
    const result = await this.#ctl(args);
    if (result.code === 0) return true;
    if (result.code === 3 || result.code === 4) return false;
    throw this.#failure(args, result, "Nothing was changed.");
  }

  #systemFlag(): string {
    return this.scope === "system" ? " --system" : "";
  }

  /** The unit's state as systemd sees it, or why systemd could not be asked. */
  async #show(): Promise<ShowResult> {
    const result = await this.#ctl(["show", UNIT_NAME, "--property=LoadState,ActiveState,SubState,UnitFileState"]);
    if (result.code !== 0) {
      return { problem: `${this.#systemctl} show ${UNIT_NAME} failed: ${firstLine(result.stderr) || result.code}` };
    }
    const properties: Properties = {};
    for (const line of result.stdout.split("\n")) {
      const equals = line.indexOf("=");
      if (equals > 0) properties[line.slice(0, equals)] = line.slice(equals + 1).trim();
    }
    return { properties };
  }

  async install(plan: ServicePlan): Promise<ServiceReport> {
    const report = emptyReport();
    // Asked first: a missing systemctl or an unreachable manager stops the install before anything is written.
    const wasActive = await this.#isActive();
    await prepareServiceStateDir(this.#host, plan);
    const text = systemdUnit(plan, this.scope);
    const previous = await readTextIfPresent(this.path);
    await Deno.mkdir(parentDir("linux", this.path), { recursive: true });
    await writeFileAtomically(this.path, encoder.encode(text), 0o644);
    report.done.push(
      previous === undefined
        ? `Wrote ${this.path}`
        : previous === text
        ? `${this.path} was already up to date`
        : `Updated ${this.path}`,
    );
    await this.#must(["daemon-reload"]);
    await this.#must(["enable", "--now", UNIT_NAME]);
    const when = this.scope === "user" ? "at every login" : "at every boot";
    if (wasActive) {
      // `enable --now` leaves a running service alone; the new definition needs a restart.
      await this.#must(["restart", UNIT_NAME]);
      report.done.push(`Restarted ${UNIT_NAME} with this definition (${this.#systemctl} restart ${UNIT_NAME})`);
    } else {
      report.done.push(
        `Enabled and started ${UNIT_NAME} (${this.#systemctl} enable --now ${UNIT_NAME}); it starts ${when}`,
      );
    }
    if (this.scope === "user") {
      const linger = await this.#lingerWarning();
      if (linger) report.warnings.push(linger);
    }
    if (plan.account?.uid === 0) {
      report.warnings.push(
        "The agent runs as root. Prefer an unprivileged account: `sudo hark service install --system --user NAME`.",
      );
    }
    const journal = this.scope === "user" ? "journalctl --user -u hark" : "journalctl -u hark";
    report.next.push(`hark service status${this.#systemFlag()}`, `${this.#systemctl} status hark`, journal);
    return report;
  }

  /** A user service ends at logout unless the user lingers; say so, since at-login is easy to mistake for always. */
  async #lingerWarning(): Promise<string | undefined> {
    const who = this.#host.env("USER") ?? (this.#host.uid === null ? undefined : String(this.#host.uid));
    if (who === undefined) return undefined;
    let result: ToolResult;
    try {
      result = await this.#host.run("loginctl", ["show-user", who, "-p", "Linger"]);
    } catch (error) {
      if (error instanceof ToolMissingError) return undefined;
      throw error;
    }
    if (result.code !== 0 || !/^Linger=no$/m.test(result.stdout)) return undefined;
    return "Lingering is off for your user: the agent stops when you log out and starts again at your next login. " +
      "To keep it running while you are logged out, run: loginctl enable-linger";
  }

  async uninstall(): Promise<ServiceReport> {
    const report = emptyReport();
    const text = await readTextIfPresent(this.path);
    let before: ShowResult | undefined;
    try {
      before = await this.#show();
    } catch (error) {
      if (!(error instanceof ToolMissingError)) throw error;
      report.warnings.push(`${error.message} Nothing was stopped; only the unit file is removed.`);
    }
    if (before !== undefined) await this.#stopAndDisable(before.properties, text !== undefined, report);
    if (await removeIfPresent(this.path)) report.done.push(`Removed ${this.path}`);
    if (before !== undefined) {
      // Forget the removed unit, and a failed state it may have left; neither matters if it fails.
      await this.#ctl(["daemon-reload"]);
      await this.#ctl(["reset-failed", UNIT_NAME]);
    }
    if (this.scope === "user") {
      const unitDir = parentDir("linux", this.path);
      for (const dir of await removeEmptyDirs([unitDir, parentDir("linux", unitDir)])) {
        report.done.push(`Removed the empty directory ${dir}`);
      }
    }
    if (report.done.length === 0) report.done.push(`${UNIT_NAME} was not installed; nothing to remove`);
    const kept = keptFilesNote(text === undefined ? undefined : execStartOf(text));
    if (kept) report.done.push(kept);
    return report;
  }

  async #stopAndDisable(properties: Properties | undefined, hadFile: boolean, report: ServiceReport): Promise<void> {
    // Without a unit file or a loaded unit there is nothing to stop, and systemctl would only complain.
    const known = hadFile || (properties !== undefined && properties.LoadState !== "not-found");
    if (!known) return;
    const active = properties === undefined || ["active", "activating", "reloading"].includes(properties.ActiveState);
    if (active) {
      const stop = await this.#ctl(["stop", UNIT_NAME]);
      if (stop.code === 0) report.done.push(`Stopped ${UNIT_NAME}`);
      else report.warnings.push(`${this.#systemctl} stop ${UNIT_NAME} failed: ${firstLine(stop.stderr)}`);
    }
    const enabled = properties === undefined || (properties.UnitFileState ?? "").startsWith("enabled");
    if (enabled) {
      const disable = await this.#ctl(["disable", UNIT_NAME]);
      if (disable.code === 0) report.done.push(`Disabled ${UNIT_NAME} (${this.#systemctl} disable ${UNIT_NAME})`);
      else report.warnings.push(`${this.#systemctl} disable ${UNIT_NAME} failed: ${firstLine(disable.stderr)}`);
    }
  }

  async state(): Promise<ServiceState> {
    const text = await readTextIfPresent(this.path);
    const command = text === undefined ? null : execStartOf(text) ?? null;
    const state = definedState(
      { manager: this.kind, scope: this.scope, name: this.name, path: this.path },
      text !== undefined,
      command,
    );
    if (text !== undefined && command === null) state.notes.push(`${this.path} has no ExecStart= line`);
    try {
      const { properties, problem } = await this.#show();
      if (properties) {
        state.enabled = (properties.UnitFileState ?? "").startsWith("enabled");
        state.running = properties.ActiveState === "active" || properties.ActiveState === "reloading";
        state.status = `${properties.ActiveState} (${properties.SubState})`;
        if (state.installed && properties.LoadState === "not-found") {
          state.notes.push(`systemd has not read ${this.path} yet: run \`${this.#systemctl} daemon-reload\``);
        }
        if (!state.installed && state.running) {
          state.notes.push(
            `${UNIT_NAME} runs but its file is gone: \`hark service uninstall${this.#systemFlag()}\` stops it`,
          );
        }
      } else if (problem) {
        state.notes.push(problem);
        // Whether it is enabled lives in files, which systemctl reads without the manager.
        const enabled = (await this.#ctl(["is-enabled", UNIT_NAME])).stdout.trim();
        if (enabled === "enabled" || enabled === "disabled") state.enabled = enabled === "enabled";
      }
    } catch (error) {
      if (!(error instanceof ToolMissingError)) throw error;
      state.notes.push(error.message);
    }
    const journal = this.scope === "user" ? ["--user", "-u", UNIT_NAME] : ["-u", UNIT_NAME];
    state.logs = await logTails(this.#host, state, {
      tool: "journalctl",
      args: [...journal, "-n", "10", "--no-pager", "-q"],
      source: `journalctl ${journal.join(" ")}`,
    });
    return state;
  }

  startHint(): string {
    return `${this.#systemctl} restart ${UNIT_NAME}`;
  }
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.trim() ?? "";
}
