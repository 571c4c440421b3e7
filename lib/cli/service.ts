/** `hark service install|uninstall|status`: run the agent at login (systemd --user, launchd, Task Scheduler). */

import type { Command, CommandContext } from "./command.ts";
import { print } from "./command.ts";
import { UsageError } from "../errors.ts";
import { installService, type ServiceOptions, serviceState, startHint, uninstallService } from "../service/mod.ts";
import type { ServiceReport, ServiceState } from "../service/mod.ts";
import { quoteWindowsArgument } from "../service/windows_task_xml.ts";
import { jsonForTerminal } from "../util/controls.ts";

export const serviceCommand: Command = {
  name: "service",
  usage: "hark service install [--system [--user NAME]] | uninstall [--system] | status [--system] [--json]",
  help: `Runs the agent in the background whenever you are logged in, and restarts it
when it fails:

  Linux    a systemd user unit, ~/.config/systemd/user/hark.service (respects
           XDG_CONFIG_HOME), sandboxed; with --system, /etc/systemd/system/hark.service,
           started at boot as one account
  macOS    a LaunchAgent, ~/Library/LaunchAgents/org.hark.agent.plist, with
           stdout and stderr in ~/Library/Logs/hark/
  Windows  a Task Scheduler task "hark", started at your logon

The service runs this same hark (the compiled binary, or deno with main.ts) as
  hark run --state-dir DIR [--config FILE] --log-file DIR/hark.log
with the state dir and config this command sees, as absolute paths.

  install     write the definition, enable it and (re)start the agent. Run it
              again after moving hark or changing --state-dir, --config, or
              the paths of file sinks and fifo sources.
  uninstall   stop the agent and remove what install created. The state dir
              and the logs stay.
  status      installed? enabled? running? the command it runs and the last
              lines of its logs. Exits 0 when installed and running, else 1.

Options:
      --system      a machine-wide service (Linux only; install and uninstall need root)
      --user NAME   with install --system: the account the agent runs as
                    (default: the user who ran sudo)

On Linux the sandbox makes the file system read-only except the state dir and
the directories of the config's file sinks and fifo sources; exec sinks'
programs run inside it too. Allow more with \`systemctl --user edit hark\`
(ReadWritePaths=), which install leaves alone.

status --json prints one object with these fields (null: unknown or not applicable):
  manager    "systemd", "launchd" or "task-scheduler"
  scope      "user", or "system" for --system
  name       "hark.service", "org.hark.agent" or "hark"
  path       the definition file; on Windows the task's path, "\\hark"
  installed  the definition exists
  enabled    it starts by itself at login (at boot with --system)
  running    the agent's process is up now
  status     the manager's own word: "active (running)", "running", "Ready"…
  command    the argv the service runs
  stateDir   its --state-dir
  logFile    its --log-file
  logs       [{ "source": file or command, "lines": [...] }]: the last 10 lines
             of the log file, and of the journal (Linux) or stderr.log (macOS)
  notes      why a field is null, or what else looks wrong

Examples:
  hark service install                        # start now and at every login
  hark service status                         # running? what does the log say?
  hark service status --json | jq .running
  hark --state-dir ~/hark-work service install    # the service uses this state dir
  sudo hark service install --system --user alice # Linux: at boot, as alice
  hark service uninstall                      # stop and remove; state and logs stay`,
  options: {
    system: { type: "boolean" },
    user: { type: "string" },
  },
  async run(context) {
    const [action, ...rest] = context.positionals;
    if (rest.length > 0) throw new UsageError(`service ${action} takes no arguments, got "${rest[0]}"`);
    const options: ServiceOptions = { system: context.values.system ?? false, user: context.values.user };
    if (action !== "install" && options.user !== undefined) {
      throw new UsageError("--user NAME only applies to `hark service install --system`");
    }
    switch (action) {
      case "install":
        return await install(context, options);
      case "uninstall":
        return await uninstall(context, options);
      case "status":
        return await status(context, options);
      default:
        throw new UsageError(
          action === undefined
            ? "service needs an action: install, uninstall or status"
            : `unknown service action "${action}"; use install, uninstall or status`,
        );
    }
  },
};

async function install({ global, values }: CommandContext, options: ServiceOptions): Promise<number> {
  const result = await installService({
    ...options,
    // Only a state dir the user chose; otherwise the default of the account the service runs as.
    stateDir: values["state-dir"] ?? Deno.env.get("HARK_STATE_DIR"),
    config: global.config,
    logLevel: global.logLevel,
  });
  if (global.json) print(jsonForTerminal(result, 2));
  else printReport(result, "Check on it:");
  return 0;
}

async function uninstall({ global }: CommandContext, options: ServiceOptions): Promise<number> {
  const result = await uninstallService(options);
  if (global.json) print(jsonForTerminal(result, 2));
  else printReport(result);
  return 0;
}

function printReport(report: ServiceReport, nextHeading?: string): void {
  for (const line of report.done) print(`${line}.`);
  for (const warning of report.warnings) print(`warning: ${warning}`);
  if (nextHeading && report.next.length > 0) {
    print(nextHeading);
    for (const command of report.next) print(`  ${command}`);
  }
}

async function status({ global }: CommandContext, options: ServiceOptions): Promise<number> {
  const state = await serviceState(options);
  const healthy = state.installed && state.running === true;
  if (global.json) {
    print(jsonForTerminal(state, 2));
    return healthy ? 0 : 1;
  }
  printState(state);
  const system = options.system ? " --system" : "";
  if (!state.installed) {
    print(
      `\nNot installed. Run \`${
        options.system ? "sudo " : ""
      }hark service install${system}\` to start the agent now and at every ${options.system ? "boot" : "login"}.`,
    );
  } else if (state.running === false) {
    print(
      `\nNot running. Read the log lines above, then start it: \`${startHint(options)}\` ` +
        `(or \`hark service install${system}\` again).`,
    );
  } else if (state.running === null) {
    print("\nCannot tell whether it runs: see the notes above.");
  }
  return healthy ? 0 : 1;
}

function printState(state: ServiceState): void {
  const yesNo = (value: boolean | null) => value === null ? "unknown" : value ? "yes" : "no";
  const rows: [string, string][] = [
    ["definition", state.path],
    ["installed", yesNo(state.installed)],
    ["enabled", yesNo(state.enabled)],
    ["running", yesNo(state.running) + (state.status ? ` (${state.status})` : "")],
  ];
  if (state.command) rows.push(["command", displayCommand(state.command, state.manager === "task-scheduler")]);
  if (state.logFile) rows.push(["log file", state.logFile]);
  print(`${state.name} (${state.manager}, ${state.scope})`);
  for (const [label, value] of rows) print(`  ${label.padEnd(10)}  ${value}`);
  for (const note of state.notes) print(`  note: ${note}`);
  for (const log of state.logs) {
    print(`\nLast lines of ${log.source}:`);
    for (const line of log.lines) print(`  ${line}`);
  }
}

/** The argv as the user would type it in this platform's shell. */
function displayCommand(argv: string[], windows: boolean): string {
  if (windows) return argv.map(quoteWindowsArgument).join(" ");
  return argv.map((arg) => /^[A-Za-z0-9_@%+=:,.\/-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`).join(" ");
}
