/**
 * Windows desktop notifications through Windows PowerShell. The scripts are
 * constants, passed base64-encoded with `-EncodedCommand`, so the command
 * line never holds event text. The text travels in environment variables
 * (`HARK_N_*`) and reaches the toast XML only through `CreateTextNode` and
 * `SetAttribute`, which escape it: `</text><action …>` stays text.
 *
 * `$env:NAME` hands PowerShell the variable's value as a plain string:
 * `%PATH%` is expanded only by cmd.exe (and REG_EXPAND_SZ registry values),
 * and a `$(...)` inside a value is never parsed, because a value read at run
 * time is data, not source. The scripts never put `$env:` inside a
 * double-quoted string, which is the one place PowerShell expands.
 */

import { getLogger } from "@logtape/logtape";
import { HarkError } from "../../lib/errors.ts";
import { denoRunner, type Notification, type Run, type Runner, textForProgram } from "./notification.ts";
import { fnv1a64 } from "../../lib/util/fnv.ts";

const log = getLogger(["hark", "desktop"]);

export const POWERSHELL = "powershell.exe";

/**
 * Toasts need an AppUserModelID that has a Start menu shortcut. Windows
 * PowerShell's own is registered on every desktop Windows, so toasts show
 * "Windows PowerShell" as their source; a hark AUMID would need hark to
 * install a shortcut first (a job for `hark service install`).
 */
export const AUMID = "{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\\WindowsPowerShell\\v1.0\\powershell.exe";

/** Names of the variables that carry the text; every run sets all of them ("" = none). */
export const ENV_NAMES = {
  title: "HARK_N_TITLE",
  body: "HARK_N_BODY",
  category: "HARK_N_CATEGORY",
  click: "HARK_N_CLICK",
  tag: "HARK_N_TAG",
  urgency: "HARK_N_URGENCY",
  expireMs: "HARK_N_EXPIRE_MS",
  showMs: "HARK_N_SHOW_MS",
} as const;

const PREAMBLE = `$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Has($value) { -not [string]::IsNullOrEmpty($value) }
`;

/**
 * A WinRT toast built node by node. `launch` with `activationType="protocol"`
 * opens the URL when the toast is clicked, also after PowerShell has exited.
 * low: silent; critical: high priority (Windows 10 1703 and later).
 */
export const TOAST_SCRIPT = PREAMBLE +
  `$null = [Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime]
$null = [Windows.Data.Xml.Dom.XmlDocument, Windows.Data.Xml.Dom.XmlDocument, ContentType = WindowsRuntime]
$doc = [Windows.Data.Xml.Dom.XmlDocument]::new()
function Add-Element($parent, $name) {
  $element = $doc.CreateElement($name)
  $null = $parent.AppendChild($element)
  $element
}
function Add-Text($parent, $value) {
  $element = Add-Element $parent 'text'
  $null = $element.AppendChild($doc.CreateTextNode([string]$value))
  $element
}
$toast = Add-Element $doc 'toast'
$binding = Add-Element (Add-Element $toast 'visual') 'binding'
$binding.SetAttribute('template', 'ToastGeneric')
$null = Add-Text $binding $env:HARK_N_TITLE
if (Has $env:HARK_N_BODY) { $null = Add-Text $binding $env:HARK_N_BODY }
if (Has $env:HARK_N_CATEGORY) { (Add-Text $binding $env:HARK_N_CATEGORY).SetAttribute('placement', 'attribution') }
if (Has $env:HARK_N_CLICK) {
  $toast.SetAttribute('activationType', 'protocol')
  $toast.SetAttribute('launch', [string]$env:HARK_N_CLICK)
}
if ($env:HARK_N_URGENCY -eq 'low') { (Add-Element $toast 'audio').SetAttribute('silent', 'true') }
$notification = [Windows.UI.Notifications.ToastNotification]::new($doc)
$notification.Group = 'hark'
if (Has $env:HARK_N_TAG) { $notification.Tag = [string]$env:HARK_N_TAG }
if (Has $env:HARK_N_EXPIRE_MS) {
  $notification.ExpirationTime = [DateTimeOffset]::Now.AddMilliseconds([double]$env:HARK_N_EXPIRE_MS)
}
if ($env:HARK_N_URGENCY -eq 'critical') {
  try { $notification.Priority = [Windows.UI.Notifications.ToastNotificationPriority]::High } catch {}
}
[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('${AUMID}').Show($notification)
`;

