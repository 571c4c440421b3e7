/** macOS: a LaunchAgent, loaded into the user's GUI session so that the agent's notifications can show. */

import type { ServiceHost, ToolResult } from "./host.ts";
import { ToolMissingError } from "./host.ts";
import type { ServiceManager, ServicePlan, ServiceReport, ServiceState } from "./manager.ts";
import { emptyReport } from "./manager.ts";
import { prepareServiceStateDir } from "./service_state_dir.ts";
import { LAUNCHD_LABEL, launchdPlist, plistArguments } from "./launchd_plist.ts";
import { readTextIfPresent, removeEmptyDirs, removeIfPresent, writeFileAtomically } from "./files.ts";
import { joinPath, parentDir } from "./platform_path.ts";
import { definedState, keptFilesNote, logTails } from "./status_parts.ts";
import { HarkError } from "../errors.ts";
import { delay } from "../util/delay.ts";

/** How long a booted-out agent may take to exit before it can be loaded again. */
const UNLOAD_DEADLINE_MS = 10_000;
const UNLOAD_POLL_MS = 100;

const encoder = new TextEncoder();

export function launchdManager(host: ServiceHost): ServiceManager {
  return new LaunchdManager(host);
}

class LaunchdManager implements ServiceManager {
  readonly kind = "launchd";
  readonly scope = "user";
  readonly name = LAUNCHD_LABEL;
  readonly path: string;
  readonly #host: ServiceHost;
  readonly #logDir: string;
  /** `gui/501`: the user's login session. */
  readonly #domain: string;
  /** `gui/501/org.hark.agent`. */
  readonly #target: string;

  constructor(host: ServiceHost) {
    const home = host.env("HOME");
    if (!home) throw new HarkError("HOME is not set, so ~/Library/LaunchAgents is unknown; set HOME and try again");
    if (host.uid === null) throw new HarkError("cannot tell this user's id, which names the launchd session");
    this.#host = host;
    this.path = joinPath("darwin", home, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`);
    this.#logDir = joinPath("darwin", home, "Library", "Logs", "hark");
    this.#domain = `gui/${host.uid}`;
    this.#target = `${this.#domain}/${LAUNCHD_LABEL}`;
  }

  #launchctl(args: string[]): Promise<ToolResult> {
    return this.#host.run("launchctl", args);
  }

  async #loaded(): Promise<boolean> {
    return (await this.#launchctl(["print", this.#target])).code === 0;
  }

  async #must(args: string[]): Promise<void> {
    const result = await this.#launchctl(args);
    if (result.code === 0) return;
    const reason = (result.stderr.trim() || result.stdout.trim()).split("\n")[0] || `exit status ${result.code}`;
    throw new HarkError(
      `launchctl ${args.join(" ")} failed: ${reason}. It needs your GUI login session: run this in Terminal ` +
        `on the Mac's desktop as yourself, not over SSH or through sudo. ${this.path} is written; ` +
        "`hark service uninstall` removes it.",
    );
  }

