/**
 * The `fifo` source: a named pipe that any local program, privileged or not,
 * can write events into, one line each (`echo "New station:|$IP" >> /tmp/alert`).
 *
 * A line is either `title|body` (split at the first `|`; no `|` makes the whole
 * line the body) or a JSON object with the fields of an event draft. Lines
 * over the size limit, invalid UTF-8 and invalid JSON are rejected, counted and
 * logged; the reader keeps going.
 */

import { getLogger } from "@logtape/logtape";
import { checkTopic, DEFAULT_TOPIC, type EventDraft, parseDraft } from "../event/event.ts";
import { EventError, HarkError } from "../errors.ts";
import { writeAll } from "../util/write_all.ts";
import type { Publish, Source } from "./source.ts";
import { LineSplitter } from "../util/lines.ts";

const log = getLogger(["hark", "source", "fifo"]);

/** Why a line was not published; the keys of `stats().rejected`. */
export type FifoRejectReason = "too_long" | "invalid_utf8" | "invalid_json" | "invalid_event";

export interface FifoSourceInit {
  /** Where the named pipe lives, e.g. `/tmp/alert`. */
  path: string;
  /**
   * Permission bits of the pipe. Applied when this source creates the pipe,
   * and to an existing pipe only when given explicitly. @default 0o620
   */
  mode?: number;
  /** User that owns the pipe: a name or a uid. Unchanged when not given. */
  owner?: string | number;
  /** Group of the pipe: a name or a gid. Unchanged when not given. */
  group?: string | number;
  /** Longest line accepted, in bytes, without its newline. */
  maxLineBytes: number;
  /** Publishes one draft through the agent. */
  publish: Publish;
  /** Topic of lines that do not name one (`title|body` lines, JSON without `topic`). @default "default" */
  topic?: string;
}

export const FIFO_DEFAULT_MODE = 0o620;

/** Bytes asked for per read; a pipe holds 64 KiB on Linux. */
const READ_CHUNK_BYTES = 64 * 1024;
/** At most this many rejection log lines per window; the rest are counted and summarised. */
const LOG_BURST = 10;
const LOG_WINDOW_MS = 10_000;
/** Longest excerpt of a rejected line in the log. */
const LOG_EXCERPT_CHARS = 60;

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;
const WAKE = new Uint8Array([NEWLINE]);
const strictDecoder = new TextDecoder("utf-8", { fatal: true });
const lenientDecoder = new TextDecoder();

/** Reads events from a named pipe. Create, then `start()`; `stop()` releases everything. */
export class FifoSource implements Source, AsyncDisposable {
  readonly name: string;
  #init: FifoSourceInit & { mode: number; topic: string };
  #modeGiven: boolean;

  #state: "stopped" | "starting" | "running" | "stopping" = "stopped";
  #starting?: Promise<void>;
  #stopping?: Promise<void>;
  /** Opened read+write, so the pipe never reports end-of-file when the last writer leaves. */
  #reader?: Deno.FsFile;
  /** A second, write-only handle: stop() writes a newline through it to wake the pending read. */
  #waker?: Deno.FsFile;
  #loop?: Promise<void>;
  #wakeRequested = false;
  #created = false;

  // Line assembly across reads.
  #lines: LineSplitter;

  #accepted = 0;
  #rejected: Record<FifoRejectReason, number> = { too_long: 0, invalid_utf8: 0, invalid_json: 0, invalid_event: 0 };
  #publishFailures = 0;
  #bytesRead = 0;
  #lastError: string | null = null;
  #readerFailed = false;

  #logWindowStart = 0;
  #logCount = 0;
  #logSuppressed = 0;

