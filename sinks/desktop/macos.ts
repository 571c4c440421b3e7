/**
 * macOS desktop notifications. Event text is data from other machines, so it
 * never becomes part of a script: `osascript` runs one constant AppleScript
 * that reads the text from its `argv`, and `terminal-notifier` (used when it
 * is installed, because only it can open a URL on click) gets every value as
 * its own argv item, escaped against its option parser, with the body on
 * stdin.
 */

import { getLogger } from "@logtape/logtape";
import { HarkError } from "../../lib/errors.ts";
import { denoRunner, type Notification, type Run, type Runner, textForProgram } from "./notification.ts";

const log = getLogger(["hark", "desktop"]);

/**
 * The only AppleScript hark runs. The text arrives as `argv` items after
 * `--`, so no quote, `"& do shell script"` or newline in it can end a string
 * literal. `--` stops osascript's option parsing, so a body such as
 * `-e do shell script "id"` stays an argument; if an osascript passed `--`
 * through instead of consuming it, the first of five items is dropped.
 */
export const APPLESCRIPT = `on run argv
	set args to argv
	if (count of args) is 5 then set args to rest of args
	set theBody to item 1 of args
	set theTitle to item 2 of args
	set theSubtitle to item 3 of args
	set theSound to item 4 of args
	if theSound is "" then
		display notification theBody with title theTitle subtitle theSubtitle
	else
		display notification theBody with title theTitle subtitle theSubtitle sound name theSound
	end if
end run`;

/** Always present on macOS; an absolute path keeps PATH out of the choice. */
export const OSASCRIPT = "/usr/bin/osascript";
export const TERMINAL_NOTIFIER = "terminal-notifier";

/**
 * Critical notifications play this sound; none of them bypass Do Not Disturb
 * (`-ignoreDnD`): a peer on the network must not override the user's Focus.
 */
export const CRITICAL_SOUND = "Glass";

/**
 * terminal-notifier reads its options through `NSUserDefaults`: a value that
 * starts with `-` becomes another option (`-title -help` prints help, and a
 * value could name `-execute`), and one that starts with `(`, `{`, `<`, `[`
 * or `"` is parsed as a property list (julienXX/terminal-notifier#34, #134,
 * #263). Its `NSUserDefaults` subscript strips one leading backslash
 * (`SubscriptAndUnescape` in AppDelegate.m, 1.6 and later), so every value
 * hark passes starts with one: no value is an option, no value is a plist,
 * and no argv item equals `-help`, `-json` or `-reply`, which it looks for
 * anywhere in argv. The body goes on stdin, which it reads when `-message`
 * is absent.
 */
const TN_ESCAPE = "\\";

export const SUMMARY_MAX_CHARS = 256;
export const BODY_MAX_CHARS = 4096;
export const CATEGORY_MAX_CHARS = 64;
export const KEY_MAX_CHARS = 256;
export const CLICK_MAX_CHARS = 2048;

/** The URL terminal-notifier opens on click, or undefined when it cannot. */
function clickUrl(click: string | undefined): string | undefined {
  if (click === undefined || click.length > CLICK_MAX_CHARS) return undefined;
  const url = URL.parse(click);
  // terminal-notifier refuses URLs without a host, such as mailto:.
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) return undefined;
  return url.href;
}

/**
 * The program run that shows `n`. Pure: tests check its exact argv and
 * stdin. `useTerminalNotifier` picks terminal-notifier (argv[0] is its bare
 * name; `MacDesktop` puts the path it found there) over osascript.
 */
