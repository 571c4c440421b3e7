/**
 * `hark wrap [send options] -- CMD [ARGS...]`: runs CMD with its output
 * passed through, then publishes one event with its exit status, duration and
 * the tail of its output, and exits with CMD's own exit code.
 */

import type { Command } from "./command.ts";
import { printError } from "./command.ts";
import { draftFromOptions, sendOptions } from "./send.ts";
import { ControlClient } from "../control/client.ts";
import type { ControlReply } from "../control/protocol.ts";
import {
  BODY_MAX_BYTES,
  createEvent,
  type EventDraft,
  MAX_EVENT_BYTES_CEILING,
  TITLE_MAX_CHARS,
} from "../event/event.ts";
import { UsageError } from "../errors.ts";
import { writeAll } from "../util/write_all.ts";
import { cleanTerminalLine } from "../util/controls.ts";
import { LineSplitter, type SplitLine } from "../util/lines.ts";

/** Lines of output the event carries. */
export const TAIL_LINES = 20;
/** Longer lines are cut here (and end in "…"), so memory stays bounded. */
export const LINE_MAX_CHARS = 1024;
/** How long the command's descendants may keep its output pipes open after it exits. */
const DRAIN_GRACE_MS = 2000;
/** A hung agent must not keep `hark wrap` (a cron job, a CI step) from ending. */
const PUBLISH_TIMEOUT_MS = 10_000;
/** `data.command` stays this small, so a long argv cannot push the event over its limit. */
const COMMAND_DATA_MAX_CHARS = 2048;
/** What shells return when a command cannot be found or executed. */
const EXIT_NOT_FOUND = 127;
const EXIT_NOT_EXECUTABLE = 126;

/**
 * Forwarded to the command. On Windows Deno can listen only for SIGINT (and
 * SIGBREAK); SIGHUP is there so that closing the terminal still reports.
 */
const FORWARDED: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM", "SIGHUP"];

export const wrapCommand: Command = {
  name: "wrap",
  usage: "hark wrap [options] -- CMD [ARGS...]",
  help: `Runs CMD (argv, no shell) with stdin, stdout and stderr passed through, then
publishes one event: title "CMD succeeded", "CMD failed (exit N)" or "CMD
killed by SIGTERM (exit 143)", body the
last ${TAIL_LINES} lines of its output (stdout and stderr together), priority 3 on
success and 4 (high) on failure, tags "wrap" and "succeeded" or "failed", and
data {"command": [...], "status": N, "signal": "SIGTERM", "duration_ms": N}.
Exits with CMD's exit code (128+N when a signal ended it, 127 when it cannot
be found, 126 when it cannot be executed; an event is sent for those too).
Ctrl-C, SIGTERM and SIGHUP go to CMD; the event then reports how it ended.
If no agent is running, CMD still runs and one warning says the event was
not sent. CMD's output goes through a pipe, so some tools print no colours.

Options (as for \`hark send\`; put them before --):
  -t, --topic T        topic (default "default")
      --title S        title instead of "CMD succeeded" / "CMD failed (exit N)"
  -p, --priority P     1-5 or min, low, default, high, urgent
                       (default 3 on success, 4 on failure)
      --tag T          a tag, added to "wrap" and "succeeded"/"failed"; repeatable
      --data JSON      a JSON object; wrap adds command, status, signal, duration_ms
      --click URL      URL to open when the notification is clicked
      --ttl DURATION   drop the event after this long, e.g. 10m, 1h

Examples:
  hark wrap -t builds -- make test
  crontab:   0 3 * * *  hark wrap -t backups --tag nightly -- /usr/local/bin/backup.sh
  CI step:   hark wrap -t ci --click "$CI_JOB_URL" -- npm test`,
  options: sendOptions,
  async run({ global, values, positionals }) {
    const argv = positionals;
    if (argv.length === 0) {
      throw new UsageError("wrap needs a command after --, e.g. `hark wrap -t builds -- make test`");
    }
    const base = draftFromOptions(values);
    if (base.data !== undefined && (typeof base.data !== "object" || base.data === null || Array.isArray(base.data))) {
      throw new UsageError("wrap: --data must be a JSON object; wrap adds command, status and duration_ms to it");
    }
    // Check the options before CMD runs: a typo in -p must not cost an hour
    // of build and then lose the event. The agent checks again when it ends.
    createEvent(
      buildDraft(base, { argv, status: 1, durationMs: 0, lines: ["x".repeat(BODY_MAX_BYTES)] }),
      { id: "00000000000000000000000000", now: Date.now(), host: "localhost", peer: "self" },
      { maxEventBytes: MAX_EVENT_BYTES_CEILING },
    );

    const outcome = await runPassingThrough(argv);
    if (outcome.error) printError(`hark: ${outcome.error}`);
    const draft = buildDraft(base, { ...outcome, argv });
    try {
      const reply = await publish(global.stateDir, draft);
      if (reply.recipients === 0 && !reply.local) {
        printError(`hark: note: no agent subscribes to topic "${draft.topic ?? "default"}" right now`);
      }
    } catch (error) {
      printError(`hark: warning: the event about ${JSON.stringify(argv[0])} was not sent: ${(error as Error).message}`);
    }
    return outcome.status;
  },
};