  constructor(init: FifoSourceInit) {
    if (typeof init.path !== "string" || init.path === "") {
      throw new HarkError("fifo source: path must be a file path");
    }
    if (!Number.isInteger(init.maxLineBytes) || init.maxLineBytes < 1) {
      throw new HarkError(`fifo source "${init.path}": maxLineBytes must be a positive integer`);
    }
    if (init.mode !== undefined && (!Number.isInteger(init.mode) || init.mode < 0 || init.mode > 0o7777)) {
      throw new HarkError(`fifo source "${init.path}": mode must be permission bits such as 0o620`);
    }
    for (const [key, value] of [["owner", init.owner], ["group", init.group]] as const) {
      if (value === undefined) continue;
      const ok = typeof value === "number"
        ? Number.isInteger(value) && value >= 0
        : value !== "" && !value.includes(":") && !value.startsWith("-");
      if (!ok) throw new HarkError(`fifo source "${init.path}": invalid ${key} ${JSON.stringify(value)}`);
    }
    if (init.topic !== undefined) checkTopic(init.topic);
    this.#modeGiven = init.mode !== undefined;
    this.#lines = new LineSplitter(init.maxLineBytes, "drop");
    this.#init = { ...init, mode: init.mode ?? FIFO_DEFAULT_MODE, topic: init.topic ?? DEFAULT_TOPIC };
    this.name = `fifo:${init.path}`;
  }

