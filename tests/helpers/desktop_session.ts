/**
 * A throwaway desktop for tests: a private session `dbus-daemon`, `Xvfb` on
 * a free display, and `dunst -print` as the notification server, whose
 * printout is parsed so tests can see exactly what arrived. Everything is
 * killed by `await using`. Needs the Debian packages dbus, xvfb and dunst:
 * register tests with `ignore: !haveDesktop(name)`.
 */

import { waitFor } from "./wait.ts";
import { denoDir } from "./hark.ts";
import { haveTools } from "./tools.ts";

const BINARIES = ["dbus-daemon", "Xvfb", "dunst", "dunstctl", "dbus-send"];

/** Whether the desktop tests named `what` can run here; reports them as tools.ts does when not. */
export function haveDesktop(what: string): boolean {
  return haveTools(what, BINARIES);
}

/** One notification as `dunst -print` reported it. */
export interface DunstNotification {
  id: number;
  appname: string;
  summary: string;
  body: string;
  category: string;
  /** LOW, NORMAL or CRITICAL. */
  urgency: string;
  /** Action key → label. */
  actions: Record<string, string>;
}

export interface DesktopSession extends AsyncDisposable {
  /** DBUS_SESSION_BUS_ADDRESS of the private bus. */
  address: string;
  /** DISPLAY of the Xvfb server. */
  display: string;
  /** The environment a desktop program in this session needs. */
  env: Record<string, string>;
  /** Everything dunst printed so far, parsed. */
  notifications(): DunstNotification[];
  /** Waits until dunst printed a notification that passes `check`. */
  waitForNotification(check: (n: DunstNotification) => boolean, timeoutMs?: number): Promise<DunstNotification>;
  /** Runs `dunstctl ARGS` in this session. */
  dunstctl(...args: string[]): Promise<{ code: number; stdout: string }>;
  /**
   * Clicks the button labelled `label` on the popup on top, as a person
   * would through dunst's context menu: dunst lists the actions to its
   * `dmenu` program, here a script that answers with the line of `label`.
   */
  clickButton(label: string): Promise<void>;
}

// Printed for a notification by dunst 1.9 (`-print`), in this order.
const FIELDS = [
  "appname",
  "summary",
  "body",
  "icon",
  "raw_icon set",
  "icon_id",
  "desktop_entry",
  "category",
  "timeout",
  "urgency",
  "transient",
  "formatted",
  "fg",
  "bg",
  "highlight",
  "frame",
  "fullscreen",
  "format",
  "progress",
  "stack_tag",
  "id",
];

/**
 * Parses `dunst -print` output. Values are printed raw (no escaping), so a
 * value ends where the next field's label begins: test text must not
 * contain a newline, a tab and a field label in a row.
 */
export function parseDunstPrint(text: string): DunstNotification[] {
  const found: DunstNotification[] = [];
  let at = 0;
  while (true) {
    const start = text.indexOf("{\n\tappname: ", at);
    if (start < 0) break;
    const values: Record<string, string> = {};
    let pos = start + 2;
    let complete = true;
    for (let i = 0; i < FIELDS.length; i++) {
      const label = `\t${FIELDS[i]}: `;
      if (!text.startsWith(label, pos)) {
        complete = false;
        break;
      }
      pos += label.length;
      // After the id come optional fields (\`urls:\` when the text holds a URL), then actions.
      const next = i + 1 < FIELDS.length ? `\n\t${FIELDS[i + 1]}: ` : "\n\t";
      const end = text.indexOf(next, pos);
      if (end < 0) {
        complete = false;
        break;
      }
      values[FIELDS[i]] = text.slice(pos, end);
      pos = end + 1;
    }
    if (!complete) break;
    const close = text.indexOf("\n\tscript_count: ", pos);
    const tail = text.indexOf("\n}\n", close < 0 ? pos : close);
    if (close < 0 || tail < 0) break;
    const actions: Record<string, string> = {};
    for (const match of text.slice(pos, close).matchAll(/^\t\t"(.*)": "(.*)"$/gm)) actions[match[1]] = match[2];
    const unquote = (value: string) => value.replace(/^'/, "").replace(/'$/, "");
    found.push({
      id: Number(values.id),
      appname: unquote(values.appname),
      summary: unquote(values.summary),
      body: unquote(values.body),
      category: values.category,
      urgency: values.urgency,
      actions,
    });
    at = tail + 3;
  }
  return found;
}