export function macRun(n: Notification, useTerminalNotifier: boolean): Run {
  const title = textForProgram(n.summary, SUMMARY_MAX_CHARS, false);
  const body = textForProgram(n.body, BODY_MAX_CHARS, true);
  const subtitle = n.category === undefined ? "" : textForProgram(n.category, CATEGORY_MAX_CHARS, false);
  const sound = n.urgency === "critical" ? CRITICAL_SOUND : "";
  if (!useTerminalNotifier) {
    return { argv: [OSASCRIPT, "-e", APPLESCRIPT, "--", body, title, subtitle, sound] };
  }
  const argv = [TERMINAL_NOTIFIER, "-title", TN_ESCAPE + title];
  if (subtitle !== "") argv.push("-subtitle", TN_ESCAPE + subtitle);
  if (n.replacesKey !== undefined) argv.push("-group", groupOf(n.replacesKey));
  const open = clickUrl(n.click);
  if (open !== undefined) argv.push("-open", TN_ESCAPE + open);
  if (sound !== "") argv.push("-sound", sound);
  // An empty stdin made terminal-notifier 1.x print its help instead.
  return { argv, stdin: body === "" ? " " : body };
}

/** terminal-notifier's group for a replace key: a later notification in the group replaces the earlier one. */
function groupOf(key: string): string {
  return TN_ESCAPE + "hark:" + textForProgram(key, KEY_MAX_CHARS, false);
}

/** The terminal-notifier run that removes the notification shown under `key` (`-remove GROUP`). */
export function macRemoveRun(key: string): Run {
  return { argv: [TERMINAL_NOTIFIER, "-remove", groupOf(key)] };
}

/** Whether notifications can be shown, and how or why not (same shape as the Linux backend's). */
export interface Availability {
  ok: boolean;
  reason: string;
}

/** A desktop notification program ran and failed. */
export class MacDesktopError extends HarkError {
  override name = "MacDesktopError";
}

export interface MacDesktopInit {
  /** Runs the helper programs. @default denoRunner */
  runner?: Runner;
  /** Finds a program; undefined when it is not installed. @default a PATH search that also looks in Homebrew's bin directories */
  which?: (program: string) => Promise<string | undefined>;
  /** The operating system, for tests. @default Deno.build.os */
  os?: typeof Deno.build.os;
  /** Where "unavailable" and fallback warnings go. @default the hark logger */
  warn?: (message: string) => void;
}

/**
 * How long `show()` waits for a terminal-notifier run that opens a URL on
 * click: such a run stays alive until the notification is clicked or
 * dismissed (it handles the click itself), so after this grace it carries on
 * in the background, bounded by the runner's deadline and by `close()`.
 */
const CLICK_GRACE_MS = 1500;

export class MacDesktop {
  #runner: Runner;
  #which: (program: string) => Promise<string | undefined>;
  #os: typeof Deno.build.os;
  #warn: (message: string) => void;
  #starting?: Promise<void>;
  #terminalNotifier?: string;
  #unavailable?: string;
  #detected = false;
  #closing = new AbortController();
  #background = new Set<Promise<void>>();

  constructor(init: MacDesktopInit = {}) {
    this.#runner = init.runner ?? denoRunner;
    this.#which = init.which ?? findProgram;
    this.#os = init.os ?? Deno.build.os;
    this.#warn = init.warn ?? ((message) => log.warn(message));
  }

  /** Looks for terminal-notifier, once. Idempotent. */
  start(): Promise<void> {
    this.#starting ??= this.#detect();
    return this.#starting;
  }

