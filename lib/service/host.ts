/**
 * What the service code needs from the machine, in one place so that tests
 * can stand in for any part of it: the platform, the environment, the user,
 * how hark itself was started, and how a service manager's tool runs.
 */

import { findOnPath } from "./tools.ts";
import { HarkError } from "../errors.ts";

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a service manager's tool, named bare ("systemctl"), to completion. */
export type ToolRunner = (tool: string, args: string[]) => Promise<ToolResult>;

export interface ServiceHost {
  /** `linux`, `darwin` or `windows`; others are refused with an explanation. */
  os: string;
  env(name: string): string | undefined;
  /** The user id on Linux and macOS; null on Windows. */
  uid: number | null;
  /** The running executable: the compiled `hark`, or `deno`. */
  execPath: string;
  /** `Deno.mainModule`: main.ts when hark runs through `deno run`. */
  mainModule: string;
  /** Relative `--state-dir` and `--config` values are resolved against this. */
  cwd: string;
  run: ToolRunner;
  /** Where a machine-wide systemd unit goes. @default "/etc/systemd/system" */
  systemUnitDir: string;
  /** A fresh private directory for files that only live during one call (the Windows task XML). */
  makeTempDir(): Promise<string>;
  /**
   * Where Linux's /run, /proc and /.dockerenv are read to tell whether
   * systemd runs; without it the check is skipped.
   */
  systemRoot?: string;
}

/** A tool the service needs is not on PATH. */
export class ToolMissingError extends HarkError {
  override name = "ToolMissingError";
  readonly tool: string;

  constructor(tool: string, hint: string) {
    super(`cannot run ${tool}: it is not on PATH. ${hint}`);
    this.tool = tool;
  }
}

/** A tool that started but did not finish in time. */
export class ToolTimeoutError extends HarkError {
  override name = "ToolTimeoutError";
}

/** What to do when each tool is missing: the mandatory ones say why hark needs them. */
const MISSING_HINTS: Record<string, string> = {
  systemctl: "On Linux, hark service needs systemd. Without it, start `hark run --log-file FILE` " +
    "from your init system or your session's start-up programs.",
  launchctl: "It is part of macOS (/bin/launchctl); check that PATH includes /bin.",
  schtasks: "It is part of Windows (%SystemRoot%\\System32\\schtasks.exe); check that PATH includes System32.",
};

/** Service managers can wait on locks or on polkit; never hang the CLI on them. */
const TOOL_TIMEOUT_MS = 60_000;

const utf8 = new TextDecoder();
const utf16 = new TextDecoder("utf-16le");

/** Tool output is UTF-8, except where a Windows tool writes UTF-16 (with a byte-order mark or NUL high bytes). */
export function decodeOutput(bytes: Uint8Array): string {
  const wide = (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes.length >= 2 && bytes[0] !== 0 && bytes[1] === 0);
  return (wide ? utf16 : utf8).decode(bytes);
}

/** Runs tools found on the PATH that `env` gives, with a deadline. */
export function pathRunner(os: string, env: (name: string) => string | undefined): ToolRunner {
  return async (tool, args) => {
    const path = await findOnPath(tool, { os, path: env("PATH"), pathExt: env("PATHEXT") });
    if (path === undefined) {
      throw new ToolMissingError(tool, MISSING_HINTS[tool] ?? `Install it, or put its directory on PATH.`);
    }
    const deadline = AbortSignal.timeout(TOOL_TIMEOUT_MS);
    const late = () =>
      new ToolTimeoutError(`${tool} ${args.join(" ")} did not finish within ${TOOL_TIMEOUT_MS / 1000} s`);
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command(path, { args, stdin: "null", stdout: "piped", stderr: "piped", signal: deadline })
        .output();
    } catch (error) {
      if (deadline.aborted) throw late();
      throw new HarkError(`cannot run ${path}: ${(error as Error).message}`, { cause: error });
    }
    if (deadline.aborted) throw late();
    if (output.signal !== null) throw new HarkError(`${tool} ${args.join(" ")} was killed by ${output.signal}`);
    return { code: output.code, stdout: decodeOutput(output.stdout), stderr: decodeOutput(output.stderr) };
  };
}

/** This process on this machine. */
export function realHost(): ServiceHost {
  const env = (name: string) => Deno.env.get(name);
  return {
    os: Deno.build.os,
    env,
    uid: Deno.uid(),
    execPath: Deno.execPath(),
    mainModule: Deno.mainModule,
    cwd: Deno.cwd(),
    run: pathRunner(Deno.build.os, env),
    systemUnitDir: "/etc/systemd/system",
    makeTempDir: () => Deno.makeTempDir({ prefix: "hark-service-" }),
    // HARK_SYSTEM_ROOT stands in for / where tests need a machine with (or without) systemd.
    systemRoot: env("HARK_SYSTEM_ROOT") || "/",
  };
}
