/**
 * The `watch` source: follows a log file as `tail -F` does
 * (watch_follow.ts), and publishes an event for every line that matches one
 * of its rules (watch_rules.ts, watch_template.ts). A log storm becomes one
 * summary event per minute instead of a flood (watch_summary.ts). An idle
 * watcher costs next to nothing: it sleeps on a file-system watch.
 */

import { ConfigError } from "../errors.ts";
import { checkTopic, type Priority } from "../event/event.ts";
import type { Publish, Source } from "./source.ts";
import { type CompiledRule, compileRules, type WatchRule } from "./watch_rules.ts";
import { baseName, FileFollower } from "./watch_follow.ts";
import { errorText, ProblemNotes } from "./watch_problems.ts";
import { StormLimit } from "./watch_summary.ts";
import { cleanLine, draftFor, type TemplateContext } from "./watch_template.ts";

export { type CompiledRule, compileRules, type WatchRule };

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

/**
 * Follows one log file and publishes its matching lines. `start()` begins
 * at the end of the file (existing content is not replayed) or, when the
 * file does not exist yet, waits for it and reads it from its start.
 */
export class WatchSource implements Source {
  readonly name: string;
  #path: string;
  #rules: CompiledRule[];
  #template: TemplateContext;
  #publish: Publish;
  #problems = new ProblemNotes();
  #follower: FileFollower;
  #storm: StormLimit;
  #running = false;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #stats = { lines: 0, matched: 0, published: 0, publish_errors: 0 };

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
    this.#rules = compileRules(init.rules);
    this.#template = {
      host: init.host,
      path: init.path,
      fileName: baseName(init.path),
      topic: init.topic === undefined ? undefined : checkTopic(init.topic),
    };
    this.#publish = init.publish;
    this.#follower = new FileFollower({
      path: init.path,
      maxLineBytes: init.maxLineBytes,
      pollMs,
      watch: init.watch ?? true,
      onLine: (line) => this.#handleLine(line),
      problems: this.#problems,
    });
    this.#storm = new StormLimit({
      rate,
      path: init.path,
      host: init.host,
      publish: init.publish,
      onPublishError: (error) => {
        this.#stats.publish_errors++;
        this.#problems.note(`Cannot publish the summary for ${this.#path}: ${errorText(error)}`, "warn");
      },
      now: init.now ?? Date.now,
    });
    this.name = `watch:${init.path}`;
  }

  start(): Promise<void> {
    if (this.#running) return this.#starting ?? Promise.resolve();
    this.#running = true;
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    // A stop still releasing handles must finish before new ones are taken.
    await this.#stopping;
    if (!this.#running) return;
    this.#storm.start();
    await this.#follower.start();
  }

  stop(): Promise<void> {
    if (!this.#running) return this.#stopping ?? Promise.resolve();
    this.#running = false;
    this.#stopping = this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    await this.#starting;
    await this.#follower.stop();
    // After the follower: the last lines read still count toward the summary.
    await this.#storm.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  stats(): Record<string, unknown> {
    const follower = this.#follower.stats;
    // Spelled out so the status reply keeps its key order.
    return {
      path: this.#path,
      state: !this.#running ? "stopped" : this.#follower.following ? "following" : "waiting",
      watcher: this.#follower.watching,
      offset: this.#follower.offset,
      checks: follower.checks,
      lines: this.#stats.lines,
      matched: this.#stats.matched,
      published: this.#stats.published,
      suppressed: this.#storm.stats.suppressed,
      summaries: this.#storm.stats.summaries,
      cut: follower.cut,
      rotations: follower.rotations,
      truncations: follower.truncations,
      publish_errors: this.#stats.publish_errors,
      last_error: this.#problems.last,
    };
  }

  async #handleLine(raw: string): Promise<void> {
    this.#stats.lines++;
    const line = cleanLine(raw);
    for (const rule of this.#rules) {
      const match = rule.regex.exec(line);
      if (!match) continue;
      this.#stats.matched++;
      const draft = draftFor(rule, line, match.groups ?? {}, this.#template);
      if (!this.#storm.admit(draft.topic, draft.priority as Priority)) return;
      try {
        await this.#publish(draft);
        this.#stats.published++;
      } catch (error) {
        this.#stats.publish_errors++;
        this.#problems.note(`Cannot publish a line of ${this.#path}: ${errorText(error)}`, "warn");
      }
      // The first matching rule wins: one line, at most one event.
      return;
    }
  }
}