/** Stands in for dmenu: answers dunst's context menu with the line that holds the label in `pick`. */
const DMENU = `#!/bin/sh
dir=$(dirname "$0")
pick=$(cat "$dir/pick")
grep -F -- "$pick" | head -n 1
`;

const dunstrc = (dir: string) =>
  `[global]
    dmenu = ${dir}/dmenu
    format = "%s|%b|%a"
    markup = full
    stack_duplicates = false
    notification_limit = 0
    idle_threshold = 0
    sticky_history = false
    history_length = 0
    show_indicators = false
    ignore_dbusclose = false
    mouse_left_click = do_action, close_current
[urgency_low]
    timeout = 60
[urgency_normal]
    timeout = 60
[urgency_critical]
    timeout = 0
`;

/** Reads a child's stdout into `sink` until it closes. */
async function drain(stream: ReadableStream<Uint8Array>, sink: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }));
}

/** Starts a private desktop; check `haveDesktop()` when registering the test. */
export async function startDesktopSession(): Promise<DesktopSession> {
  const dir = await Deno.makeTempDir({ prefix: "hark-desktop-" });
  const children: Deno.ChildProcess[] = [];
  const readers: Promise<void>[] = [];
  const cleanup = async () => {
    for (const child of children.reverse()) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      await child.status;
    }
    await Promise.all(readers);
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await Deno.writeTextFile(`${dir}/dunstrc`, dunstrc(dir));
    await Deno.writeTextFile(`${dir}/dmenu`, DMENU, { mode: 0o755 });
    const base = {
      HOME: dir,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      XDG_RUNTIME_DIR: dir,
      LANG: "C.UTF-8",
      // Agents started in this session reuse Deno's cache despite the new HOME.
      DENO_DIR: denoDir(),
    };

    // Each program prints when it is ready (the bus address, the display number): no sleeps.
    const spawnReady = async (command: string, args: string[], env: Record<string, string>, ready: RegExp) => {
      const child = new Deno.Command(command, {
        args,
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      })
        .spawn();
      children.push(child);
      let out = "";
      readers.push(drain(child.stdout, (text) => (out += text)));
      const match = await waitFor(() => ready.exec(out), { message: `${command} did not start`, timeoutMs: 10_000 });
      return { child, match, output: () => out };
    };

    const bus = await spawnReady(
      "dbus-daemon",
      ["--session", "--nofork", "--nopidfile", `--address=unix:path=${dir}/bus`, "--print-address=1"],
      base,
      /^(unix:\S+)\n/,
    );
    const address = bus.match[1];
    const x = await spawnReady(
      "Xvfb",
      ["-displayfd", "1", "-nolisten", "tcp", "-screen", "0", "800x600x24"],
      base,
      /^(\d+)\n/,
    );
    const display = `:${x.match[1]}`;
    const env = { ...base, DBUS_SESSION_BUS_ADDRESS: address, DISPLAY: display };
    const dunst = new Deno.Command("dunst", {
      args: ["-config", `${dir}/dunstrc`, "-print"],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    children.push(dunst);
    let printed = "";
    readers.push(drain(dunst.stdout, (text) => (printed += text)));

    const dunstctl = async (...args: string[]) => {
      const out = await new Deno.Command("dunstctl", { args, env, clearEnv: true, stdout: "piped", stderr: "null" })
        .output();
      return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
    };
    // dunst answers on the bus once it owns org.freedesktop.Notifications.
    await waitFor(async () => (await dunstctl("is-paused")).code === 0, { message: "dunst did not start" });

    const notifications = () => parseDunstPrint(printed);
    return {
      address,
      display,
      env,
      notifications,
      waitForNotification: (check, timeoutMs = 10_000) =>
        waitFor(() => notifications().find(check), { timeoutMs, message: "dunst did not print the notification" }),
      dunstctl,
      clickButton: async (label) => {
        await Deno.writeTextFile(`${dir}/pick`, label);
        const result = await dunstctl("context");
        if (result.code !== 0) throw new Error(`dunstctl context failed with code ${result.code}`);
      },
      [Symbol.asyncDispose]: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
