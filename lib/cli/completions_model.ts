/**
 * What the completion scripts complete, read from the command registry:
 * every command, its options and the global ones, with descriptions taken
 * from the help texts. The scripts are generated from this and nothing else,
 * so they cannot fall out of step with the commands.
 */

import { COMMANDS, GLOBAL_HELP, GLOBAL_OPTIONS } from "./commands.ts";
import type { OptionSpecs } from "./args.ts";
import { LOG_LEVELS } from "../log.ts";

export interface CompletionOption {
  /** Without the dashes: `topic` for `--topic`. */
  long: string;
  /** Without the dash: `t` for `-t`. */
  short?: string;
  takesValue: boolean;
  /** May be given more than once. */
  multiple: boolean;
  /** From the command's help; "" when it has no line for the option. */
  description: string;
  /** The values it accepts, when they are a fixed list. */
  values?: readonly string[];
  /** Its value names a file or a directory. */
  path?: "file" | "directory";
}

export interface CompletionCommand {
  name: string;
  summary: string;
  options: CompletionOption[];
  /** Fixed first arguments (`network create|join|show`); empty when the first argument is free. */
  actions: string[];
  /** Takes a command line of its own after `--` (`hark wrap -- make test`). */
  wrapsCommand: boolean;
}

export interface CompletionModel {
  /** Accepted before and after the command name. */
  globals: CompletionOption[];
  commands: CompletionCommand[];
}

/** SPEC's priority scale, by number and by name; a unit test checks each against `parsePriority`. */
export const PRIORITY_VALUES = ["1", "2", "3", "4", "5", "min", "low", "default", "high", "urgent"] as const;

/** Value completions by option name; any other option's value is free text and completes to nothing. */
const VALUE_COMPLETIONS: Record<string, Pick<CompletionOption, "values" | "path">> = {
  config: { path: "file" },
  "log-file": { path: "file" },
  "state-dir": { path: "directory" },
  "log-level": { values: LOG_LEVELS },
  priority: { values: PRIORITY_VALUES },
};

/**
 * Names go into shell code unquoted, so only plain ones are allowed; a
 * command with a stranger name fails here rather than in a user's shell.
 */
const PLAIN_NAME = /^[a-z0-9][a-z0-9-]*$/;
const SHORT_NAME = /^[A-Za-z0-9]$/;

/**
 * Loads every command (their modules only define objects, so nothing
 * starts) and describes the command line for the script generators.
 */
export async function describeCli(): Promise<CompletionModel> {
  const commands: CompletionCommand[] = [];
  for (const entry of COMMANDS) {
    const command = await entry.load();
    commands.push({
      name: plain(entry.name, "command"),
      summary: entry.summary,
      options: describeOptions(command.options, command.help),
      actions: actionsOf(command.usage, entry.name),
      wrapsCommand: /\s--\s+CMD\b/.test(command.usage),
    });
  }
  return { globals: describeOptions(GLOBAL_OPTIONS, GLOBAL_HELP), commands };
}

function describeOptions(specs: OptionSpecs, help: string): CompletionOption[] {
  return Object.entries(specs).map(([long, spec]) => ({
    long: plain(long, "option"),
    short: spec.short === undefined ? undefined : plain(spec.short, "option", SHORT_NAME),
    takesValue: spec.type === "string",
    multiple: spec.multiple ?? false,
    description: describeOption(help, long),
    ...(spec.type === "string" ? VALUE_COMPLETIONS[long] : undefined),
  }));
}

/**
 * The actions a usage line offers, when each of its alternatives starts with
 * a fixed word: `hark network create [NAME] | join TOKEN | show` gives
 * create, join, show; `hark completions bash|zsh|fish` gives the shells.
 * Reading them from the usage line keeps the completion and the help in step.
 */
export function actionsOf(usage: string, name: string): string[] {
  const rest = usage.replace(new RegExp(`^hark ${name}\\s*`), "");
  const alternatives = rest.split("|").map((part) => part.trim().split(/\s+/)[0]);
  if (alternatives.length < 2 || !alternatives.every((word) => PLAIN_NAME.test(word))) return [];
  return alternatives;
}

/**
 * The description of `--long` from a help text's option table, where each
 * option has a line like `  -t, --topic T        topic (default "default"); …`
 * with continuation lines indented to the description's column. Kept to its
 * first clause, without parentheses, which hold defaults and paths that vary
 * by machine.
 */
export function describeOption(help: string, long: string): string {
  const lines = help.split("\n");
  const pattern = new RegExp(`^\\s*(?:-\\w, )?--${long}(?: \\S+)?\\s{2,}(\\S.*)$`);
  for (let i = 0; i < lines.length; i++) {
    const match = pattern.exec(lines[i]);
    if (!match) continue;
    const column = lines[i].length - match[1].length;
    let text = match[1];
    for (let j = i + 1; j < lines.length; j++) {
      const indent = lines[j].length - lines[j].trimStart().length;
      if (indent !== column || lines[j].trim() === "") break;
      text += " " + lines[j].trim();
    }
    return text.replace(/\s*\([^()]*\)/g, "").split("; ")[0].replace(/[\s,.:]+$/, "");
  }
  return "";
}

function plain(name: string, what: string, pattern = PLAIN_NAME): string {
  if (!pattern.test(name)) throw new Error(`cannot complete ${what} "${name}": use a-z, 0-9 and -`);
  return name;
}
