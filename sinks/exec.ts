/**
 * Runs a program for each event (SPEC "Exec sink contract"): argv from the
 * config, never a shell; the event JSON on stdin; `HARK_*` variables in the
 * environment; output captured up to a cap and written to the agent log; a
 * run over its timeout is killed; at most `concurrency` runs at a time.
 *
 * Environment of a run, besides the agent's own:
 *
 * | variable        | value                                              |
 * | --------------- | -------------------------------------------------- |
 * | `HARK_ID`       | event id (ULID)                                    |
 * | `HARK_TOPIC`    | topic                                              |
 * | `HARK_TITLE`    | title                                              |
 * | `HARK_BODY`     | body                                               |
 * | `HARK_PRIORITY` | 1-5                                                |
 * | `HARK_TAGS`     | tags joined with `,` (tags never hold a comma)     |
 * | `HARK_TIME`     | RFC 3339 UTC with milliseconds                     |
 * | `HARK_HOST`     | source host                                        |
 * | `HARK_PEER`     | source peer id (the verified signer)               |
 * | `HARK_CLICK`    | click URL, or empty                                |
 * | `HARK_USER`     | source user, or empty                              |
 * | `HARK_REPEAT`   | `1` if this event's run may have started before a crash of the agent, else `0` |
 * | `HARK_SEQUENCE` | the notification's key: its sequence, or its id    |
 * | `HARK_KIND`     | `message`, or `clear` / `delete` (an ack or a deletion of HARK_SEQUENCE) |
 *
 * `deliver()` returns as soon as the run has started, so the router can hand
 * over the next event while runs proceed in parallel (Serf ran its handlers
 * inside the event loop; a slow script stalled everything). The result of a
 * run is logged and counted in `stats()` in the background; the router
 * counts the event done when the run is over, so after a crash of the agent
 * only the runs going at that moment (at most `concurrency`) run again,
 * with `HARK_REPEAT=1`.
 *
 * Killing: on Unix every run is started with `Deno.Command`'s `detached`
 * option, which makes the child call setsid(): it leads a new session and
 * process group whose id is its pid. A timeout sends SIGTERM to that whole
 * group (`kill(-pgid)`), so whatever a script started in the background dies
 * with it, and SIGKILL 2 s later to whatever is left. A process that calls
 * setsid() itself leaves the group on purpose and is not followed. On
 * Windows there are no process groups: only the program itself is
 * terminated (TerminateProcess); programs it started keep running.
 */

import process from "node:process";
import { getLogger } from "@logtape/logtape";
import type { HarkEvent } from "../lib/event/event.ts";
import { ConfigError, HarkError } from "../lib/errors.ts";
import type { DeliverOptions, Running, Sink } from "./sink.ts";
import { stripControls } from "./format.ts";

const log = getLogger(["hark", "sink", "exec"]);
const encoder = new TextEncoder();

/** How long a timed-out run gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 2_000;
/** @default for `outputCapBytes` */
export const OUTPUT_CAP_DEFAULT = 8192;

const IS_WINDOWS = Deno.build.os === "windows";

export interface ExecSinkInit {
  /** argv; `command[0]` is the program, found on PATH unless it holds a slash. Never a shell. */
  command: string[];
  /** A run longer than this is killed, with its whole process group. */
  timeoutMs: number;
  /** Runs at the same time; `deliver()` waits for a free slot. */
  concurrency: number;
  /** Warn once about a run still going after this long. @default timeoutMs / 2 */
  slowMs?: number;
  /** stdout and stderr are each kept up to this many bytes for the log. @default 8192 */
  outputCapBytes?: number;
  /** Extra environment under the `HARK_*` variables (which win), over the agent's own. */
  env?: Record<string, string>;
}

/** Counters for `hark status` (a type, not an interface, so it fits `Sink.stats()`'s record). */
export type ExecStats = {
  /** Runs going now. */
  running: number;
  /** Runs started since the sink was made. */
  started: number;
  /** Runs that exited with code 0. */
  succeeded: number;
  /** Runs that exited non-zero or were killed by a signal (timeouts are counted apart). */
  failed: number;
  /** Runs killed for taking longer than the timeout. */
  timed_out: number;
  last_exit_code?: number;
  last_duration_ms?: number;
  /** Why the last run failed, or why the program could not be started. */
  last_error?: string;
};

/** The program could not be started, or the sink was used after `close()`. */
export class ExecSinkError extends HarkError {
  override name = "ExecSinkError";
}

/**
 * The `HARK_*` variables for an event. Pure: no agent environment.
 *
 * The values are passed to the program directly (no shell reads them), so
 * quotes, `$(...)`, backticks or `%VAR%` in event text stay text. A program
 * that pastes them into a shell command line unquoted is on its own. An
 * environment string cannot hold NUL, so NUL (and a lone surrogate, which
 * has no UTF-8 form) becomes U+FFFD here; stdin carries the exact event.
 */
