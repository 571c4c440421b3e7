import assert from "node:assert/strict";
import {
  APPLESCRIPT,
  BODY_MAX_CHARS,
  CRITICAL_SOUND,
  MacDesktop,
  macRemoveRun,
  macRun,
  OSASCRIPT,
  SUMMARY_MAX_CHARS,
  TERMINAL_NOTIFIER,
} from "./macos.ts";
import type { Notification, Run, Runner } from "./notification.ts";

const HOSTILE: { name: string; text: string }[] = [
  { name: "double quote", text: 'say "hi"' },
  { name: "single quote", text: "it's" },
  { name: "backtick", text: "`id`" },
  { name: "command substitution", text: "$(id)" },
  { name: "AppleScript injection", text: '" & do shell script "id" & "' },
  { name: "XML injection", text: '</text><action content="x" arguments="calc.exe"/>' },
  { name: "cmd variable", text: "%PATH%" },
  { name: "option-looking", text: "-- --help" },
  { name: "terminal-notifier help", text: "-help" },
  { name: "osascript -e", text: '-e do shell script "id"' },
  { name: "terminal-notifier -execute", text: "-execute" },
  { name: "plist array", text: "(a, b)" },
  { name: "plist dict", text: '{execute = "id";}' },
  { name: "plist data", text: "<6869>" },
  { name: "backslash", text: "\\-x" },
  { name: "newlines", text: "one\ntwo\r\nthree" },
  { name: "NUL", text: "a\0b" },
  { name: "emoji", text: "done ✅ 😀" },
  { name: "very long", text: "x".repeat(100_000) },
];

function note(fields: Partial<Notification> = {}): Notification {
  return { summary: "Build #812 failed", body: "test_login timed out", urgency: "normal", ...fields };
}

/** What the title becomes: one line, no NUL, capped. */
function asTitle(text: string): string {
  const line = text.replace(/\r\n?|\n/g, " ").replace(/\0/g, "\uFFFD");
  return line.length > SUMMARY_MAX_CHARS ? line.slice(0, SUMMARY_MAX_CHARS - 1) + "…" : line;
}

function asBody(text: string): string {
  const clean = text.replace(/\r\n?/g, "\n").replace(/\0/g, "\uFFFD");
  return clean.length > BODY_MAX_CHARS ? clean.slice(0, BODY_MAX_CHARS - 1) + "…" : clean;
}

Deno.test("macRun() passes hostile text to osascript only as whole argv items", async (t) => {
  for (const { name, text } of HOSTILE) {
    await t.step(name, () => {
      const run = macRun(note({ summary: text, body: text, category: "ci" }), false);
      assert.deepEqual(run.argv, [OSASCRIPT, "-e", APPLESCRIPT, "--", asBody(text), asTitle(text), "ci", ""]);
      assert.equal(run.argv[2], APPLESCRIPT);
      assert.equal(run.stdin, undefined);
      assert.equal(run.env, undefined);
      for (const item of run.argv) assert.ok(!item.includes("\0"));
      assert.ok(run.argv[4].length <= BODY_MAX_CHARS && run.argv[5].length <= SUMMARY_MAX_CHARS);
    });
  }
});

