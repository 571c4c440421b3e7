/**
 * Named errors. Library code throws these; only `main.ts` prints them and
 * picks the exit code, so every failure reaches the user as one clear line.
 */

/** Exit codes from SPEC: 0 ok, 1 runtime failure, 2 usage error, 3 no agent. */
export const ExitCode = { ok: 0, failure: 1, usage: 2, noAgent: 3 } as const;

/** A failure the user can fix; `exitCode` says how `main.ts` ends. */
export class HarkError extends Error {
  override name = "HarkError";
  exitCode: number = ExitCode.failure;
}

/** Bad command line: unknown flag, missing argument, invalid value. */
export class UsageError extends HarkError {
  override name = "UsageError";
  override exitCode: number = ExitCode.usage;
}

/** The config file or environment holds something invalid. */
export class ConfigError extends HarkError {
  override name = "ConfigError";
  override exitCode: number = ExitCode.usage;
}

/** An event breaks a rule of the event model (size, topic, priority...). */
export class EventError extends HarkError {
  override name = "EventError";
  override exitCode: number = ExitCode.usage;
}

/** The state dir cannot be created, written or is too open. */
export class StateDirError extends HarkError {
  override name = "StateDirError";
}

/** No agent answers on the control socket. */
export class NoAgentError extends HarkError {
  override name = "NoAgentError";
  override exitCode: number = ExitCode.noAgent;
}

/** The agent answered a control request with an error. */
export class AgentReplyError extends HarkError {
  override name = "AgentReplyError";
}