/** How the command ended. */
export interface Outcome {
  /** The exit code `hark wrap` returns: CMD's, 128+N for signal N, 126/127 when it could not start. */
  status: number;
  signal?: Deno.Signal;
  durationMs: number;
  /** The last lines of its output, oldest first. */
  lines: string[];
  /** Why it could not start. */
  error?: string;
}

/**
 * Runs `argv` with stdin inherited and stdout/stderr copied through chunk by
 * chunk as they come, keeping the last lines of both in a bounded tail.
 */
export async function runPassingThrough(argv: string[]): Promise<Outcome> {
  const start = performance.now();
  let child: Deno.ChildProcess | undefined;
  const atTerminal = Deno.stdin.isTerminal() || Deno.stderr.isTerminal();
  const forward = (signal: Deno.Signal) => () => {
    if (signal === "SIGINT" && atTerminal) return;
    try {
      child?.kill(signal);
    } catch {
      // It has already exited.
    }
  };
  // Listening replaces the default action (exit), so hark outlives the
  // signal and reports how CMD ended. At a terminal, Ctrl-C already reaches
  // CMD from the terminal (hark and CMD share its process group); a second
  // SIGINT from hark would mean "force quit" to tools such as
  // `docker compose up`, so hark then only survives it instead of relaying.
  const listeners = FORWARDED.map((signal) => ({ signal, handler: forward(signal) }));
  for (const { signal, handler } of listeners) Deno.addSignalListener(signal, handler);
  try {
    try {
      child = new Deno.Command(argv[0], { args: argv.slice(1), stdin: "inherit", stdout: "piped", stderr: "piped" })
        .spawn();
    } catch (error) {
      const notFound = error instanceof Deno.errors.NotFound;
      const why = notFound ? "command not found" : (error as Error).message.replace(/^Failed to spawn '.*?': /, "");
      return {
        status: notFound ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE,
        durationMs: Math.round(performance.now() - start),
        lines: [],
        error: `cannot run ${JSON.stringify(argv[0])}: ${why}`,
      };
    }
    const tail = new Tail(TAIL_LINES);
    const pumps = [pump(child.stdout, Deno.stdout, tail), pump(child.stderr, Deno.stderr, tail)];
    const status = await child.status;
    const durationMs = Math.round(performance.now() - start);
    // A daemon CMD started (a build server) may hold the pipes open for
    // hours; give the rest of the output a moment, then stop reading.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), DRAIN_GRACE_MS));
    const drained = await Promise.race([Promise.all(pumps.map((p) => p.done)), grace]);
    clearTimeout(timer);
    if (drained === "late") {
      for (const p of pumps) await p.cancel();
    }
    return { status: status.code, signal: status.signal ?? undefined, durationMs, lines: tail.lines() };
  } finally {
    for (const { signal, handler } of listeners) Deno.removeSignalListener(signal, handler);
  }
}