export function execEnvironment(event: HarkEvent, repeat = false): Record<string, string> {
  const env: Record<string, string> = {
    HARK_ID: event.id,
    HARK_TOPIC: event.topic,
    HARK_TITLE: event.title,
    HARK_BODY: event.body,
    HARK_PRIORITY: String(event.priority),
    HARK_TAGS: event.tags.join(","),
    HARK_TIME: event.time,
    HARK_HOST: event.source.host,
    HARK_PEER: event.source.peer,
    HARK_CLICK: event.click ?? "",
    HARK_USER: event.source.user ?? "",
    HARK_REPEAT: repeat ? "1" : "0",
    HARK_SEQUENCE: event.sequence ?? event.id,
    HARK_KIND: event.kind ?? "message",
  };
  for (const key of Object.keys(env)) env[key] = env[key].toWellFormed().replaceAll("\0", "\uFFFD");
  return env;
}

interface Waiter {
  grant: () => void;
  refuse: (reason: unknown) => void;
}

export class ExecSink implements Sink {
  readonly name: string;
  readonly marksRepeats = true;
  #init: ExecSinkInit;
  #slowMs: number;
  #cap: number;
  /** Slots taken: runs going plus deliveries between getting a slot and spawning. */
  #busy = 0;
  #waiters: Waiter[] = [];
  #runs = new Set<Promise<void>>();
  /** Writes to stdin still pending after their run ended; see `#supervise`. */
  #stragglers = new Set<Promise<void>>();
  #closing?: Promise<void>;
  #stats: ExecStats = { running: 0, started: 0, succeeded: 0, failed: 0, timed_out: 0 };

  constructor(init: ExecSinkInit) {
    if (!Array.isArray(init.command) || init.command.length === 0 || !init.command[0]) {
      throw new ConfigError(`exec sink: command must name a program, e.g. command = ["/path/to/program", "arg"]`);
    }
    if (!(init.timeoutMs > 0)) throw new ConfigError(`exec sink: timeout must be positive, not ${init.timeoutMs}`);
    if (!Number.isInteger(init.concurrency) || init.concurrency < 1) {
      throw new ConfigError(`exec sink: concurrency must be a whole number from 1, not ${init.concurrency}`);
    }
    this.#init = { ...init, command: [...init.command], env: { ...init.env } };
    this.#slowMs = init.slowMs ?? init.timeoutMs / 2;
    this.#cap = init.outputCapBytes ?? OUTPUT_CAP_DEFAULT;
    this.name = `exec:${init.command[0]}`;
  }

