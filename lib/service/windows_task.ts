/** Windows: a Task Scheduler task that starts the agent at the user's logon, in their session. */

import type { ServiceHost, ToolResult } from "./host.ts";
import { ToolMissingError } from "./host.ts";
import type { ServiceManager, ServicePlan, ServiceReport, ServiceState } from "./manager.ts";
import { emptyReport } from "./manager.ts";
import { prepareServiceStateDir } from "./service_state_dir.ts";
import { TASK_NAME, taskCommand, taskEnabled, taskXmlBytes, windowsTaskXml } from "./windows_task_xml.ts";
import { joinPath } from "./platform_path.ts";
import { definedState, keptFilesNote, logTails } from "./status_parts.ts";
import { HarkError } from "../errors.ts";

export function windowsTaskManager(host: ServiceHost): ServiceManager {
  return new WindowsTaskManager(host);
}

class WindowsTaskManager implements ServiceManager {
  readonly kind = "task-scheduler";
  readonly scope = "user";
  readonly name = TASK_NAME;
  /** Tasks have no file of their own; this is the task's path in Task Scheduler. */
  readonly path = `\\${TASK_NAME}`;
  readonly #host: ServiceHost;

  constructor(host: ServiceHost) {
    this.#host = host;
  }

  #schtasks(args: string[]): Promise<ToolResult> {
    return this.#host.run("schtasks", args);
  }

  async #must(args: string[]): Promise<void> {
    const result = await this.#schtasks(args);
    if (result.code === 0) return;
    const reason = (result.stderr.trim() || result.stdout.trim()).split(/\r?\n/)[0] || `exit status ${result.code}`;
    throw new HarkError(`schtasks ${args.join(" ")} failed: ${reason}`);
  }

  /** `DOMAIN\user`, as Task Scheduler names the account whose logon starts the task. */
  #userId(): string {
    const user = this.#host.env("USERNAME");
    if (!user) throw new HarkError("USERNAME is not set, so the task cannot name whose logon starts it");
    const domain = this.#host.env("USERDOMAIN");
    return domain ? `${domain}\\${user}` : user;
  }

  async #exists(): Promise<boolean> {
    return (await this.#schtasks(["/Query", "/TN", TASK_NAME])).code === 0;
  }

  async install(plan: ServicePlan): Promise<ServiceReport> {
    // Task Scheduler expands %NAME% in a task's command and arguments and has no escape for %.
    const withPercent = plan.argv.find((arg) => arg.includes("%"));
    if (withPercent !== undefined) {
      throw new HarkError(
        `Task Scheduler would read "${withPercent}" as containing %VARIABLES%, and % cannot be escaped there: ` +
          "use a state dir, config and hark path without % (--state-dir, --config)",
      );
    }
    const report = emptyReport();
    const userId = this.#userId();
    // Asked first: a missing schtasks stops the install before anything changes.
    const existed = await this.#exists();
    await prepareServiceStateDir(this.#host, plan);
    if (existed) {
      // Replacing the definition leaves a running agent on the old one; end it so /Run starts the new.
      await this.#schtasks(["/End", "/TN", TASK_NAME]);
    }
    const dir = await this.#host.makeTempDir();
    // Written here and now, so by this machine's path rules, whatever platform the host stands for.
    const file = joinPath(Deno.build.os, dir, "hark-task.xml");
    try {
      await Deno.writeFile(file, taskXmlBytes(windowsTaskXml({ argv: plan.argv, userId })));
      await this.#must(["/Create", "/TN", TASK_NAME, "/XML", file, "/F"]);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    report.done.push(
      `${
        existed ? "Replaced" : "Created"
      } the scheduled task ${this.path} (schtasks /Create /TN ${TASK_NAME} /XML … /F); ` +
        `it starts at every logon of ${userId}`,
    );
    await this.#must(["/Run", "/TN", TASK_NAME]);
    report.done.push(`Started it (schtasks /Run /TN ${TASK_NAME})`);
    report.next.push("hark service status", `schtasks /Query /TN ${TASK_NAME} /V /FO LIST`);
    return report;
  }

  async uninstall(): Promise<ServiceReport> {
    const report = emptyReport();
    if (!(await this.#exists())) {
      report.done.push(`The scheduled task ${this.path} does not exist; nothing to remove`);
      return report;
    }
    const definition = await this.#schtasks(["/Query", "/TN", TASK_NAME, "/XML"]);
    const command = definition.code === 0 ? taskCommand(definition.stdout) : undefined;
    // /End fails when the task is not running, which is fine.
    if ((await this.#schtasks(["/End", "/TN", TASK_NAME])).code === 0) report.done.push("Ended the running agent");
    await this.#must(["/Delete", "/TN", TASK_NAME, "/F"]);
    report.done.push(`Deleted the scheduled task ${this.path} (schtasks /Delete /TN ${TASK_NAME} /F)`);
    const kept = keptFilesNote(command);
    if (kept) report.done.push(kept);
    return report;
  }

  async state(): Promise<ServiceState> {
    let definition: ToolResult;
    try {
      definition = await this.#schtasks(["/Query", "/TN", TASK_NAME, "/XML"]);
    } catch (error) {
      if (!(error instanceof ToolMissingError)) throw error;
      return { ...this.#unknown(), notes: [error.message] };
    }
    const installed = definition.code === 0;
    const command = installed ? taskCommand(definition.stdout) ?? null : null;
    const state: ServiceState = {
      ...definedState({ manager: this.kind, scope: this.scope, name: this.name, path: this.path }, installed, command),
      enabled: installed ? taskEnabled(definition.stdout) : false,
      running: installed ? null : false,
    };
    if (installed) {
      const listing = await this.#schtasks(["/Query", "/TN", TASK_NAME, "/FO", "LIST", "/V"]);
      // The labels are in Windows' display language; this reads the English ones.
      const status = /^Status:\s*(.+)$/m.exec(listing.stdout)?.[1].trim();
      if (listing.code === 0 && status !== undefined) {
        state.status = status;
        state.running = status === "Running";
      } else {
        state.notes.push(
          "cannot read the task's status from `schtasks /Query /V /FO LIST` (is Windows not in English?)",
        );
      }
    }
    state.logs = await logTails(this.#host, state);
    return state;
  }

  /** Without schtasks nothing about the task can be known. */
  #unknown(): ServiceState {
    return {
      manager: this.kind,
      scope: this.scope,
      name: this.name,
      path: this.path,
      installed: false,
      enabled: null,
      running: null,
      status: null,
      command: null,
      stateDir: null,
      logFile: null,
      logs: [],
      notes: [],
    };
  }

  startHint(): string {
    return `schtasks /Run /TN ${TASK_NAME}`;
  }
}