/** Copies `stream` to `out` as it comes and feeds its lines into `tail`. */
function pump(
  stream: ReadableStream<Uint8Array>,
  out: { write(p: Uint8Array): Promise<number> },
  tail: Tail,
): { done: Promise<void>; cancel(): Promise<void> } {
  const reader = stream.getReader();
  const lines = tail.splitter();
  const done = (async () => {
    let writable = true;
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        if (writable) {
          try {
            await writeAll(out, value);
          } catch {
            // A closed stdout (`hark wrap -- make | head`) must not stop CMD
            // or the report: keep draining so CMD never blocks on a full pipe.
            writable = false;
          }
        }
        lines.feed(value);
      }
    } catch {
      // Cancelled after the grace period.
    }
    lines.flush();
  })();
  return {
    done,
    cancel: async () => {
      await reader.cancel().catch(() => {});
      await done;
    },
  };
}

/**
 * The last `max` lines of one or more interleaved streams. Each stream has
 * its own splitter, so stdout and stderr never mix inside a line.
 */
export class Tail {
  readonly #max: number;
  #lines: string[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  splitter(): TerminalLines {
    return new TerminalLines((line) => {
      this.#lines.push(line);
      if (this.#lines.length > this.#max) this.#lines.shift();
    });
  }

  lines(): string[] {
    return [...this.#lines];
  }
}

/**
 * Bytes kept of a line: a UTF-16 unit is at most 3 bytes of UTF-8, so 4 per
 * character hold the `LINE_MAX_CHARS` the line is cut to, with room for a
 * character the byte cap splits.
 */
const LINE_MAX_BYTES = 4 * LINE_MAX_CHARS;

/** The stream's first line: a byte order mark at the very start is not text. */
const firstDecoder = new TextDecoder();
/** A U+FEFF further on is the command's own output. */
const laterDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Splits output into lines the way a terminal shows them: "\n" and "\r\n"
 * end a line, a lone "\r" starts it over (progress bars), colour codes and
 * other control characters are dropped, and a line is cut at
 * `LINE_MAX_CHARS`.
 */
export class TerminalLines {
  readonly #emit: (line: string) => void;
  readonly #splitter = new LineSplitter(LINE_MAX_BYTES, "truncate-at-end", { carriageReturn: true });
  /** The line so far: what came after its last "\r". */
  #shown = "";
  #first = true;

  constructor(emit: (line: string) => void) {
    this.#emit = emit;
  }

