/**
 * Logging through LogTape: to stderr (stdout belongs to the stdout sink and
 * to command output that scripts parse), or, for an agent run as a service,
 * to a file that rotates by size.
 */

import { configureSync, getTextFormatter, type LogLevel, type LogRecord, resetSync, type Sink } from "@logtape/logtape";
import { getRotatingFileSink } from "@logtape/file";
import { UsageError } from "./errors.ts";
import { cleanForTerminal } from "./util/controls.ts";

export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

const encoder = new TextEncoder();
const text = getTextFormatter({ timestamp: "rfc3339", level: "ABBR", value: "bare" });
/** Log records quote peers' host names and servers' errors: cleaned like the CLI's output, one record per line. */
const format = (record: LogRecord): string => cleanForTerminal(text(record).replace(/\n$/, "")) + "\n";

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

/** A log file rotates at this size… */
export const LOG_FILE_MAX_BYTES = 10 * 1024 * 1024;
/** …keeping this many old ones (hark.log.1 … hark.log.5). */
export const LOG_FILES_KEPT = 5;

/**
 * Sends hark's log records at `level` and above to stderr, or to `file`
 * (rotated at 10 MiB, five old files kept). Written line by line, so a crash
 * loses no line before it.
 */
export function setupLogging(level: LogLevel, file?: string, maxBytes = LOG_FILE_MAX_BYTES): void {
  resetSync();
  const sink: Sink = file
    ? getRotatingFileSink(file, {
      formatter: format,
      maxSize: maxBytes,
      maxFiles: LOG_FILES_KEPT,
      bufferSize: 0,
    })
    : stderrSink;
  configureSync({
    sinks: { out: sink },
    loggers: [
      { category: ["hark"], lowestLevel: level, sinks: ["out"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["out"] },
    ],
  });
}