  async #detect(): Promise<void> {
    if (this.#os !== "darwin") {
      this.#unavailable = `osascript notifications need macOS; this is ${this.#os}`;
      return;
    }
    this.#terminalNotifier = await this.#which(TERMINAL_NOTIFIER);
    this.#detected = true;
  }

  /** Whether notifications can be shown, and how or why not: for logs, `hark status` and `hark doctor`. */
  available(): Availability {
    if (this.#unavailable !== undefined) return { ok: false, reason: this.#unavailable };
    if (!this.#detected) return { ok: false, reason: "not started" };
    return {
      ok: true,
      reason: this.#terminalNotifier === undefined
        ? `${OSASCRIPT} (terminal-notifier is not installed: no click-to-open)`
        : `terminal-notifier at ${this.#terminalNotifier}`,
    };
  }

  /**
   * Shows `n`. A missing program makes the backend unavailable (logged once,
   * then `show()` does nothing); any other failure throws `MacDesktopError`.
   * If terminal-notifier fails, osascript shows the notification without
   * click-to-open.
   */
  async show(n: Notification, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.start();
    if (this.#unavailable !== undefined || this.#closing.signal.aborted) return;
    if (this.#terminalNotifier !== undefined) {
      const run = macRun(n, true);
      run.argv[0] = this.#terminalNotifier;
      const failure = await this.#runTerminalNotifier(run, options.signal);
      if (failure === undefined) return;
      this.#warn(`terminal-notifier failed (${failure}); showing the notification with osascript`);
      if (failure === "not found") this.#terminalNotifier = undefined;
    }
    await this.#run(macRun(n, false), options.signal);
  }

  /**
   * Removes the notification shown under `key`, with terminal-notifier;
   * osascript cannot, so without it the notification stays (macOS shows the
   * new one when a version comes). Never throws.
   */
  async withdraw(key: string): Promise<void> {
    await this.start();
    if (this.#unavailable !== undefined || this.#closing.signal.aborted || this.#terminalNotifier === undefined) return;
    const run = macRemoveRun(key);
    run.argv[0] = this.#terminalNotifier;
    const failure = await this.#runTerminalNotifier(run);
    if (failure !== undefined) this.#warn(`cannot remove a notification: ${failure}`);
  }

  /** Undefined when delivered, else why not. */
  async #runTerminalNotifier(run: Run, signal?: AbortSignal): Promise<string | undefined> {
    const waitsForClick = run.argv.includes("-open");
    const stop = AbortSignal.any([this.#closing.signal, ...(signal && !waitsForClick ? [signal] : [])]);
    const result = this.#runner(run, stop).then(
      ({ code, stderr }) => code === 0 ? undefined : `exit code ${code}: ${stderr.trim().slice(0, 200)}`,
      (error) => error instanceof Deno.errors.NotFound ? "not found" : String(error),
    );
    if (!waitsForClick) return await result;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<"waiting">((resolve) => timer = setTimeout(() => resolve("waiting"), CLICK_GRACE_MS));
    try {
      const outcome = await Promise.race([result, grace]);
      if (outcome !== "waiting") return outcome;
    } finally {
      clearTimeout(timer);
    }
    // Still up: the notification is showing and the program waits for a click.
    const tracked: Promise<void> = result.then(() => {}).finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
    return undefined;
  }

  async #run(run: Run, signal?: AbortSignal): Promise<void> {
    const stop = AbortSignal.any([this.#closing.signal, ...(signal ? [signal] : [])]);
    let result;
    try {
      result = await this.#runner(run, stop);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        this.#unavailable = `${run.argv[0]} was not found`;
        this.#warn(`desktop notifications are off: ${this.#unavailable}`);
        return;
      }
      throw new MacDesktopError(`Cannot show a notification with ${run.argv[0]}: ${error}`, { cause: error });
    }
    if (result.code !== 0) {
      throw new MacDesktopError(
        `Cannot show a notification with ${run.argv[0]}: exit code ${result.code}: ${
          result.stderr.trim().slice(0, 200)
        }`,
      );
    }
  }

  /** Stops terminal-notifier runs still waiting for a click. Idempotent. */
  async close(): Promise<void> {
    this.#closing.abort(new DOMException("the desktop sink is closing", "AbortError"));
    await Promise.all(this.#background);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Finds an executable on PATH, then in Homebrew's bin directories: an agent
 * started by launchd gets a PATH without them.
 */
async function findProgram(program: string): Promise<string | undefined> {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir.startsWith("/"));
  for (const dir of [...dirs, "/opt/homebrew/bin", "/usr/local/bin"]) {
    const path = `${dir}/${program}`;
    try {
      const info = await Deno.stat(path);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) return path;
    } catch {
      // Not there; try the next directory.
    }
  }
  return undefined;
}