/**
 * A tray balloon where WinRT is missing. It lasts only while this process
 * runs, so the script pumps messages for HARK_N_SHOW_MS and opens the URL
 * itself if the balloon is clicked meanwhile.
 */
export const BALLOON_SCRIPT = PREAMBLE + `Add-Type -AssemblyName System.Windows.Forms, System.Drawing
$icon = New-Object System.Windows.Forms.NotifyIcon
$icon.Icon = [System.Drawing.SystemIcons]::Information
$icon.Text = 'hark'
$icon.BalloonTipTitle = [string]$env:HARK_N_TITLE
$icon.BalloonTipText = [string]$env:HARK_N_BODY
$icon.BalloonTipIcon = 'Info'
if ($env:HARK_N_URGENCY -eq 'critical') { $icon.BalloonTipIcon = 'Warning' }
if ($env:HARK_N_URGENCY -eq 'low') { $icon.BalloonTipIcon = 'None' }
$script:clicked = $false
$icon.add_BalloonTipClicked({ $script:clicked = $true })
$showMs = [int]$env:HARK_N_SHOW_MS
try {
  $icon.Visible = $true
  $icon.ShowBalloonTip($showMs)
  $until = [DateTime]::UtcNow.AddMilliseconds($showMs)
  while (-not $script:clicked -and [DateTime]::UtcNow -lt $until) {
    [System.Windows.Forms.Application]::DoEvents()
    Start-Sleep -Milliseconds 100
  }
  if ($script:clicked -and (Has $env:HARK_N_CLICK)) {
    $start = New-Object System.Diagnostics.ProcessStartInfo
    $start.FileName = [string]$env:HARK_N_CLICK
    $start.UseShellExecute = $true
    $null = [System.Diagnostics.Process]::Start($start)
  }
} finally {
  $icon.Dispose()
}
`;

/** Prints `toast` where WinRT toasts can be made (Windows PowerShell 5.1 on a desktop), else `balloon`. */
export const PROBE_SCRIPT = PREAMBLE + `try {
  $null = [Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime]
  $null = [Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('${AUMID}')
  'toast'
} catch {
  'balloon'
}
`;

