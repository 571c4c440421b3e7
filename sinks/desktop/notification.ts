/**
 * What every desktop backend (Linux D-Bus, macOS, Windows) shows, and how a
 * backend runs a helper program. Backends build a `Run` with a pure function
 * so tests can check the exact argv, env and stdin without a desktop.
 */

import type { DesktopAction } from "../../lib/event/actions.ts";
import { stripControlsKeepingLines } from "../../lib/util/controls.ts";

export type Urgency = "low" | "normal" | "critical";

export interface Notification {
  summary: string;
  body: string;
  urgency: Urgency;
  /** From the event's first tag. */
  category?: string;
  /** An http, https or mailto URL, already validated by the event model. */
  click?: string;
  /**
   * Buttons (ntfy's view and http actions), already validated by the event
   * model; backends without buttons leave them out. A broadcast never gets here.
   */
  actions?: DesktopAction[];
  /**
   * From the event's sequence (its notification, per topic) or `data.replaces`:
   * a later notification with the same key replaces this one, and a clear
   * or delete of it closes it.
   */
  replacesKey?: string;
  /** Publishes an acknowledgement of this notification: an "Acknowledge" button where the backend has buttons. */
  acknowledge?: () => void;
  expireMs?: number;
  /** A freedesktop sound name to play, for a repeated reminder; backends without sounds leave it out. */
  sound?: string;
}

/** Maps ntfy's priority scale: 1–2 low, 3 normal, 4–5 critical. */
export function urgencyOf(priority: 1 | 2 | 3 | 4 | 5): Urgency {
  return priority <= 2 ? "low" : priority === 3 ? "normal" : "critical";
}

/** A program run: argv (no shell), env additions, stdin text. */
export interface Run {
  argv: string[];
  env?: Record<string, string>;
  stdin?: string;
}

/**
 * Runs a program and collects its exit code and output. Rejects with
 * `Deno.errors.NotFound` when the program does not exist, and with the
 * signal's reason (a `TimeoutError` for the built-in deadline) when the run
 * is cut short; the program is killed then.
 */
export type Runner = (run: Run, signal?: AbortSignal) => Promise<{ code: number; stdout: string; stderr: string }>;

const RUN_TIMEOUT_MS = 10_000;
/** Helpers print a line or two; more than this is noise and is cut. */
const OUTPUT_MAX_CHARS = 64 * 1024;

/** `Deno.Command` with a 10 s deadline on top of the caller's `signal`. */
export const denoRunner: Runner = async (run, signal) => {
  const [program, ...args] = run.argv;
  const deadline = new AbortController();
  // A plain timer, cleared in `finally`, keeps the test sanitizers quiet.
  const timer = setTimeout(
    () => deadline.abort(new DOMException(`${program} timed out after ${RUN_TIMEOUT_MS / 1000} s`, "TimeoutError")),
    RUN_TIMEOUT_MS,
  );
  const stop = () => deadline.abort(signal?.reason);
  signal?.addEventListener("abort", stop, { once: true });
  try {
    signal?.throwIfAborted();
    const child = new Deno.Command(program, {
      args,
      env: run.env,
      stdin: run.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      signal: deadline.signal,
    }).spawn();
    if (run.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      // A program that exits without reading its stdin breaks the pipe; its
      // exit code tells what happened.
      await writer.write(new TextEncoder().encode(run.stdin)).catch(() => {});
      await writer.close().catch(() => {});
    }
    const output = await child.output();
    if (deadline.signal.aborted) throw deadline.signal.reason;
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout).slice(0, OUTPUT_MAX_CHARS),
      stderr: decoder.decode(output.stderr).slice(0, OUTPUT_MAX_CHARS),
    };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
  }
};

/**
 * Event text made safe to hand to a notifier program (terminal-notifier, a
 * toast script): NUL cannot be in argv or the environment, other controls
 * and bidi overrides become U+FFFD, lone surrogates are repaired, and the
 * text is capped at `maxChars` without cutting a surrogate pair.
 * `multiline` keeps newlines, otherwise they become spaces; tabs become spaces.
 */
export function textForProgram(text: string, maxChars: number, multiline: boolean): string {
  const lines = stripControlsKeepingLines(text.toWellFormed()).replaceAll("\t", " ");
  let clean = multiline ? lines : lines.replaceAll("\n", " ");
  if (clean.length > maxChars) {
    clean = clean.slice(0, maxChars - 1);
    if (/[\ud800-\udbff]$/.test(clean)) clean = clean.slice(0, -1);
    clean += "…";
  }
  return clean;
}