  /** Creates the pipe if missing, sets its mode and owner, and starts reading. Idempotent. */
  start(): Promise<void> {
    if (this.#state === "running") return Promise.resolve();
    if (this.#state === "starting") return this.#starting!;
    if (this.#state === "stopping") {
      return this.#stopping!.then(() => this.start());
    }
    this.#state = "starting";
    this.#starting = this.#start().then(
      () => {
        this.#starting = undefined;
      },
      async (error) => {
        this.#starting = undefined;
        // stop() was called meanwhile: it releases what we got and this start simply ends.
        if (this.#state === "stopping") return;
        await this.#release();
        this.#state = "stopped";
        throw error;
      },
    );
    return this.#starting;
  }

  /** Stops reading, closes every handle, and removes the pipe if this source created it. Idempotent. */
  stop(): Promise<void> {
    if (this.#state === "stopped") return Promise.resolve();
    if (this.#state === "stopping") return this.#stopping!;
    const starting = this.#starting;
    this.#state = "stopping";
    this.#stopping = (async () => {
      // A start in progress notices the state after its next await and gives up.
      await starting?.catch(() => {});
      await this.#release();
      this.#state = "stopped";
      this.#stopping = undefined;
    })();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  stats(): Record<string, unknown> {
    return {
      path: this.#init.path,
      state: this.#readerFailed ? "failed" : this.#state,
      created: this.#created,
      accepted: this.#accepted,
      rejected: { ...this.#rejected },
      publish_failures: this.#publishFailures,
      bytes_read: this.#bytesRead,
      last_error: this.#lastError,
    };
  }

  async #start(): Promise<void> {
    const { path } = this.#init;
    const existing = await lstatOrNull(path);
    if (existing && !existing.isFifo) {
      throw new HarkError(
        `Cannot use "${path}" as a fifo source: it exists and is not a named pipe; remove it or choose another path`,
      );
    }
    if (!existing) {
      await makeFifo(path, this.#init.mode);
      this.#created = true;
    }
    this.#checkStillStarting();
    if (this.#created || this.#modeGiven) await this.#chmod();
    await this.#chown();
    this.#checkStillStarting();

    // Read+write: the open does not wait for a writer, and reads never see
    // end-of-file when writers come and go (we are a writer ourselves).
    this.#reader = await Deno.open(path, { read: true, write: true });
    this.#checkStillStarting();
    // The path may have been swapped between lstat and open: check what we opened.
    if (!(await this.#reader.stat()).isFifo) {
      throw new HarkError(
        `Cannot use "${path}" as a fifo source: it was replaced by something other than a named pipe`,
      );
    }
    this.#checkStillStarting();
    this.#waker = await Deno.open(path, { write: true });
    this.#checkStillStarting();

    this.#wakeRequested = false;
    this.#readerFailed = false;
    this.#resetLine();
    this.#state = "running";
    this.#loop = this.#readLoop(this.#reader);
    log.info("Reading events from {path}", { path });
  }

  #checkStillStarting(): void {
    if (this.#state !== "starting") throw new HarkError(`fifo source "${this.#init.path}" was stopped while starting`);
  }

  async #chmod(): Promise<void> {
    if (Deno.build.os === "windows") return;
    try {
      await Deno.chmod(this.#init.path, this.#init.mode);
    } catch (error) {
      throw new HarkError(
        `Cannot set mode ${this.#init.mode.toString(8)} on "${this.#init.path}": ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  async #chown(): Promise<void> {
    const { owner, group, path } = this.#init;
    if (owner === undefined && group === undefined) return;
    try {
      if (typeof owner !== "string" && typeof group !== "string") {
        await Deno.chown(path, owner ?? null, group ?? null);
        return;
      }
      // Names need the system's user database: let chown(1) resolve them.
      const spec = `${owner ?? ""}${group === undefined ? "" : `:${group}`}`;
      const { code, stderr } = await new Deno.Command("chown", {
        args: ["--", spec, path],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      if (code !== 0) throw new Error(lenientDecoder.decode(stderr).trim() || `chown exited with ${code}`);
    } catch (error) {
      throw new HarkError(
        `Cannot change owner of "${path}" to ${owner ?? ""}${group === undefined ? "" : `:${group}`}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  }

  /** Stops the read loop and closes handles; removes the pipe if we made it. Safe to call in any state. */
  async #release(): Promise<void> {
    const reader = this.#reader;
    const waker = this.#waker;
    const loop = this.#loop;
    let wake: Promise<void> | undefined;
    if (loop && waker) {
      // A pending read holds a blocking thread until bytes arrive. The flag
      // goes up first, so the loop starts no further read; then one newline
      // through our own write handle ends the read that may be pending.
      this.#wakeRequested = true;
      wake = writeAll(waker, WAKE).catch((error) => {
        // A full pipe and no read pending: closing the reader below ends this write with EPIPE.
        log.debug("Wake write to {path} ended: {error}", { path: this.#init.path, error: String(error) });
      });
      await loop;
    }
    this.#loop = undefined;
    this.#reader = undefined;
    this.#waker = undefined;
    closeQuietly(reader);
    await wake;
    closeQuietly(waker);
    if (this.#created) {
      this.#created = false;
      const stat = await lstatOrNull(this.#init.path);
      // Only our own pipe: something else put there since is not ours to delete.
      if (stat?.isFifo) {
        try {
          await Deno.remove(this.#init.path);
        } catch (error) {
          log.warning("Cannot remove {path}: {error}", { path: this.#init.path, error: String(error) });
        }
      }
    }
    this.#resetLine();
  }

  async #readLoop(reader: Deno.FsFile): Promise<void> {
    const buffer = new Uint8Array(READ_CHUNK_BYTES);
    while (true) {
      // After the wake request no read may start: the wake byte may be gone already.
      if (this.#wakeRequested) return;
      let count: number | null;
      try {
        count = await reader.read(buffer);
      } catch (error) {
        if (this.#state !== "running") return;
        this.#fail(`read failed: ${(error as Error).message}`);
        return;
      }
      if (count === null) {
        // Cannot happen while we hold a write handle; do not spin if it does.
        if (this.#state !== "running") return;
        this.#fail("unexpected end of file");
        return;
      }
      if (this.#state !== "running") continue;
      this.#bytesRead += count;
      await this.#consume(buffer.subarray(0, count));
    }
  }

  #fail(message: string): void {
    this.#readerFailed = true;
    this.#lastError = message;
    log.error("Stopped reading {path}: {message}", { path: this.#init.path, message });
  }

  /** Handles the lines a chunk completes; a partial last line waits for the next chunk. */
  async #consume(chunk: Uint8Array): Promise<void> {
    for (const { bytes, overlong } of this.#lines.push(chunk)) {
      if (overlong) {
        // Counted when it passes the cap, not at its newline, so a writer that never ends its line still shows up.
        this.#reject("too_long", `line longer than ${this.#init.maxLineBytes} bytes`, [bytes]);
        continue;
      }
      await this.#handleLine(bytes);
      if (this.#state !== "running") return;
    }
  }

  async #handleLine(raw: Uint8Array): Promise<void> {
    const bytes = raw.length > 0 && raw[raw.length - 1] === CARRIAGE_RETURN ? raw.subarray(0, -1) : raw;
    let text: string;
    try {
      text = strictDecoder.decode(bytes);
    } catch {
      this.#reject("invalid_utf8", "not valid UTF-8", [bytes]);
      return;
    }
    if (text.trim() === "") return;
    let draft: EventDraft;
    if (text.trimStart().startsWith("{")) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        this.#reject("invalid_json", `invalid JSON: ${(error as Error).message}`, text);
        return;
      }
      try {
        draft = parseDraft(value);
      } catch (error) {
        this.#reject("invalid_event", (error as Error).message, text);
        return;
      }
      draft.topic ??= this.#init.topic;
    } else {
      const bar = text.indexOf("|");
      const title = bar === -1 ? "" : text.slice(0, bar).trim();
      const body = (bar === -1 ? text : text.slice(bar + 1)).trim();
      draft = { topic: this.#init.topic, body };
      if (title !== "") draft.title = title;
    }
    try {
      await this.#init.publish(draft);
      this.#accepted++;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof EventError) {
        // The line parsed but breaks an event rule (size, empty, priority): the writer's fault.
        this.#reject("invalid_event", message, text);
        return;
      }
      // Refused by the agent (rate limit, publisher rules) or the agent is going down.
      this.#publishFailures++;
      this.#lastError = `publish failed: ${message}`;
      this.#logLimited("Cannot publish a line from {path}: {message}", { path: this.#init.path, message });
    }
  }

  #reject(reason: FifoRejectReason, message: string, line: string | Uint8Array[]): void {
    this.#rejected[reason]++;
    this.#lastError = `${reason}: ${message}`;
    this.#logLimited("Rejected a line from {path} ({reason}): {message}; line starts {excerpt}", {
      path: this.#init.path,
      reason,
      message,
      excerpt: JSON.stringify(excerpt(line)),
    });
  }

  /** Logs at most LOG_BURST lines per window, so a flood of garbage cannot flood the log. */
  #logLimited(message: string, properties: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.#logWindowStart >= LOG_WINDOW_MS) {
      if (this.#logSuppressed > 0) {
        log.warning("{count} more rejected or failed lines from {path} were not logged", {
          count: this.#logSuppressed,
          path: this.#init.path,
        });
      }
      this.#logWindowStart = now;
      this.#logCount = 0;
      this.#logSuppressed = 0;
    }
    if (this.#logCount < LOG_BURST) {
      this.#logCount++;
      log.warning(message, properties);
    } else {
      this.#logSuppressed++;
    }
  }

  #resetLine(): void {
    this.#lines.reset();
  }
}

function closeQuietly(file: Deno.FsFile | undefined): void {
  try {
    file?.close();
  } catch {
    // Already closed.
  }
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new HarkError(`Cannot read "${path}": ${(error as Error).message}`, { cause: error });
  }
}

/** Deno has no mkfifo API; mkfifo(1) sets the mode atomically with `-m`. */
async function makeFifo(path: string, mode: number): Promise<void> {
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command("mkfifo", {
      args: ["-m", mode.toString(8), "--", path],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new HarkError(`Cannot create named pipe "${path}": mkfifo is not available (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (result.code !== 0) {
    const why = lenientDecoder.decode(result.stderr).trim() || `mkfifo exited with ${result.code}`;
    throw new HarkError(`Cannot create named pipe "${path}": ${why}`);
  }
}

/** The start of a line for the log; for bytes, only the first piece is decoded. */
function excerpt(line: string | Uint8Array[]): string {
  const text = typeof line === "string" ? line : lenientDecoder.decode((line[0] ?? new Uint8Array()).subarray(
    0,
    4 * LOG_EXCERPT_CHARS,
  ));
  return text.length > LOG_EXCERPT_CHARS ? `${text.slice(0, LOG_EXCERPT_CHARS)}…` : text;
}
