/**
 * Logging through LogTape, always to stderr: stdout belongs to the stdout
 * sink and to command output that scripts parse.
 */

import { configureSync, getTextFormatter, type LogLevel, type LogRecord, resetSync } from "@logtape/logtape";
import { UsageError } from "./errors.ts";

export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

const encoder = new TextEncoder();
const format = getTextFormatter({ timestamp: "rfc3339", level: "ABBR", value: "bare" });

function stderrSink(record: LogRecord): void {
  try {
    Deno.stderr.writeSync(encoder.encode(format(record)));
  } catch {
    // stderr closed: nowhere left to report to.
  }
}

/** Checks a `--log-level` value; `warn` is accepted for `warning`. */
export function parseLogLevel(text: string): LogLevel {
  const level = text === "warn" ? "warning" : text;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`invalid --log-level "${text}": use ${LOG_LEVELS.join(", ")}`);
  }
  return level as LogLevel;
}

/** Sends hark's log records at `level` and above to stderr. */
export function setupLogging(level: LogLevel): void {
  resetSync();
  configureSync({
    sinks: { stderr: stderrSink },
    loggers: [
      { category: ["hark"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}