/** `-EncodedCommand` takes base64 of the script's UTF-16LE code units. */
export function encodeCommand(script: string): string {
  const bytes = new Uint8Array(script.length * 2);
  for (let i = 0; i < script.length; i++) {
    const unit = script.charCodeAt(i);
    bytes[2 * i] = unit & 0xff;
    bytes[2 * i + 1] = unit >> 8;
  }
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function powershellRun(script: string, env?: Record<string, string>): Run {
  const argv = [
    POWERSHELL,
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-EncodedCommand",
    encodeCommand(script),
  ];
  return env === undefined ? { argv } : { argv, env };
}

export const SUMMARY_MAX_CHARS = 256;
export const BODY_MAX_CHARS = 2048;
export const CATEGORY_MAX_CHARS = 64;
export const CLICK_MAX_CHARS = 2048;
/** NOTIFYICONDATA holds 64 and 256 UTF-16 units including the terminating NUL. */
export const BALLOON_TITLE_MAX_CHARS = 63;
export const BALLOON_BODY_MAX_CHARS = 255;
const BALLOON_DEFAULT_MS = 6000;
/** The balloon's process must end well inside the runner's 10 s deadline. */
const BALLOON_MAX_MS = 8000;

/**
 * A toast's Tag is limited to 16 characters before Windows 10 1703 (64
 * after), so the replace key becomes a 64-bit FNV-1a hash in hex.
 */
export function toastTag(key: string): string {
  return fnv1a64(new TextEncoder().encode(key)).toString(16).padStart(16, "0");
}

/**
 * The program run that shows `n`. Pure: argv is the same for every
 * notification of a mode; only env varies.
 */
export function windowsRun(n: Notification, mode: "toast" | "balloon"): Run {
  const click = n.click !== undefined && n.click.length <= CLICK_MAX_CHARS && URL.parse(n.click) ? n.click : "";
  const expireMs = n.expireMs !== undefined && Number.isFinite(n.expireMs) && n.expireMs > 0
    ? Math.min(Math.round(n.expireMs), 2 ** 31)
    : undefined;
  let title = textForProgram(n.summary, SUMMARY_MAX_CHARS, false);
  let body = textForProgram(n.body, BODY_MAX_CHARS, true);
  if (mode === "balloon") {
    // ShowBalloonTip refuses an empty text.
    if (body === "") [title, body] = ["", title === "" ? " " : title];
    title = textForProgram(title, BALLOON_TITLE_MAX_CHARS, false);
    body = textForProgram(body, BALLOON_BODY_MAX_CHARS, true);
  }
  const showMs = Math.min(Math.max(expireMs ?? BALLOON_DEFAULT_MS, 1000), BALLOON_MAX_MS);
  return powershellRun(mode === "toast" ? TOAST_SCRIPT : BALLOON_SCRIPT, {
    [ENV_NAMES.title]: title,
    [ENV_NAMES.body]: body,
    [ENV_NAMES.category]: n.category === undefined ? "" : textForProgram(n.category, CATEGORY_MAX_CHARS, false),
    [ENV_NAMES.click]: click,
    [ENV_NAMES.tag]: n.replacesKey === undefined ? "" : toastTag(n.replacesKey),
    [ENV_NAMES.urgency]: n.urgency,
    [ENV_NAMES.expireMs]: expireMs === undefined ? "" : String(expireMs),
    [ENV_NAMES.showMs]: String(showMs),
  });
}

/** Removes the toast tagged HARK_N_TAG in hark's group from the Action Center (an acknowledgement or a deletion). */
export const REMOVE_SCRIPT = PREAMBLE +
  `$null = [Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime]
[Windows.UI.Notifications.ToastNotificationManager]::History.Remove([string]$env:HARK_N_TAG, 'hark', '${AUMID}')
`;

/** The run that removes the toast shown under replace key `key`. */
export function removeRun(key: string): Run {
  return powershellRun(REMOVE_SCRIPT, { [ENV_NAMES.tag]: toastTag(key) });
}

/** The run that tells toast from balloon; it prints one word. */
export function probeRun(): Run {
  return powershellRun(PROBE_SCRIPT);
}

/** Whether notifications can be shown, and how or why not (same shape as the Linux backend's). */
export interface Availability {
  ok: boolean;
  reason: string;
}

/** A desktop notification program ran and failed. */
export class WindowsDesktopError extends HarkError {
  override name = "WindowsDesktopError";
}

export interface WindowsDesktopInit {
  /** Runs PowerShell. @default denoRunner */
  runner?: Runner;
  /** Finds a program; undefined when it is not installed. @default a PATH search, then %SystemRoot%\System32\WindowsPowerShell\v1.0 */
  which?: (program: string) => Promise<string | undefined>;
  /** The operating system, for tests. @default Deno.build.os */
  os?: typeof Deno.build.os;
  /** Where "unavailable" and fallback warnings go. @default the hark logger */
  warn?: (message: string) => void;
}

export class WindowsDesktop {
  #runner: Runner;
  #which: (program: string) => Promise<string | undefined>;
  #os: typeof Deno.build.os;
  #warn: (message: string) => void;
  #detected = false;
  #starting?: Promise<void>;
  #powershell?: string;
  #mode: "toast" | "balloon" = "balloon";
  #unavailable?: string;
  #closing = new AbortController();

  constructor(init: WindowsDesktopInit = {}) {
    this.#runner = init.runner ?? denoRunner;
    this.#which = init.which ?? findProgram;
    this.#os = init.os ?? Deno.build.os;
    this.#warn = init.warn ?? ((message) => log.warn(message));
  }

  /** Finds PowerShell and probes once whether it can make toasts. Idempotent. */
  start(): Promise<void> {
    this.#starting ??= this.#detect();
    return this.#starting;
  }

  async #detect(): Promise<void> {
    if (this.#os !== "windows") {
      this.#unavailable = `PowerShell notifications need Windows; this is ${this.#os}`;
      return;
    }
    this.#powershell = await this.#which(POWERSHELL);
    if (this.#powershell === undefined) {
      this.#unavailable = `${POWERSHELL} was not found`;
      return;
    }
    const run = probeRun();
    run.argv[0] = this.#powershell;
    try {
      const result = await this.#runner(run, this.#closing.signal);
      this.#mode = result.code === 0 && result.stdout.trim() === "toast" ? "toast" : "balloon";
      this.#detected = true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        this.#unavailable = `${POWERSHELL} was not found`;
        return;
      }
      // A probe that hangs or fails says nothing about WinRT; balloons work everywhere.
      this.#warn(`cannot tell whether toasts work (${error}); using tray balloons`);
      this.#mode = "balloon";
      this.#detected = true;
    }
  }

  /** Whether notifications can be shown, and how or why not: for logs, `hark status` and `hark doctor`. */
  available(): Availability {
    if (this.#unavailable !== undefined) return { ok: false, reason: this.#unavailable };
    if (!this.#detected) return { ok: false, reason: "not started" };
    return {
      ok: true,
      reason: this.#mode === "toast"
        ? `WinRT toasts through ${this.#powershell}`
        : `tray balloons through ${this.#powershell} (WinRT toasts are not available)`,
    };
  }

  /**
   * Shows `n`. A missing PowerShell makes the backend unavailable (logged
   * once, then `show()` does nothing). A failed toast is retried as a
   * balloon; a failed balloon throws `WindowsDesktopError`.
   */
  async show(n: Notification, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.start();
    if (this.#unavailable !== undefined || this.#closing.signal.aborted) return;
    if (this.#mode === "toast") {
      const failure = await this.#run(windowsRun(n, "toast"), options.signal);
      if (failure === undefined || this.#unavailable !== undefined) return;
      this.#warn(`toast failed (${failure}); showing a tray balloon`);
    }
    const failure = await this.#run(windowsRun(n, "balloon"), options.signal);
    if (failure !== undefined && this.#unavailable === undefined) {
      throw new WindowsDesktopError(`Cannot show a notification with ${POWERSHELL}: ${failure}`);
    }
  }

  /** Removes the toast shown under `key`; a balloon is gone by itself. Never throws. */
  async withdraw(key: string): Promise<void> {
    await this.start();
    if (this.#unavailable !== undefined || this.#closing.signal.aborted || this.#mode !== "toast") return;
    const failure = await this.#run(removeRun(key));
    if (failure !== undefined) this.#warn(`cannot remove a toast: ${failure}`);
  }

  /** Undefined when the run succeeded, else why not. */
  async #run(run: Run, signal?: AbortSignal): Promise<string | undefined> {
    run.argv[0] = this.#powershell ?? POWERSHELL;
    const stop = AbortSignal.any([this.#closing.signal, ...(signal ? [signal] : [])]);
    try {
      const { code, stderr } = await this.#runner(run, stop);
      return code === 0 ? undefined : `exit code ${code}: ${stderr.trim().slice(0, 200)}`;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        this.#unavailable = `${run.argv[0]} was not found`;
        this.#warn(`desktop notifications are off: ${this.#unavailable}`);
        return this.#unavailable;
      }
      return String(error);
    }
  }

  /** Stops a run in progress. Idempotent. */
  close(): Promise<void> {
    this.#closing.abort(new DOMException("the desktop sink is closing", "AbortError"));
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Finds a program on PATH, then in Windows PowerShell's fixed directory (an
 * agent started by the task scheduler may get a short PATH).
 */
async function findProgram(program: string): Promise<string | undefined> {
  const dirs = (Deno.env.get("PATH") ?? "").split(";").filter((dir) => /^[a-zA-Z]:\\/.test(dir));
  const root = Deno.env.get("SystemRoot");
  if (root) dirs.push(`${root}\\System32\\WindowsPowerShell\\v1.0`);
  for (const dir of dirs) {
    const path = `${dir.replace(/\\$/, "")}\\${program}`;
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch {
      // Not there; try the next directory.
    }
  }
  return undefined;
}