Deno.test("APPLESCRIPT reads its text from argv and holds no event text", () => {
  assert.match(APPLESCRIPT, /^on run argv\n/);
  assert.match(APPLESCRIPT, /item 1 of args/);
  assert.match(APPLESCRIPT, /end run$/);
  // Only the two constant string literals "" (no sound) exist in the script.
  assert.deepEqual(APPLESCRIPT.match(/"[^"]*"/g), ['""']);
  for (const { text } of HOSTILE) {
    if (text.length > 3) assert.ok(!APPLESCRIPT.includes(text));
  }
});

Deno.test("macRun() escapes every terminal-notifier value and sends the body on stdin", async (t) => {
  for (const { name, text } of HOSTILE) {
    await t.step(name, () => {
      const run = macRun(note({ summary: text, body: text, category: "ci", replacesKey: text }), true);
      assert.deepEqual(run.argv, [
        TERMINAL_NOTIFIER,
        "-title",
        "\\" + asTitle(text),
        "-subtitle",
        "\\ci",
        "-group",
        "\\hark:" + asTitle(text),
      ]);
      assert.equal(run.stdin, asBody(text));
      for (let i = 1; i < run.argv.length; i += 2) {
        assert.ok(["-title", "-subtitle", "-group", "-open", "-sound"].includes(run.argv[i]));
        // No value can read as an option or a property list.
        assert.equal(run.argv[i + 1][0], "\\");
      }
      for (const flag of ["-help", "-json", "-reply", "-execute", "-ignoreDnD", "-message"]) {
        assert.ok(!run.argv.includes(flag));
      }
    });
  }
});

Deno.test("macRun() maps urgency, click and an empty body", async (t) => {
  await t.step("critical plays a sound and never bypasses Do Not Disturb", () => {
    const osa = macRun(note({ urgency: "critical" }), false);
    assert.equal(osa.argv.at(-1), CRITICAL_SOUND);
    const tn = macRun(note({ urgency: "critical" }), true);
    assert.deepEqual(tn.argv.slice(-2), ["-sound", CRITICAL_SOUND]);
    assert.ok(!tn.argv.includes("-ignoreDnD"));
  });
  await t.step("low and normal are silent", () => {
    assert.equal(macRun(note({ urgency: "low" }), false).argv.at(-1), "");
    assert.ok(!macRun(note({ urgency: "low" }), true).argv.includes("-sound"));
  });
  await t.step("https click becomes -open", () => {
    const run = macRun(note({ click: "https://ci.example.org/812?a=1&b=(2)" }), true);
    assert.deepEqual(run.argv.slice(-2), ["-open", "\\https://ci.example.org/812?a=1&b=(2)"]);
  });
  await t.step("mailto click is left out (terminal-notifier wants a host)", () => {
    assert.ok(!macRun(note({ click: "mailto:ops@example.org" }), true).argv.includes("-open"));
  });
  await t.step("osascript has no click", () => {
    assert.equal(macRun(note({ click: "https://x.example" }), false).argv.length, 8);
  });
  await t.step("empty body is a space on stdin", () => {
    assert.equal(macRun(note({ body: "" }), true).stdin, " ");
  });
  await t.step("long text is capped without splitting a surrogate pair", () => {
    const run = macRun(note({ summary: "a" + "😀".repeat(200) }), false);
    assert.ok(run.argv[5].length <= SUMMARY_MAX_CHARS);
    assert.equal(run.argv[5].toWellFormed(), run.argv[5]);
  });
});

interface Call {
  run: Run;
  signal?: AbortSignal;
}

function fakeRunner(reply: (run: Run) => Promise<{ code: number; stdout: string; stderr: string }>) {
  const calls: Call[] = [];
  const runner: Runner = (run, signal) => {
    calls.push({ run, signal });
    return reply(run);
  };
  return { calls, runner };
}

const ok = () => Promise.resolve({ code: 0, stdout: "", stderr: "" });

Deno.test("MacDesktop picks terminal-notifier when it is installed", async (t) => {
  await t.step("with terminal-notifier", async () => {
    const { calls, runner } = fakeRunner(ok);
    const lookups: string[] = [];
    await using desktop = new MacDesktop({
      runner,
      os: "darwin",
      which: (program) => {
        lookups.push(program);
        return Promise.resolve(program === TERMINAL_NOTIFIER ? "/opt/homebrew/bin/terminal-notifier" : undefined);
      },
    });
    assert.deepEqual(desktop.available(), { ok: false, reason: "not started" });
    await desktop.start();
    await desktop.start();
    assert.deepEqual(lookups, [TERMINAL_NOTIFIER]);
    assert.deepEqual(desktop.available(), {
      ok: true,
      reason: "terminal-notifier at /opt/homebrew/bin/terminal-notifier",
    });
    await desktop.show(note());
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0].run, {
      ...macRun(note(), true),
      argv: ["/opt/homebrew/bin/terminal-notifier", ...macRun(note(), true).argv.slice(1)],
    });
  });
  await t.step("without terminal-notifier", async () => {
    const { calls, runner } = fakeRunner(ok);
    await using desktop = new MacDesktop({ runner, os: "darwin", which: () => Promise.resolve(undefined) });
    await desktop.show(note());
    assert.deepEqual(calls.map((call) => call.run), [macRun(note(), false)]);
    const status = desktop.available();
    assert.equal(status.ok, true);
    assert.match(status.reason, /osascript.*no click-to-open/);
  });
  await t.step("terminal-notifier failing falls back to osascript", async () => {
    const warnings: string[] = [];
    const { calls, runner } = fakeRunner((run) =>
      Promise.resolve(
        run.argv[0] === OSASCRIPT ? { code: 0, stdout: "", stderr: "" } : { code: 1, stdout: "", stderr: "boom" },
      )
    );
    await using desktop = new MacDesktop({
      runner,
      os: "darwin",
      which: () => Promise.resolve("/usr/local/bin/terminal-notifier"),
      warn: (message) => warnings.push(message),
    });
    await desktop.show(note());
    assert.deepEqual(calls.map((call) => call.run.argv[0]), ["/usr/local/bin/terminal-notifier", OSASCRIPT]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /exit code 1: boom/);
  });
});

