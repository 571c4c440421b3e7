/**
 * hark's entry point: parse the command line, run the subcommand, turn any
 * error into one line on stderr and an exit code. The only `Deno.exit`.
 */

import { parseArgs } from "./lib/cli/args.ts";
import { print, printError } from "./lib/cli/command.ts";
import { COMMANDS, GLOBAL_HELP, GLOBAL_OPTIONS, OPTIONS_WITH_VALUES } from "./lib/cli/commands.ts";
import { ExitCode, HarkError, UsageError } from "./lib/errors.ts";
import { defaultPaths } from "./lib/config/paths.ts";
import { versionLine } from "./lib/version.ts";

function usage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    "hark: a serverless event and notification mesh",
    "",
    "Usage: hark COMMAND [options]",
    "",
    "Commands:",
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    GLOBAL_HELP,
    "",
    "Exit codes: 0 ok, 1 failure, 2 usage error, 3 no agent running.",
    "Run `hark COMMAND --help` for a command's options.",
  ].join("\n");
}

/** The first argument that is neither an option nor an option's value. */
function findCommand(args: string[]): number {
  const takesValue = new Set(OPTIONS_WITH_VALUES);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return -1;
    if (takesValue.has(arg)) i++;
    else if (!arg.startsWith("-")) return i;
  }
  return -1;
}

async function main(args: string[]): Promise<number> {
  const index = findCommand(args);
  const name = index === -1 ? undefined : args[index];
  const rest = index === -1 ? args : [...args.slice(0, index), ...args.slice(index + 1)];
  const entry = COMMANDS.find((candidate) => candidate.name === name);
  if (name !== undefined && !entry) {
    throw new UsageError(`unknown command "${name}"; run \`hark --help\` for the list`);
  }
  const command = await entry?.load();
  let parsed;
  try {
    parsed = parseArgs(rest, { ...GLOBAL_OPTIONS, ...command?.options });
  } catch (error) {
    const hint = command ? `run \`hark ${command.name} --help\`` : "run `hark --help`";
    throw new UsageError(`${(error as Error).message}; ${hint}`);
  }
  const { values, positionals } = parsed;
  if (values.version) {
    print(versionLine());
    return ExitCode.ok;
  }
  if (!command || values.help) {
    print(command ? `Usage: ${command.usage}\n\n${command.help}\n\n${GLOBAL_HELP}` : usage());
    return command || values.help ? ExitCode.ok : ExitCode.usage;
  }
  return await command.run({
    global: {
      config: values.config ?? Deno.env.get("HARK_CONFIG"),
      stateDir: values["state-dir"] ?? Deno.env.get("HARK_STATE_DIR") ?? defaultPaths().stateDir,
      logLevel: values["log-level"] ?? Deno.env.get("HARK_LOG_LEVEL") ?? "info",
      json: values.json ?? false,
    },
    values,
    positionals,
  });
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    if (error instanceof HarkError) {
      printError(`hark: ${error.message}`);
      code = error.exitCode;
    } else {
      printError(`hark: unexpected error: ${(error as Error)?.stack ?? error}`);
      code = ExitCode.failure;
    }
  }
  // Exit explicitly: after a clean stop, libp2p's dependencies still hold
  // timers of up to 10 s (rate limiter, debounce, gossipsub heartbeat) that
  // call `.unref()`, which Deno's timers lack. Our own parts release
  // everything; the in-process tests check that with Deno's sanitizers.
  Deno.exit(code);
}
