/**
 * Follows one file as `tail -F` does: across rotation (the path renamed
 * away and recreated) and truncation, handing each complete line on in
 * order. It sleeps on a file-system watch of the file's directory, with a
 * slow backstop timer of two `stat` calls; without a watcher (unsupported
 * platform, directory not there yet) it polls every `pollMs`.
 */

import { getLogger } from "@logtape/logtape";
import { HarkError } from "../errors.ts";
import { LineSplitter } from "../util/lines.ts";
import { errorText, type ProblemNotes } from "./watch_problems.ts";

const log = getLogger(["hark", "source", "watch"]);

/** Bytes read per check before yielding to the event loop, so a huge backlog cannot starve the agent. */
const READ_BUDGET_BYTES = 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
/** Checks per burst of file-system events before yielding with a timer. */
const ROUNDS_PER_PUMP = 64;
/** How long a renamed-away file is still read while nothing new appears at the path. */
const MISSING_GRACE_MS = 5_000;

const decoder = new TextDecoder();

export interface FileFollowerInit {
  /** The file to follow. It need not exist yet. */
  path: string;
  /** Longer lines are cut to this many bytes (and counted). */
  maxLineBytes: number;
  /** Milliseconds between checks without a watcher; with one, a backstop runs every 10 × pollMs. */
  pollMs: number;
  /** Use `Deno.watchFs` on the file's directory. */
  watch: boolean;
  /** Handles one line; the follower reads no further until it resolves. */
  onLine: (line: string) => Promise<void>;
  problems: ProblemNotes;
}

export interface FollowerStats {
  checks: number;
  /** Lines longer than maxLineBytes, cut. */
  cut: number;
  rotations: number;
  truncations: number;
}

/**
 * `start()` begins at the end of the file (existing content is not
 * replayed) or, when the file does not exist yet, waits for it and reads it
 * from its start.
 */
export class FileFollower {
  readonly stats: FollowerStats = { checks: 0, cut: 0, rotations: 0, truncations: 0 };
  #path: string;
  #fileName: string;
  #dir: string;
  #pollMs: number;
  #useWatcher: boolean;
  #onLine: (line: string) => Promise<void>;
  #problems: ProblemNotes;

  #running = false;
  /** Until the file is first seen, an existing file is read from its end (tail -F); later ones from their start. */
  #startAtEnd = true;
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
  #pump: Promise<void> | undefined;
  #again = false;

  constructor(init: FileFollowerInit) {
    this.#path = init.path;
    this.#fileName = baseName(init.path);
    this.#dir = dirName(init.path);
    this.#pollMs = init.pollMs;
    this.#useWatcher = init.watch;
    this.#onLine = init.onLine;
    this.#problems = init.problems;
    this.#splitter = new LineSplitter(init.maxLineBytes, "truncate");
  }

  /** A file is open; otherwise the follower waits for one to appear at the path. */
  get following(): boolean {
    return this.#file !== undefined;
  }

  get watching(): boolean {
    return this.#watcher !== undefined;
  }

  /** Bytes read of the current file. */
  get offset(): number {
    return this.#offset;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#startAtEnd = true;
    try {
      await this.#open();
    } catch (error) {
      // Not fatal: the file may become readable later; the poll tries again.
      this.#problems.note(`Cannot read ${this.#path}: ${errorText(error)}`, "warn");
    }
    if (!this.#running) return;
    this.#startWatcher();
    this.#schedulePoll();
    log.debug("Watching {path}", { path: this.#path });
  }

  /** Stops reading; resolves once the line being handled is done and the file is closed. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#soonTimer);
    this.#pollTimer = this.#soonTimer = undefined;
    this.#stopWatcher();
    await this.#watchLoop;
    this.#watchLoop = undefined;
    await this.#pump;
    this.#closeFile();
  }

  #startWatcher(): void {
    if (!this.#useWatcher || this.#watcher || !this.#running) return;
    let watcher: Deno.FsWatcher;
    try {
      // The directory, not the file: a watch on the file follows its inode,
      // which is renamed away on rotation.
      watcher = Deno.watchFs(this.#dir, { recursive: false });
    } catch (error) {
      this.#problems.note(
        `Cannot watch ${this.#dir}, checking every ${this.#pollMs} ms instead: ${errorText(error)}`,
        "debug",
      );
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
        if (this.#running) this.#problems.note(`Watching ${this.#dir} failed: ${errorText(error)}`, "warn");
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
        this.#problems.note(`Cannot read ${this.#path}: ${errorText(error)}`, "warn");
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
    this.#problems.clear();
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
    this.stats.checks++;
    if (!this.#file && !(await this.#open())) return false;
    const file = this.#file!;
    const info = await file.stat();
    if (!this.#running) return false;
    if (info.size < this.#offset || !(await this.#tailUnchanged(file))) {
      this.stats.truncations++;
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
      this.stats.rotations++;
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
    if (last) this.#lines.push(decoder.decode(last.bytes));
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
      if (overlong) this.stats.cut++;
      this.#lines.push(decoder.decode(bytes));
    }
  }

  /** Handles gathered lines in order, one at a time (only the pump calls this, so never twice at once). */
  async #drainLines(): Promise<void> {
    // Bounded: the lines come from one bounded read.
    const lines = this.#lines;
    this.#lines = [];
    for (const line of lines) {
      if (!this.#running) return;
      await this.#onLine(line);
    }
  }
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  // Without inode numbers rotation cannot be told apart; truncation still can.
  if (a.ino === null || b.ino === null) return true;
  return a.ino === b.ino && a.dev === b.dev;
}

export function baseName(path: string): string {
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