Deno.test("MacDesktop reports why it is unavailable", async (t) => {
  await t.step("not macOS", async () => {
    const { calls, runner } = fakeRunner(ok);
    await using desktop = new MacDesktop({ runner, os: "linux", which: () => Promise.resolve(undefined) });
    await desktop.show(note());
    assert.equal(calls.length, 0);
    assert.deepEqual(desktop.available(), { ok: false, reason: "osascript notifications need macOS; this is linux" });
  });
  await t.step("osascript missing: no throw, reported once, never run again", async () => {
    const warnings: string[] = [];
    const { calls, runner } = fakeRunner(() => Promise.reject(new Deno.errors.NotFound("No such file")));
    await using desktop = new MacDesktop({
      runner,
      os: "darwin",
      which: () => Promise.resolve(undefined),
      warn: (message) => warnings.push(message),
    });
    await desktop.show(note());
    await desktop.show(note());
    assert.equal(calls.length, 1);
    assert.deepEqual(warnings, [`desktop notifications are off: ${OSASCRIPT} was not found`]);
    assert.deepEqual(desktop.available(), { ok: false, reason: `${OSASCRIPT} was not found` });
  });
  await t.step("osascript failing throws", async () => {
    const { runner } = fakeRunner(() => Promise.resolve({ code: 1, stdout: "", stderr: "syntax error" }));
    await using desktop = new MacDesktop({ runner, os: "darwin", which: () => Promise.resolve(undefined) });
    await assert.rejects(desktop.show(note()), { name: "MacDesktopError", message: /syntax error/ });
  });
});

Deno.test("MacDesktop leaves a terminal-notifier run waiting for a click in the background", async () => {
  const { calls, runner } = fakeRunner((_run) =>
    new Promise((resolve) => {
      // Like terminal-notifier -open: it runs until the notification goes or the sink closes.
      calls.at(-1)!.signal!.addEventListener("abort", () => resolve({ code: 143, stdout: "", stderr: "" }));
    })
  );
  const desktop = new MacDesktop({ runner, os: "darwin", which: () => Promise.resolve("/bin/terminal-notifier") });
  const started = performance.now();
  await desktop.show(note({ click: "https://ci.example.org/812" }));
  assert.ok(performance.now() - started < 5000);
  assert.equal(calls[0].signal!.aborted, false);
  await desktop.close();
  await desktop.close();
  assert.equal(calls[0].signal!.aborted, true);
  assert.equal(calls.length, 1);
});

Deno.test("MacDesktop.withdraw() removes the notification's group with terminal-notifier, and does nothing without it", async () => {
  const { calls, runner } = fakeRunner(ok);
  const bin = "/opt/homebrew/bin/terminal-notifier";
  await using desktop = new MacDesktop({ runner, os: "darwin", which: () => Promise.resolve(bin) });
  const keyed = note({ replacesKey: "seq:deploys/deploy-42" });
  await desktop.show(keyed);
  await desktop.withdraw("seq:deploys/deploy-42");
  const group = calls[0].run.argv[calls[0].run.argv.indexOf("-group") + 1];
  assert.deepEqual(calls[1].run.argv, [bin, "-remove", group]);
  assert.deepEqual(macRemoveRun("seq:deploys/deploy-42").argv.slice(1), ["-remove", group]);

  const plain = fakeRunner(ok);
  await using osascript = new MacDesktop({
    runner: plain.runner,
    os: "darwin",
    which: () => Promise.resolve(undefined),
  });
  await osascript.withdraw("seq:deploys/deploy-42");
  assert.equal(plain.calls.length, 0);
});
