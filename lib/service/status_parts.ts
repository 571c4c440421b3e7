/** What every platform's status and uninstall share: the tails of the service's logs, and the files left in place. */

import type { ServiceHost } from "./host.ts";
import { ToolMissingError } from "./host.ts";
import type { LogTail, ServiceState } from "./manager.ts";
import { lastLines } from "./log_tail.ts";
import { optionValue } from "./program.ts";
import { reason } from "../store/state_dir.ts";

/**
 * A state with what the definition says filled in (the command, and its
 * state dir and log file) and what the manager says left unknown.
 */
export function definedState(
  manager: Pick<ServiceState, "manager" | "scope" | "name" | "path">,
  installed: boolean,
  command: string[] | null,
): ServiceState {
  return {
    ...manager,
    installed,
    enabled: null,
    running: null,
    status: null,
    command,
    stateDir: command ? optionValue(command, "--state-dir") ?? null : null,
    logFile: command ? optionValue(command, "--log-file") ?? null : null,
    logs: [],
    notes: [],
  };
}

/** Lines shown from each log. */
export const LOG_LINES = 10;

/** A second place the service's output goes: the journal (a command) or launchd's stderr file. */
export type ExtraLog = { tool: string; args: string[]; source: string } | { path: string };

/**
 * The last lines of the agent's log file, then of `extra`: start-up errors
 * come before the log file is open, so they only reach stderr. Unreadable
 * or missing logs are skipped; an unreadable one is noted in `state.notes`.
 */
export async function logTails(host: ServiceHost, state: ServiceState, extra?: ExtraLog): Promise<LogTail[]> {
  const tails: LogTail[] = [];
  const fromFile = async (path: string) => {
    try {
      const lines = await lastLines(path, LOG_LINES);
      if (lines !== undefined) tails.push({ source: path, lines });
    } catch (error) {
      state.notes.push(`cannot read ${path}: ${reason(error)}`);
    }
  };
  if (state.logFile !== null) await fromFile(state.logFile);
  if (extra !== undefined && "path" in extra) await fromFile(extra.path);
  if (extra !== undefined && "tool" in extra) {
    try {
      const result = await host.run(extra.tool, extra.args);
      const lines = result.stdout.split("\n").filter((line) => line.trim() !== "");
      if (result.code === 0 && lines.length > 0) tails.push({ source: extra.source, lines: lines.slice(-LOG_LINES) });
    } catch (error) {
      // No journal on this machine: the log file is all there is.
      if (!(error instanceof ToolMissingError)) throw error;
    }
  }
  return tails;
}

/** Uninstall leaves the agent's data alone; this sentence says where it is. */
export function keptFilesNote(command: string[] | undefined, logDirs: string[] = []): string | undefined {
  const stateDir = command === undefined ? undefined : optionValue(command, "--state-dir");
  const places = [
    ...(stateDir === undefined ? [] : [`the state dir ${stateDir} (identity, network key, events, log)`]),
    ...logDirs.map((dir) => `the logs in ${dir}`),
  ];
  if (places.length === 0) return undefined;
  return `Kept ${places.join(" and ")}: uninstall never deletes them; remove them yourself if you no longer need them`;
}
