/**
 * The `watch` source: follows a log file as `tail -F` does, across rotation
 * (the path is renamed away and recreated) and truncation, and publishes an
 * event for every line that matches one of its rules. A log storm becomes one
 * summary event per minute instead of a flood.
 *
 * An idle watcher costs next to nothing: it sleeps on a file-system watch of
 * the file's directory and checks the file with two `stat` calls on a slow
 * backstop timer. Without a watcher (unsupported platform, directory not there
 * yet) it polls every `pollMs`.
 */

import { getLogger } from "@logtape/logtape";
import { ConfigError, HarkError } from "../errors.ts";
import {
  BODY_MAX_BYTES,
  checkTopic,
  type EventDraft,
  parsePriority,
  type Priority,
  TAGS_MAX,
  TITLE_MAX_CHARS,
} from "../event.ts";
import type { Publish, Source } from "./source.ts";
import { LineSplitter } from "../lines.ts";
import { cleanTerminalLine } from "../util/controls.ts";
import { type CompiledRule, compileRules, isTag, PLACEHOLDER, type WatchRule } from "./watch_rules.ts";

export { type CompiledRule, compileRules, type WatchRule };

const log = getLogger(["hark", "source", "watch"]);

export interface WatchSourceInit {
  /** The file to follow. It need not exist yet. */
  path: string;
  rules: WatchRule[];
  /** Shown as `{host}` in templates. */
  host: string;
  /** Longer lines are cut to this many bytes (and counted); this also bounds regex backtracking. */
  maxLineBytes: number;
  /** Events per minute; further matching lines are counted into one summary per minute. @default 60 */
  ratePerMinute?: number;
  publish: Publish;
  /** Topic for rules that name none. @default none: the draft has no topic and the agent applies its default */
  topic?: string;
  /**
   * Milliseconds between checks of the file when no file-system watcher is
   * available; with a watcher, a backstop check runs every 10 × pollMs.
   * @default 1000
   */
  pollMs?: number;
  /** Use `Deno.watchFs` on the file's directory. @default true */
  watch?: boolean;
  /** The clock for the rate limit's minutes. @default Date.now */
  now?: () => number;
}

const MINUTE_MS = 60_000;
/** Bytes read per check before yielding to the event loop, so a huge backlog cannot starve the agent. */
const READ_BUDGET_BYTES = 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
/** Checks per burst of file-system events before yielding with a timer. */
const ROUNDS_PER_PUMP = 64;
/** How long a renamed-away file is still read while nothing new appears at the path. */
const MISSING_GRACE_MS = 5_000;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

interface Window {
  start: number;
  published: number;
  /** Suppressed matching lines per topic (undefined: the agent's default), with the highest priority among them. */
  suppressed: Map<string | undefined, { count: number; priority: Priority }>;
}

/**
 * Follows one log file. `start()` begins at the end of the file (existing
 * content is not replayed) or, when the file does not exist yet, waits for
 * it and reads it from its start.
 */
export class WatchSource implements Source {
  readonly name: string;
  #path: string;
  #fileName: string;
  #dir: string;
  #rules: CompiledRule[];
  #host: string;
  #rate: number;
  #publish: Publish;
  #topic: string | undefined;
  #pollMs: number;
  #useWatcher: boolean;
  #now: () => number;

  #running = false;
  /** Until the file is first seen, an existing file is read from its end (tail -F); later ones from their start. */
  #startAtEnd = true;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #file: Deno.FsFile | undefined;
  #fileInfo: Deno.FileInfo | undefined;
  #offset = 0;
  /** The last bytes read before `#offset`. */
  #tail: Uint8Array = new Uint8Array(0);
  /** Long lines keep their head; one we started in the middle of is skipped. */
  #splitter: LineSplitter;
  #missingSince: number | undefined;
  #buffer = new Uint8Array(CHUNK_BYTES);
  /** Complete lines read but not yet handled. */
  #lines: string[] = [];

  #watcher: Deno.FsWatcher | undefined;
  #watchLoop: Promise<void> | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #soonTimer: ReturnType<typeof setTimeout> | undefined;
  #windowTimer: ReturnType<typeof setTimeout> | undefined;
  #pump: Promise<void> | undefined;
  #again = false;
  #window: Window | undefined;
  #summaries = new Set<Promise<void>>();
  #lastLogged = "";

