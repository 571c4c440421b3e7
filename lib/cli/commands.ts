/**
 * Every subcommand, and the options all of them share. `main.ts` runs them;
 * `hark completions` lists them.
 */

import type { OptionSpecs } from "./args.ts";
import type { Command } from "./command.ts";
import { defaultPaths } from "../config/paths.ts";

/**
 * Each command's module loads only when that command runs: `hark send` must
 * start fast and never pay for libp2p, TOML or logging. The imports are
 * string literals so that `deno compile` includes every module.
 */
export const COMMANDS: { name: string; summary: string; load: () => Promise<Command> }[] = [
  {
    name: "run",
    summary: "run the agent in the foreground",
    load: async () => (await import("./run.ts")).runCommand,
  },
  { name: "send", summary: "publish an event", load: async () => (await import("./send.ts")).sendCommand },
  {
    name: "ack",
    summary: "acknowledge (clear) a notification on every agent",
    load: async () => (await import("./ack.ts")).ackCommand,
  },
  {
    name: "delete",
    summary: "delete a notification on every agent",
    load: async () => (await import("./delete.ts")).deleteCommand,
  },
  {
    name: "wrap",
    summary: "run a command, then send its exit status and output",
    load: async () => (await import("./wrap.ts")).wrapCommand,
  },
  {
    name: "tail",
    summary: "stream events as they arrive",
    load: async () => (await import("./tail.ts")).tailCommand,
  },
  {
    name: "peers",
    summary: "list connected peers",
    load: async () => (await import("./info.ts")).peersCommand,
  },
  {
    name: "status",
    summary: "show the agent's state and its sinks' health",
    load: async () => (await import("./info.ts")).statusCommand,
  },
  {
    name: "id",
    summary: "print this agent's peer id and dialable addresses",
    load: async () => (await import("./info.ts")).idCommand,
  },
  {
    name: "history",
    summary: "print stored events",
    load: async () => (await import("./history.ts")).historyCommand,
  },
  {
    name: "topics",
    summary: "list known topics: description, schema, publishers, last event",
    load: async () => (await import("./topics.ts")).topicsCommand,
  },
  {
    name: "network",
    summary: "create, join or show this agent's private network",
    load: async () => (await import("./network.ts")).networkCommand,
  },
  {
    name: "doctor",
    summary: "check this machine and explain how to fix what is wrong",
    load: async () => (await import("./doctor.ts")).doctorCommand,
  },
  {
    name: "service",
    summary: "install, remove or check the login service that runs the agent",
    load: async () => (await import("./service.ts")).serviceCommand,
  },
  {
    name: "completions",
    summary: "print shell completions for bash, zsh or fish",
    load: async () => (await import("./completions.ts")).completionsCommand,
  },
];

export const GLOBAL_OPTIONS = {
  config: { type: "string" },
  "state-dir": { type: "string" },
  "log-level": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const satisfies OptionSpecs;

export const GLOBAL_HELP = `Global options:
      --config FILE       config file (env HARK_CONFIG; default ${defaultPaths().config})
      --state-dir DIR     state dir (env HARK_STATE_DIR; default ${defaultPaths().stateDir})
      --log-level LEVEL   trace, debug, info, warning, error, fatal (default info)
      --json              machine-readable output
  -h, --help              this help
  -V, --version           print the version`;

/** Global options that take a value, for finding the subcommand among the arguments. */
export const OPTIONS_WITH_VALUES = Object.entries(GLOBAL_OPTIONS)
  .filter(([, spec]) => spec.type === "string")
  .map(([name]) => `--${name}`);
