/** What every subcommand shares: its option spec, help text and context. */

import type { OptionSpecs } from "./args.ts";
import { cleanForTerminal } from "../util/controls.ts";

export interface GlobalOptions {
  config?: string;
  stateDir: string;
  logLevel: string;
  json: boolean;
}

export interface CommandContext {
  global: GlobalOptions;
  // deno-lint-ignore no-explicit-any
  values: Record<string, any>;
  positionals: string[];
}

export interface Command {
  name: string;
  usage: string;
  /** Printed after the usage line by `--help`. */
  help: string;
  options: OptionSpecs;
  /** Returns the exit code. */
  run(context: CommandContext): Promise<number>;
}

const encoder = new TextEncoder();

/**
 * Writes to stdout; a closed pipe (`hark peers | head -1`) is not an error.
 * Listings hold other machines' text (host names, topics, descriptions,
 * errors), so every line is cleaned of control characters on its way out;
 * JSON goes through `jsonForTerminal` first, which this leaves unchanged.
 */
export function print(text: string): void {
  try {
    Deno.stdout.writeSync(encoder.encode(cleanForTerminal(text) + "\n"));
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

/** Writes to stderr, cleaned as `print` cleans: an error may quote a peer's or a server's text. */
export function printError(text: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(cleanForTerminal(text) + "\n"));
  } catch {
    // Nowhere to report to.
  }
}
