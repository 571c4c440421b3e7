/** The command line a service starts: how to run this same hark, with which state dir, config and log. */

import type { ServiceHost } from "./host.ts";
import { baseName } from "./platform_path.ts";

/**
 * V8 flags hark runs with. V8 grows its young generation to 16 MB while the
 * agent starts and, since an idle agent runs no garbage collection, never
 * gives it back. A 2 MB cap costs about 5% of peak event throughput and saves
 * about 10 MB of resident memory on every machine. `--expose-gc` lets the
 * agent hand the rest of its start-up heap back once it has settled
 * (lib/heap_trim.ts, another 5 to 6 MB). A compiled binary carries these
 * flags (`deno compile --v8-flags`); under `deno run` they must be on the
 * command line, as V8 reads them only before its heap exists.
 * tests/compile_safety_test.ts keeps deno.json and the release build in step.
 */
export const HARK_V8_FLAGS = "--max-semi-space-size=2,--expose-gc";

/**
 * Plugins run in Workers with their own permissions, an unstable Deno API.
 * deno.json turns it on for `deno task` and `deno compile`; a service that
 * runs main.ts from elsewhere does not read deno.json, so it names the flag.
 */
export const HARK_UNSTABLE_FLAG = "--unstable-worker-options";

/**
 * Under `deno run`, Deno loads the module graph of every dynamic import
 * written as a string literal before main.ts runs: `hark send` would load
 * the agent's modules and npm packages it never runs, 45 ms of CPU. This
 * loads each when it is imported, as a compiled binary does. Only for
 * `deno run`: `deno compile` with it leaves those modules out of the binary
 * (tests/compile_safety_test.ts compiles and checks).
 */
export const HARK_LAZY_IMPORTS_FLAG = "--unstable-lazy-dynamic-imports";

/**
 * The program and leading arguments that start this hark. A compiled binary
 * is its own program. Under `deno run`, the executable is deno itself and the
 * code is main.ts, so the service must name both, at their absolute paths.
 */
export function harkProgram(host: Pick<ServiceHost, "os" | "execPath" | "mainModule">): string[] {
  const executable = baseName(host.execPath).toLowerCase();
  const underDeno = executable === "deno" || executable === "deno.exe";
  if (underDeno && host.mainModule.startsWith("file:")) {
    return [
      host.execPath,
      "run",
      "--allow-all",
      `--v8-flags=${HARK_V8_FLAGS}`,
      HARK_UNSTABLE_FLAG,
      HARK_LAZY_IMPORTS_FLAG,
      filePathOf(host.os, host.mainModule),
    ];
  }
  return [host.execPath];
}

/** A file: URL as a path of `os`: `file:///C:/a%20b/main.ts` is `C:\a b\main.ts` on Windows. */
export function filePathOf(os: string, url: string): string {
  const parsed = new URL(url);
  const path = decodeURIComponent(parsed.pathname);
  if (os !== "windows") return path;
  // A UNC location keeps its server as the URL's host.
  if (parsed.host !== "") return `\\\\${parsed.host}${path.replaceAll("/", "\\")}`;
  return path.replace(/^\/([A-Za-z]:)/, "$1").replaceAll("/", "\\");
}

export interface AgentArguments {
  stateDir: string;
  /** Given only when a config file exists or was named: an explicit one must exist. */
  config?: string;
  logFile: string;
  /** Passed on unless it is the default, "info". */
  logLevel?: string;
}

/** The full argv of the agent a service runs: `hark run --state-dir … [--config …] --log-file …`. */
export function agentCommand(program: string[], agent: AgentArguments): string[] {
  return [
    ...program,
    "run",
    "--state-dir",
    agent.stateDir,
    ...(agent.config === undefined ? [] : ["--config", agent.config]),
    "--log-file",
    agent.logFile,
    ...(agent.logLevel === undefined || agent.logLevel === "info" ? [] : ["--log-level", agent.logLevel]),
  ];
}

/** The value after `option` in `argv`, e.g. the state dir of an installed service's command. */
export function optionValue(argv: string[], option: string): string | undefined {
  const index = argv.indexOf(option);
  return index === -1 ? undefined : argv[index + 1];
}