  feed(chunk: Uint8Array): void {
    for (const piece of this.#splitter.push(chunk)) this.#take(piece);
  }

  /** Emits the last line when it has no newline. */
  flush(): void {
    const last = this.#splitter.flush();
    if (last) this.#take(last);
    if (this.#shown !== "") this.#end();
  }

  #take({ bytes, end }: SplitLine): void {
    const text = (this.#first ? firstDecoder : laterDecoder).decode(bytes);
    this.#first = false;
    // Nothing between two ends ("\r\n", "\r\r") leaves the line as it was.
    if (text !== "") this.#shown = text;
    if (end === "\n") this.#end();
  }

  #end(): void {
    this.#emit(cutLine(this.#shown));
    this.#shown = "";
  }
}

function cutLine(text: string): string {
  if (text.length <= LINE_MAX_CHARS) return cleanLine(text);
  // Never split a surrogate pair.
  const keep = /[\uD800-\uDBFF]/.test(text[LINE_MAX_CHARS - 1]) ? LINE_MAX_CHARS - 1 : LINE_MAX_CHARS;
  return cleanLine(text.slice(0, keep)) + "…";
}

/** Drops ANSI escape sequences (colours, cursor moves) and other control characters but tab. */
function cleanLine(line: string): string {
  return cleanTerminalLine(line, "");
}

const encoder = new TextEncoder();

/** The last lines that fit in `maxBytes` together; a last line too long on its own keeps its beginning. */
export function fitLines(lines: string[], maxBytes: number = BODY_MAX_BYTES): string {
  const kept: string[] = [];
  let bytes = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const size = encoder.encode(lines[i]).length + (kept.length > 0 ? 1 : 0);
    if (bytes + size > maxBytes) break;
    kept.unshift(lines[i]);
    bytes += size;
  }
  if (kept.length === 0 && lines.length > 0) {
    let last = lines[lines.length - 1];
    while (encoder.encode(last).length > maxBytes) last = last.slice(0, -1);
    kept.push(last);
  }
  return kept.join("\n");
}

/** The event for one run: options from the command line win over the defaults. */
export function buildDraft(
  base: EventDraft,
  run: { argv: string[]; status: number; signal?: Deno.Signal; durationMs: number; lines: string[]; error?: string },
): EventDraft {
  const failed = run.status !== 0;
  const outcome = run.error
    ? `could not start (exit ${run.status})`
    : run.signal
    ? `killed by ${run.signal} (exit ${run.status})`
    : failed
    ? `failed (exit ${run.status})`
    : "succeeded";
  const tags = [...(base.tags ?? [])];
  for (const tag of ["wrap", failed ? "failed" : "succeeded"]) if (!tags.includes(tag)) tags.push(tag);
  const data: Record<string, unknown> = { ...(base.data as Record<string, unknown> | undefined) };
  const command = boundedArgv(run.argv);
  data.command = command;
  if (command.length < run.argv.length || command.some((arg, i) => arg !== run.argv[i])) data.command_truncated = true;
  data.status = run.status;
  if (run.signal) data.signal = run.signal;
  else delete data.signal;
  data.duration_ms = run.durationMs;
  if (run.error) data.error = run.error;
  return {
    ...base,
    title: base.title ?? fitTitle(displayCommand(run.argv), outcome),
    body: fitLines(run.error ? [...run.lines, run.error] : run.lines),
    priority: base.priority ?? (failed ? 4 : 3),
    tags,
    data,
  };
}

/** `make test`: the program's base name and its arguments, quoted as a shell would need. */
function displayCommand(argv: string[]): string {
  const program = argv[0].split(/[\\/]/).pop() || argv[0];
  return [program, ...argv.slice(1)].map(quote).join(" ");
}

function quote(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

function fitTitle(command: string, outcome: string): string {
  const room = TITLE_MAX_CHARS - outcome.length - 1;
  const shown = command.length <= room ? command : command.slice(0, room - 1) + "…";
  return `${shown} ${outcome}`;
}

/** The argv for `data.command`, cut to `COMMAND_DATA_MAX_CHARS` in total. */
function boundedArgv(argv: string[]): string[] {
  const kept: string[] = [];
  let total = 0;
  for (const arg of argv) {
    const room = COMMAND_DATA_MAX_CHARS - total;
    if (room <= 0) break;
    const value = arg.length <= room ? arg : arg.slice(0, room);
    kept.push(value);
    total += value.length;
  }
  return kept;
}

/** Sends the draft through the local agent, like `hark send`, with a deadline. */
async function publish(stateDir: string, draft: EventDraft): Promise<ControlReply> {
  await using client = await ControlClient.connect(stateDir);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    client.close();
  }, PUBLISH_TIMEOUT_MS);
  try {
    return await client.request({ op: "send", event: draft });
  } catch (error) {
    if (timedOut) throw new Error(`the agent did not answer within ${PUBLISH_TIMEOUT_MS / 1000} s`, { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