  #stats = {
    checks: 0,
    lines: 0,
    matched: 0,
    published: 0,
    suppressed: 0,
    summaries: 0,
    cut: 0,
    rotations: 0,
    truncations: 0,
    publish_errors: 0,
    last_error: undefined as string | undefined,
  };

  constructor(init: WatchSourceInit) {
    if (typeof init.path !== "string" || init.path === "") throw new ConfigError("a watch source needs a path");
    if (!Number.isInteger(init.maxLineBytes) || init.maxLineBytes < 1) {
      throw new ConfigError(`watch source "${init.path}": maxLineBytes must be a positive integer`);
    }
    const rate = init.ratePerMinute ?? 60;
    if (!Number.isInteger(rate) || rate < 0) {
      throw new ConfigError(`watch source "${init.path}": rate must be a whole number of events per minute`);
    }
    const pollMs = init.pollMs ?? 1000;
    if (!Number.isFinite(pollMs) || pollMs < 1) {
      throw new ConfigError(`watch source "${init.path}": pollMs must be positive`);
    }
    this.#path = init.path;
    this.#fileName = baseName(init.path);
    this.#dir = dirName(init.path);
    this.#rules = compileRules(init.rules);
    this.#host = init.host;
    this.#splitter = new LineSplitter(init.maxLineBytes, "truncate");
    this.#rate = rate;
    this.#publish = init.publish;
    this.#topic = init.topic === undefined ? undefined : checkTopic(init.topic);
    this.#pollMs = pollMs;
    this.#useWatcher = init.watch ?? true;
    this.#now = init.now ?? Date.now;
    this.name = `watch:${init.path}`;
  }

  start(): Promise<void> {
    if (this.#running) return this.#starting ?? Promise.resolve();
    this.#running = true;
    this.#startAtEnd = true;
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    // A stop still releasing handles must finish before new ones are taken.
    await this.#stopping;
    if (!this.#running) return;
    try {
      await this.#open();
    } catch (error) {
      // Not fatal: the file may become readable later; the poll tries again.
      this.#note(`Cannot read ${this.#path}: ${message(error)}`, "warn");
    }
    if (!this.#running) return;
    this.#startWatcher();
    this.#schedulePoll();
    log.debug("Watching {path}", { path: this.#path });
  }

  stop(): Promise<void> {
    if (!this.#running) return this.#stopping ?? Promise.resolve();
    this.#running = false;
    this.#stopping = this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    await this.#starting;
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#soonTimer);
    clearTimeout(this.#windowTimer);
    this.#pollTimer = this.#soonTimer = this.#windowTimer = undefined;
    this.#stopWatcher();
    await this.#watchLoop;
    this.#watchLoop = undefined;
    await this.#pump;
    this.#closeFile();
    // The counted storm would otherwise be lost with the process.
    this.#flushSummary();
    await Promise.all(this.#summaries);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  stats(): Record<string, unknown> {
    return {
      path: this.#path,
      state: !this.#running ? "stopped" : this.#file ? "following" : "waiting",
      watcher: this.#watcher !== undefined,
      offset: this.#offset,
      ...this.#stats,
    };
  }

  // ---- scheduling -------------------------------------------------------

  #startWatcher(): void {
    if (!this.#useWatcher || this.#watcher || !this.#running) return;
    let watcher: Deno.FsWatcher;
    try {
      // The directory, not the file: a watch on the file follows its inode,
      // which is renamed away on rotation.
      watcher = Deno.watchFs(this.#dir, { recursive: false });
    } catch (error) {
      this.#note(`Cannot watch ${this.#dir}, checking every ${this.#pollMs} ms instead: ${message(error)}`, "debug");
      return;
    }
    this.#watcher = watcher;
    this.#watchLoop = (async () => {
      try {
        for await (const event of watcher) {
          if (!this.#running) break;
          // Names that start with ours include the rotated `app.log.1` that a writer may still append to.
          const ours = event.paths.some((path) => baseName(path).startsWith(this.#fileName));
          if (ours || event.kind === "other") this.#kick();
        }
      } catch (error) {
        if (this.#running) this.#note(`Watching ${this.#dir} failed: ${message(error)}`, "warn");
      } finally {
        if (this.#watcher === watcher) this.#stopWatcher();
      }
    })();
  }

  #stopWatcher(): void {
    const watcher = this.#watcher;
    this.#watcher = undefined;
    try {
      watcher?.close();
    } catch {
      // Already closed.
    }
  }

  #schedulePoll(): void {
    if (!this.#running) return;
    clearTimeout(this.#pollTimer);
    const delay = this.#watcher ? this.#pollMs * 10 : this.#pollMs;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      // The directory may have appeared, or a watcher may have failed.
      if (!this.#watcher) this.#startWatcher();
      this.#kick();
    }, delay);
  }

  /** Runs a check now, or right after the one in progress. */
  #kick(): void {
    if (!this.#running) return;
    if (this.#pump) {
      this.#again = true;
      return;
    }
    this.#pump = this.#runPump().finally(() => {
      this.#pump = undefined;
    });
  }

  async #runPump(): Promise<void> {
    let more = false;
    for (let round = 0; round < ROUNDS_PER_PUMP && this.#running; round++) {
      this.#again = false;
      try {
        more = await this.#check();
      } catch (error) {
        // A failure here is the file's (permissions, I/O): start over with it later.
        this.#note(`Cannot read ${this.#path}: ${message(error)}`, "warn");
        this.#closeFile();
        more = false;
      }
      if (!this.#again && !more) break;
    }
    if (!this.#running) return;
    if (this.#again || more) {
      // Still busy: yield to the event loop, then carry on.
      this.#soonTimer ??= setTimeout(() => {
        this.#soonTimer = undefined;
        this.#kick();
      }, 0);
    }
    this.#schedulePoll();
  }

  // ---- following the file -------------------------------------------------

  /** Opens the file at the path; false if it is not there (yet). */
  async #open(): Promise<boolean> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.#path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        // A file that appears after we started is news from its first byte.
        this.#startAtEnd = false;
        return false;
      }
      throw error;
    }
    // Opening a FIFO for reading would block until a writer appears.
    if (!info.isFile) throw new HarkError(`${this.#path} is not a regular file`);
    const file = await Deno.open(this.#path, { read: true });
    try {
      info = await file.stat();
      if (!this.#running) {
        file.close();
        return false;
      }
      // Like tail -F: what was in the file when we started is history, not news.
      const fromEnd = this.#startAtEnd;
      this.#startAtEnd = false;
      this.#file = file;
      this.#fileInfo = info;
      this.#offset = fromEnd ? info.size : 0;
      this.#splitter.reset();
      this.#missingSince = undefined;
      this.#tail = new Uint8Array(0);
      if (fromEnd && info.size > 0) {
        this.#tail = await readAt(file, Math.max(0, info.size - TAIL_BYTES), Math.min(TAIL_BYTES, info.size));
        // Starting in the middle of a line: its tail is not a line of its own.
        this.#splitter.reset(this.#tail.at(-1) !== 10);
      }
    } catch (error) {
      if (this.#file !== file) file.close();
      throw error;
    }
    this.#stats.last_error = undefined;
    this.#lastLogged = "";
    log.debug("Following {path} from byte {offset}", { path: this.#path, offset: this.#offset });
    return true;
  }

  #closeFile(): void {
    try {
      this.#file?.close();
    } catch {
      // Already closed.
    }
    this.#file = undefined;
    this.#fileInfo = undefined;
  }

  /** One look at the file; true if more data is waiting to be read. */
  async #check(): Promise<boolean> {
    this.#stats.checks++;
    if (!this.#file && !(await this.#open())) return false;
    const file = this.#file!;
    const info = await file.stat();
    if (!this.#running) return false;
    if (info.size < this.#offset || !(await this.#tailUnchanged(file))) {
      this.#stats.truncations++;
      log.info("{path} was truncated; reading it again from the start", { path: this.#path });
      this.#offset = 0;
      this.#tail = new Uint8Array(0);
      this.#splitter.reset();
    }
    // Look at the path before draining the open file, so that lines written
    // to the old file up to this moment are still read from it.
    let replaced = false;
    let missing = false;
    try {
      const current = await Deno.stat(this.#path);
      replaced = !sameFile(current, this.#fileInfo!);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      missing = true;
    }
    if (!this.#running) return false;
    const more = await this.#readAvailable(file);
    if (more || !this.#running) return more;
    if (replaced) {
      this.#stats.rotations++;
      log.info("{path} was rotated; following the new file", { path: this.#path });
      await this.#endOldFile();
      if (!(await this.#open())) return false;
      return this.#readAvailable(this.#file!);
    }
    if (missing) {
      // Renamed away with nothing new at the path yet: the writer may still
      // be writing to the old file, so keep reading it for a while.
      const now = performance.now();
      this.#missingSince ??= now;
      if (now - this.#missingSince >= MISSING_GRACE_MS) {
        log.info("{path} is gone; waiting for it to appear again", { path: this.#path });
        await this.#endOldFile();
      }
    } else {
      this.#missingSince = undefined;
    }
    return false;
  }

  /**
   * Whether the bytes just before the read position are still the ones
   * read there. A file truncated and written past the old position again
   * between two looks is not smaller, but its content there has changed.
   */
  async #tailUnchanged(file: Deno.FsFile): Promise<boolean> {
    if (this.#tail.length === 0) return true;
    const now = await readAt(file, this.#offset - this.#tail.length, this.#tail.length);
    return now.length === this.#tail.length && now.every((byte, i) => byte === this.#tail[i]);
  }

  /** Finishes with a file that was rotated away: its last line will not get a newline now. */
  async #endOldFile(): Promise<void> {
    const last = this.#splitter.flush();
    if (last) this.#lines.push(decoder.decode(last));
    this.#closeFile();
    this.#offset = 0;
    this.#tail = new Uint8Array(0);
    // Lines from the old file are handled before any from the new one.
    await this.#drainLines();
  }

  /** Reads up to the read budget; true if the budget ran out before the end of the file. */
  async #readAvailable(file: Deno.FsFile): Promise<boolean> {
    await file.seek(this.#offset, Deno.SeekMode.Start);
    let read = 0;
    while (read < READ_BUDGET_BYTES) {
      if (!this.#running) return false;
      const n = await file.read(this.#buffer);
      if (n === null || n === 0) break;
      read += n;
      this.#offset += n;
      this.#remember(this.#buffer.subarray(0, n));
      this.#split(this.#buffer.subarray(0, n));
      await this.#drainLines();
    }
    return read >= READ_BUDGET_BYTES;
  }

  /** Keeps the last TAIL_BYTES read, to notice a rewrite later. */
  #remember(chunk: Uint8Array): void {
    if (chunk.length >= TAIL_BYTES) {
      this.#tail = chunk.slice(chunk.length - TAIL_BYTES);
      return;
    }
    const joined = new Uint8Array(this.#tail.length + chunk.length);
    joined.set(this.#tail);
    joined.set(chunk, this.#tail.length);
    this.#tail = joined.slice(Math.max(0, joined.length - TAIL_BYTES));
  }

  /** Cuts a chunk into lines, appending complete ones to `#lines`. */
  #split(chunk: Uint8Array): void {
    for (const { bytes, overlong } of this.#splitter.push(chunk)) {
      if (overlong) this.#stats.cut++;
      this.#lines.push(decoder.decode(bytes));
    }
  }

  /** Handles gathered lines in order, one publish at a time (only the pump calls this, so never twice at once). */
  async #drainLines(): Promise<void> {
    // Bounded: the lines come from one bounded read.
    const lines = this.#lines;
    this.#lines = [];
    for (const line of lines) {
      if (!this.#running) return;
      await this.#handleLine(line);
    }
  }

  // ---- lines to events ----------------------------------------------------

  async #handleLine(raw: string): Promise<void> {
    this.#stats.lines++;
    const line = cleanLine(raw);
    for (const rule of this.#rules) {
      const match = rule.regex.exec(line);
      if (!match) continue;
      this.#stats.matched++;
      const draft = this.#draft(rule, line, match.groups ?? {});
      if (!this.#admit(draft.topic, draft.priority as Priority)) return;
      try {
        await this.#publish(draft);
        this.#stats.published++;
      } catch (error) {
        this.#stats.publish_errors++;
        this.#note(`Cannot publish a line of ${this.#path}: ${message(error)}`, "warn");
      }
      // The first matching rule wins: one line, at most one event.
      return;
    }
  }

  #draft(rule: CompiledRule, line: string, groups: Record<string, string | undefined>): EventDraft {
    const values: Record<string, string> = { host: this.#host, line, path: this.#path };
    for (const [name, value] of Object.entries(groups)) {
      if (value !== undefined) values[name] = value;
    }
    const fill = (template: string) => template.replace(PLACEHOLDER, (_, name) => values[name] ?? "");
    let title = rule.title === undefined ? this.#fileName : fill(rule.title);
    let body = rule.body === undefined ? line : fill(rule.body);
    let priority = rule.priority;
    let tags = rule.tags;
    if (groups.title !== undefined) title = groups.title;
    if (groups.body !== undefined) body = groups.body;
    if (groups.priority !== undefined) {
      try {
        priority = parsePriority(groups.priority);
      } catch {
        // A priority the line got wrong keeps the rule's.
      }
    }
    if (groups.tags !== undefined) {
      const extra = groups.tags.split(/[\s,]+/).filter(isTag);
      tags = [...new Set([...tags, ...extra])].slice(0, TAGS_MAX);
    }
    const draft: EventDraft = {
      title: clipChars(title, TITLE_MAX_CHARS),
      body: clipBytes(body, BODY_MAX_BYTES),
      priority,
      tags,
      data: { path: this.#path },
    };
    const topic = rule.topic ?? this.#topic;
    // No topic at all lets the agent (or the source entry's `topic`) decide.
    return topic === undefined ? draft : { topic, ...draft };
  }

  // ---- rate limit -----------------------------------------------------------

  /** Counts one event against this minute; false when it is to be summarised instead. */
  #admit(topic: string | undefined, priority: Priority): boolean {
    const now = this.#now();
    if (this.#window && now - this.#window.start >= MINUTE_MS) this.#flushSummary();
    const window = this.#window ??= { start: now, published: 0, suppressed: new Map() };
    if (window.published < this.#rate) {
      window.published++;
      return true;
    }
    this.#stats.suppressed++;
    const entry = window.suppressed.get(topic);
    if (entry) {
      entry.count++;
      entry.priority = Math.max(entry.priority, priority) as Priority;
    } else {
      window.suppressed.set(topic, { count: 1, priority });
    }
    this.#scheduleWindowEnd();
    return false;
  }

  #scheduleWindowEnd(): void {
    if (this.#windowTimer !== undefined || !this.#running || !this.#window) return;
    // The injected clock may not follow real time: wait at most a minute, then look again.
    const left = Math.min(MINUTE_MS, Math.max(0, this.#window.start + MINUTE_MS - this.#now()));
    this.#windowTimer = setTimeout(() => {
      this.#windowTimer = undefined;
      if (this.#window && this.#now() - this.#window.start >= MINUTE_MS) this.#flushSummary();
      else this.#scheduleWindowEnd();
    }, left);
  }

  /** Ends the current minute; publishes one summary per topic that had lines suppressed. */
  #flushSummary(): void {
    const window = this.#window;
    this.#window = undefined;
    clearTimeout(this.#windowTimer);
    this.#windowTimer = undefined;
    if (!window) return;
    for (const [topic, { count, priority }] of window.suppressed) {
      const text = `${count} more matching ${count === 1 ? "line" : "lines"} in ${this.#path}`;
      const draft: EventDraft = {
        ...(topic === undefined ? {} : { topic }),
        title: clipChars(`${text} on ${this.#host}`, TITLE_MAX_CHARS),
        body: clipBytes(`${text} in the last minute`, BODY_MAX_BYTES),
        priority,
        tags: ["summary"],
        data: { path: this.#path, suppressed: count },
      };
      const sent: Promise<void> = this.#publish(draft).then(
        () => {
          this.#stats.summaries++;
        },
        (error) => {
          this.#stats.publish_errors++;
          this.#note(`Cannot publish the summary for ${this.#path}: ${message(error)}`, "warn");
        },
      ).finally(() => this.#summaries.delete(sent));
      this.#summaries.add(sent);
    }
  }

  /** Records a problem; logs it only when it differs from the last one, so a poll does not flood the log. */
  #note(text: string, level: "debug" | "warn"): void {
    this.#stats.last_error = text;
    if (text === this.#lastLogged) return;
    this.#lastLogged = text;
    if (level === "warn") log.warn("{text}", { text });
    else log.debug("{text}", { text });
  }
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  // Without inode numbers rotation cannot be told apart; truncation still can.
  if (a.ino === null || b.ino === null) return true;
  return a.ino === b.ino && a.dev === b.dev;
}

/** Drops a CRLF's CR, terminal escape sequences and other control characters (tabs stay). */
function cleanLine(line: string): string {
  const text = line.endsWith("\r") ? line.slice(0, -1) : line;
  return cleanTerminalLine(text, "\uFFFD");
}

function clipChars(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  // Do not leave half a surrogate pair behind.
  return (/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut) + "…";
}

function clipBytes(text: string, max: number): string {
  const bytes = encoder.encode(text);
  if (bytes.length <= max) return text;
  // Cut at a character boundary: continuation bytes are 0b10xxxxxx.
  let end = max - 3;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end)) + "…";
}

function baseName(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, "");
  const slash = Math.max(trimmed.lastIndexOf("/"), Deno.build.os === "windows" ? trimmed.lastIndexOf("\\") : -1);
  return trimmed.slice(slash + 1);
}

function dirName(path: string): string {
  const slash = Math.max(path.lastIndexOf("/"), Deno.build.os === "windows" ? path.lastIndexOf("\\") : -1);
  if (slash === -1) return ".";
  if (slash === 0) return "/";
  return path.slice(0, slash);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** How many bytes before the read position are compared to notice a rewritten file. */
const TAIL_BYTES = 64;

async function readAt(file: Deno.FsFile, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(position, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(out.subarray(filled));
    if (n === null || n === 0) break;
    filled += n;
  }
  return out.subarray(0, filled);
}