  /**
   * Waits for a free slot, starts the program and returns once it runs.
   * Throws only when the program cannot be started (or `signal` aborts the
   * wait, or the sink is closed): the router then retries the event.
   */
  async deliver(event: HarkEvent, options: DeliverOptions): Promise<Running> {
    await this.#acquire(options.signal);
    let child: Deno.ChildProcess;
    try {
      if (this.#closing) throw this.#closedError();
      child = this.#spawn(event, options.repeat ?? false);
    } catch (error) {
      this.#release();
      throw error;
    }
    this.#stats.started++;
    this.#stats.running++;
    const over = new RunOver();
    const run = this.#supervise(child, event).catch((error) => {
      log.error("Exec sink {sink} lost track of a run for event {id}: {error}", {
        sink: this.name,
        id: event.id,
        error: (error as Error).message,
      });
    }).finally(() => {
      this.#stats.running--;
      this.#runs.delete(run);
      // Before the slot goes to the next run: a crash in between must not find more runs than `concurrency` unrecorded.
      over.end();
      this.#release();
    });
    this.#runs.add(run);
    return over;
  }

  stats(): ExecStats {
    return { ...this.#stats };
  }

  /**
   * Stops taking events and waits for the runs going, each up to its own
   * timeout (then it is killed). Idempotent: every call waits for the same.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      for (const waiter of this.#waiters.splice(0)) waiter.refuse(this.#closedError());
      this.#closing = (async () => {
        while (this.#runs.size > 0) await Promise.all(this.#runs);
        if (this.#stragglers.size === 0) return;
        // Writes to a stdin held open elsewhere: they end with that process, which may never happen.
        const grace = timer(KILL_GRACE_MS);
        await Promise.race([Promise.all(this.#stragglers), grace.promise]);
        grace.cancel();
      })();
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #closedError(): ExecSinkError {
    return new ExecSinkError(`exec sink ${this.name} is closed`);
  }

  #acquire(signal: AbortSignal): Promise<void> {
    if (this.#closing) return Promise.reject(this.#closedError());
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#busy < this.#init.concurrency && this.#waiters.length === 0) {
      this.#busy++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((item) => item !== waiter);
        reject(signal.reason);
      };
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        refuse: (reason) => {
          signal.removeEventListener("abort", onAbort);
          reject(reason);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Hands the slot to the next waiter, or frees it. */
  #release(): void {
    const next = this.#waiters.shift();
    if (next) next.grant();
    else this.#busy--;
  }

  #spawn(event: HarkEvent, repeat: boolean): Deno.ChildProcess {
    const [program, ...args] = this.#init.command;
    try {
      return new Deno.Command(program, {
        args,
        // Merged over the agent's environment; the HARK_* variables win over `init.env`.
        env: { ...this.#init.env, ...execEnvironment(event, repeat) },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        // setsid() in the child: it leads its own process group, so a timeout can kill all it started.
        detached: !IS_WINDOWS,
      }).spawn();
    } catch (error) {
      const failure = spawnError(program, error);
      this.#stats.last_error = failure.message;
      throw failure;
    }
  }

  /** Feeds stdin, captures output, enforces the timeout, then logs and counts the result. */
  async #supervise(child: Deno.ChildProcess, event: HarkEvent): Promise<void> {
    const started = performance.now();
    const program = this.#init.command[0];
    const context = { sink: this.name, program, id: event.id, pid: child.pid };
    const input = feed(child.stdin, encoder.encode(JSON.stringify(event)));
    const stdout = capture(child.stdout, this.#cap);
    const stderr = capture(child.stderr, this.#cap);
    // A run is over when the program has exited and nothing holds its output open any more.
    const finished = Promise.all([child.status, stdout.done, stderr.done]).then(() => "finished" as const);

    const slowTimer = this.#slowMs < this.#init.timeoutMs
      ? setTimeout(() => {
        log.warn("Exec {program} for event {id} is still running after {ms} ms (pid {pid})", {
          ...context,
          ms: Math.round(performance.now() - started),
        });
      }, this.#slowMs)
      : undefined;
    const deadline = timer(this.#init.timeoutMs);
    const first = await Promise.race([finished, deadline.promise]);
    deadline.cancel();
    clearTimeout(slowTimer);

    const timedOut = first === "elapsed";
    if (timedOut) await this.#kill(child, finished, [stdout, stderr]);
    const status = await child.status;
    if (!input.settled()) {
      // Only a process that left the group (or, on Windows, any child) can
      // still hold stdin open without reading it. A pending pipe write cannot
      // be called off (abort waits for it), so it is left to fail when that
      // process exits, and the run is counted as over now.
      log.debug("Exec {program} for event {id}: stdin is still held open by a process it started", context);
      this.#stragglers.add(input.done);
      input.done.then(() => this.#stragglers.delete(input.done));
    }
    const durationMs = Math.round(performance.now() - started);

    this.#stats.last_exit_code = status.code;
    this.#stats.last_duration_ms = durationMs;
    const output = formatOutput(stdout.result(), stderr.result());
    const fields = { ...context, ms: durationMs, code: status.code, signal: status.signal, output };
    if (timedOut) {
      this.#stats.timed_out++;
      this.#stats.last_error = `timed out after ${this.#init.timeoutMs} ms and was killed`;
      log.warn("Exec {program} for event {id} timed out after {ms} ms and was killed{output}", fields);
    } else if (status.success) {
      this.#stats.succeeded++;
      if (output) log.info("Exec {program} for event {id} exited with code 0 after {ms} ms{output}", fields);
      else log.debug("Exec {program} for event {id} exited with code 0 after {ms} ms", fields);
    } else if (status.signal) {
      this.#stats.failed++;
      this.#stats.last_error = `killed by ${status.signal}`;
      log.warn("Exec {program} for event {id} was killed by {signal} after {ms} ms{output}", fields);
    } else {
      this.#stats.failed++;
      this.#stats.last_error = `exited with code ${status.code}`;
      log.warn("Exec {program} for event {id} exited with code {code} after {ms} ms{output}", fields);
    }
  }

  /**
   * SIGTERM to the run's process group; SIGKILL after the grace period to
   * what is left. Then stops reading output that something outside the group
   * may still hold open, so the run ends.
   */
  async #kill(child: Deno.ChildProcess, finished: Promise<unknown>, outputs: Captured[]): Promise<void> {
    const pgid = child.pid;
    if (IS_WINDOWS) {
      signal(child, "SIGTERM");
    } else {
      signalGroup(pgid, "SIGTERM");
      const grace = timer(KILL_GRACE_MS);
      const first = await Promise.race([finished, grace.promise]);
      // The program and its output are done, but members that closed their
      // output may still be alive (ignoring SIGTERM): they get the full grace.
      if (first === "finished" && groupAlive(pgid)) await grace.promise;
      grace.cancel();
      if (groupAlive(pgid)) signalGroup(pgid, "SIGKILL");
    }
    await child.status;
    for (const output of outputs) output.cancel();
    await Promise.all(outputs.map((output) => output.done));
  }
}

/** A run's end, told synchronously to whoever waits for it. */
class RunOver implements Running {
  #over = false;
  #waiting: (() => void)[] = [];

  whenOver(done: () => void): void {
    if (this.#over) done();
    else this.#waiting.push(done);
  }

  end(): void {
    this.#over = true;
    for (const done of this.#waiting.splice(0)) {
      try {
        done();
      } catch (error) {
        log.error("After an exec run: {error}", { error: (error as Error).message });
      }
    }
  }
}

/** Names the program and what to check: the error a user sees in `hark status`. */
function spawnError(program: string, error: unknown): ExecSinkError {
  let why = (error as Error).message;
  if (error instanceof Deno.errors.NotFound) {
    why = program.includes("/") || program.includes("\\")
      ? "no such file; check the path in the exec sink's command and, for a script, its #! interpreter"
      : "not found on PATH; check the exec sink's command (an absolute path is safest)";
  } else if (error instanceof Deno.errors.PermissionDenied) {
    why = "permission denied; check that it is executable (chmod +x) and that the agent's user may run it";
  }
  return new ExecSinkError(`Cannot run exec sink program "${program}": ${why}`, { cause: error });
}

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    child.kill(name);
  } catch {
    // Already gone.
  }
}

/** Signals every process in the group; a negative pid addresses the group. */
function signalGroup(pgid: number, name: Deno.Signal): void {
  try {
    Deno.kill(-pgid, name);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

/**
 * Whether any process (zombies included) is still in the group. While one
 * is, the kernel does not hand the group id to anyone else, so signalling it
 * cannot reach an unrelated process.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function timer(ms: number): { promise: Promise<"elapsed">; cancel: () => void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  let done!: (value: "elapsed") => void;
  const promise = new Promise<"elapsed">((resolve) => {
    done = resolve;
    id = setTimeout(() => resolve("elapsed"), ms);
  });
  return {
    promise,
    cancel: () => {
      clearTimeout(id);
      // Resolving lets anyone still waiting on it go on; a later resolve is a no-op.
      done("elapsed");
    },
  };
}

/**
 * Writes the event to stdin and closes it; a program that exits without
 * reading it is fine. `settled` tells whether the write is over.
 */
function feed(stdin: WritableStream<Uint8Array>, bytes: Uint8Array): { done: Promise<void>; settled: () => boolean } {
  const writer = stdin.getWriter();
  let settled = false;
  const done = (async () => {
    try {
      await writer.write(bytes);
      await writer.close();
    } catch {
      // Broken pipe: the program closed stdin or exited, which it may.
      await writer.abort().catch(() => {});
    } finally {
      settled = true;
    }
  })();
  return { done, settled: () => settled };
}

interface Captured {
  done: Promise<void>;
  cancel: () => void;
  result: () => { text: string; more: number };
}

/** Reads a stream to its end, keeping the first `cap` bytes and counting the rest. */
function capture(stream: ReadableStream<Uint8Array>, cap: number): Captured {
  const reader = stream.getReader();
  const kept = new Uint8Array(cap);
  let length = 0;
  let more = 0;
  const done = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        const room = Math.min(cap - length, value.length);
        kept.set(value.subarray(0, room), length);
        length += room;
        more += value.length - room;
      }
    } catch {
      // Cancelled or the pipe failed: what was read so far is the output.
    }
  })();
  return {
    done,
    cancel: () => void reader.cancel().catch(() => {}),
    result: () => ({ text: new TextDecoder().decode(kept.subarray(0, length)), more }),
  };
}

/**
 * The captured output for the log, one `stdout |` or `stderr |` line per
 * line. Output may echo event text from other machines, so control
 * characters are replaced and no line can pass for a log record of its own.
 */
export function formatOutput(
  stdout: { text: string; more: number },
  stderr: { text: string; more: number },
): string {
  let text = "";
  for (const [label, { text: captured, more }] of [["stdout", stdout], ["stderr", stderr]] as const) {
    if (captured === "" && more === 0) continue;
    for (const line of captured.replace(/\r?\n$/, "").split(/\r?\n/)) text += `\n  ${label} | ${stripControls(line)}`;
    if (more > 0) text += `\n  ${label} … ${more} more bytes`;
  }
  return text;
}