  /** bootout returns before the agent has exited; loading again before then fails. */
  async #waitUntilUnloaded(): Promise<void> {
    const deadline = Date.now() + UNLOAD_DEADLINE_MS;
    while (await this.#loaded()) {
      if (Date.now() > deadline) {
        throw new HarkError(
          `${LAUNCHD_LABEL} did not stop within ${
            UNLOAD_DEADLINE_MS / 1000
          } s of \`launchctl bootout ${this.#target}\`; ` +
            "run `hark service install` again in a moment",
        );
      }
      await delay(UNLOAD_POLL_MS);
    }
  }

  async install(plan: ServicePlan): Promise<ServiceReport> {
    const report = emptyReport();
    // Asked first: a missing launchctl stops the install before anything is written.
    const wasLoaded = await this.#loaded();
    await prepareServiceStateDir(this.#host, plan);
    const text = launchdPlist({
      argv: plan.argv,
      stdoutPath: joinPath("darwin", this.#logDir, "stdout.log"),
      stderrPath: joinPath("darwin", this.#logDir, "stderr.log"),
    });
    const previous = await readTextIfPresent(this.path);
    await Deno.mkdir(parentDir("darwin", this.path), { recursive: true });
    // launchd opens the output files but does not create their directory.
    await Deno.mkdir(this.#logDir, { recursive: true });
    await writeFileAtomically(this.path, encoder.encode(text), 0o644);
    report.done.push(previous === undefined ? `Wrote ${this.path}` : `Updated ${this.path}`);
    if (wasLoaded) {
      await this.#must(["bootout", this.#target]);
      await this.#waitUntilUnloaded();
      report.done.push(`Unloaded the previous definition (launchctl bootout ${this.#target})`);
    }
    // A `launchctl disable` from before would make bootstrap refuse the label.
    await this.#must(["enable", this.#target]);
    await this.#must(["bootstrap", this.#domain, this.path]);
    report.done.push(
      `Loaded ${LAUNCHD_LABEL} (launchctl bootstrap ${this.#domain} ${this.path}); it starts now and at every login`,
    );
    report.next.push("hark service status", `launchctl print ${this.#target}`);
    return report;
  }

  async uninstall(): Promise<ServiceReport> {
    const report = emptyReport();
    const text = await readTextIfPresent(this.path);
    try {
      if (await this.#loaded()) {
        const bootout = await this.#launchctl(["bootout", this.#target]);
        if (bootout.code === 0) {
          report.done.push(`Stopped and unloaded ${LAUNCHD_LABEL} (launchctl bootout ${this.#target})`);
        } else report.warnings.push(`launchctl bootout ${this.#target} failed: ${bootout.stderr.trim()}`);
      }
    } catch (error) {
      if (!(error instanceof ToolMissingError)) throw error;
      report.warnings.push(`${error.message} Nothing was stopped; only the plist is removed.`);
    }
    if (await removeIfPresent(this.path)) report.done.push(`Removed ${this.path}`);
    for (const dir of await removeEmptyDirs([parentDir("darwin", this.path)])) {
      report.done.push(`Removed the empty directory ${dir}`);
    }
    if (report.done.length === 0) report.done.push(`${LAUNCHD_LABEL} was not installed; nothing to remove`);
    const kept = keptFilesNote(text === undefined ? undefined : plistArguments(text), [this.#logDir]);
    if (kept) report.done.push(kept);
    return report;
  }

  async state(): Promise<ServiceState> {
    const text = await readTextIfPresent(this.path);
    const command = text === undefined ? null : plistArguments(text) ?? null;
    const state = definedState(
      { manager: this.kind, scope: this.scope, name: this.name, path: this.path },
      text !== undefined,
      command,
    );
    try {
      const printed = await this.#launchctl(["print", this.#target]);
      if (printed.code === 0) {
        const launchdState = /^\s*state = (.+)$/m.exec(printed.stdout)?.[1].trim() ?? null;
        state.status = launchdState;
        state.running = launchdState === "running";
      } else {
        state.status = "not loaded";
        state.running = false;
      }
      // A plist in LaunchAgents loads at every login unless the label was disabled.
      const disabled = await this.#launchctl(["print-disabled", this.#domain]);
      if (disabled.code === 0) {
        const label = LAUNCHD_LABEL.replaceAll(".", "\\.");
        state.enabled = state.installed && !new RegExp(`"${label}" => (disabled|true)`).test(disabled.stdout);
      }
    } catch (error) {
      if (!(error instanceof ToolMissingError)) throw error;
      state.notes.push(error.message);
    }
    state.logs = await logTails(this.#host, state, { path: joinPath("darwin", this.#logDir, "stderr.log") });
    return state;
  }

  startHint(): string {
    return `launchctl kickstart -k ${this.#target}`;
  }
}
