import assert from "node:assert/strict";
import {
  AUMID,
  BALLOON_BODY_MAX_CHARS,
  BALLOON_SCRIPT,
  BALLOON_TITLE_MAX_CHARS,
  BODY_MAX_CHARS,
  encodeCommand,
  ENV_NAMES,
  POWERSHELL,
  PROBE_SCRIPT,
  REMOVE_SCRIPT,
  removeRun,
  SUMMARY_MAX_CHARS,
  TOAST_SCRIPT,
  toastTag,
  WindowsDesktop,
  windowsRun,
} from "./windows.ts";
import { denoRunner, type Notification, type Run, type Runner, urgencyOf } from "./notification.ts";

const HOSTILE: { name: string; text: string }[] = [
  { name: "double quote", text: 'say "hi"' },
  { name: "single quote", text: "it's" },
  { name: "backtick", text: "`$(id)`" },
  { name: "subexpression", text: "$(Remove-Item C:\\ -Recurse)" },
  { name: "variable", text: "${env:USERPROFILE} $HOME" },
  { name: "AppleScript injection", text: '" & do shell script "id" & "' },
  { name: "XML injection", text: '</text><action content="x" arguments="calc.exe" activationType="protocol"/>' },
  { name: "XML entity", text: "&amp; &#x0; <![CDATA[x]]>" },
  { name: "cmd variable", text: "%PATH%" },
  { name: "option-looking", text: "-- --help" },
  { name: "statement break", text: "'; Start-Process calc; '" },
  { name: "newlines", text: "one\ntwo\r\nthree" },
  { name: "NUL", text: "a\0b" },
  { name: "emoji", text: "done ✅ 😀" },
  { name: "very long", text: "x".repeat(100_000) },
];

function note(fields: Partial<Notification> = {}): Notification {
  return { summary: "Build #812 failed", body: "test_login timed out", urgency: "normal", ...fields };
}

function cap(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

function decodeCommand(base64: string): string {
  const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  return new TextDecoder("utf-16le").decode(bytes);
}

const ARGV_HEAD = [POWERSHELL, "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"];

Deno.test("windowsRun() passes hostile text only as env values", async (t) => {
  for (const mode of ["toast", "balloon"] as const) {
    const script = mode === "toast" ? TOAST_SCRIPT : BALLOON_SCRIPT;
    for (const { name, text } of HOSTILE) {
      await t.step(`${mode}: ${name}`, () => {
        const run = windowsRun(note({ summary: text, body: text, category: "ci", replacesKey: text }), mode);
        // The command line is the same for every notification: no text in it.
        assert.deepEqual(run.argv, [...ARGV_HEAD, encodeCommand(script)]);
        assert.equal(decodeCommand(run.argv[6]), script);
        assert.equal(run.stdin, undefined);
        const env = run.env!;
        assert.deepEqual(Object.keys(env).sort(), Object.values(ENV_NAMES).sort());
        const title = text.replace(/\r\n?|\n/g, " ").replace(/\0/g, "\uFFFD");
        const body = text.replace(/\r\n?/g, "\n").replace(/\0/g, "\uFFFD");
        if (mode === "toast") {
          assert.equal(env.HARK_N_TITLE, cap(title, SUMMARY_MAX_CHARS));
          assert.equal(env.HARK_N_BODY, cap(body, BODY_MAX_CHARS));
        } else {
          assert.equal(env.HARK_N_TITLE, cap(cap(title, SUMMARY_MAX_CHARS), BALLOON_TITLE_MAX_CHARS));
          assert.equal(env.HARK_N_BODY, cap(cap(body, BODY_MAX_CHARS), BALLOON_BODY_MAX_CHARS));
        }
        assert.equal(env.HARK_N_TAG, toastTag(text));
        assert.match(env.HARK_N_TAG, /^[0-9a-f]{16}$/);
        for (const value of Object.values(env)) assert.ok(!value.includes("\0"));
        if (text === "%PATH%") assert.equal(env.HARK_N_TITLE, "%PATH%");
      });
    }
  }
});

Deno.test("PowerShell scripts are constants that read text as data", async (t) => {
  for (const [name, script] of [["toast", TOAST_SCRIPT], ["balloon", BALLOON_SCRIPT], ["probe", PROBE_SCRIPT]]) {
    await t.step(name, () => {
      assert.match(script, /^[\x20-\x7e\n]*$/, "ASCII only");
      // Double-quoted strings and here-strings are where PowerShell expands
      // variables and subexpressions; the scripts have none.
      assert.ok(!script.includes('"'));
      assert.ok(!script.includes("@'") && !script.includes("'@"));
      // No re-parsing of text as code or markup.
      for (const danger of ["Invoke-Expression", "iex ", "LoadXml", "ExpandString", "[xml]", "-f ", "cmd", "+ $env"]) {
        assert.ok(!script.includes(danger), danger);
      }
      for (const { text } of HOSTILE) assert.ok(!script.includes(text));
    });
  }
  await t.step("toast builds its XML node by node", () => {
    assert.match(TOAST_SCRIPT, /\$doc\.CreateTextNode\(\[string\]\$value\)/);
    assert.match(TOAST_SCRIPT, /Add-Text \$binding \$env:HARK_N_TITLE/);
    assert.match(TOAST_SCRIPT, /Add-Text \$binding \$env:HARK_N_BODY/);
    assert.match(TOAST_SCRIPT, /SetAttribute\('activationType', 'protocol'\)/);
    assert.match(TOAST_SCRIPT, /SetAttribute\('launch', \[string\]\$env:HARK_N_CLICK\)/);
    assert.ok(TOAST_SCRIPT.includes(`CreateToastNotifier('${AUMID}')`));
    // Every use of an $env value is a whole argument or assignment: no
    // string literal holds a variable.
    for (const [literal] of TOAST_SCRIPT.matchAll(/'[^'\n]*'/g)) assert.ok(!literal.includes("$"), literal);
  });
  await t.step("the encoding round-trips", () => {
    assert.equal(decodeCommand(encodeCommand(TOAST_SCRIPT)), TOAST_SCRIPT);
    assert.equal(decodeCommand(encodeCommand("é😀")), "é😀");
  });
});

Deno.test("windowsRun() maps the other fields", async (t) => {
  await t.step("click, urgency and expiry", () => {
    const env = windowsRun(
      note({ click: "https://ci.example.org/812", urgency: "critical", expireMs: 30_000 }),
      "toast",
    )
      .env!;
    assert.equal(env.HARK_N_CLICK, "https://ci.example.org/812");
    assert.equal(env.HARK_N_URGENCY, "critical");
    assert.equal(env.HARK_N_EXPIRE_MS, "30000");
    assert.equal(env.HARK_N_SHOW_MS, "8000");
  });
  await t.step("absent fields are empty, so inherited values cannot leak in", () => {
    const env = windowsRun(note(), "toast").env!;
    for (const name of ["HARK_N_CLICK", "HARK_N_TAG", "HARK_N_CATEGORY", "HARK_N_EXPIRE_MS"]) {
      assert.equal(env[name], "");
    }
    assert.equal(env.HARK_N_SHOW_MS, "6000");
  });
  await t.step("a balloon without body shows the summary as its text", () => {
    const env = windowsRun(note({ body: "" }), "balloon").env!;
    assert.equal(env.HARK_N_TITLE, "");
    assert.equal(env.HARK_N_BODY, "Build #812 failed");
  });
  await t.step("urgencyOf()", () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((p) => urgencyOf(p as 1)), ["low", "low", "normal", "critical", "critical"]);
  });
});

function fakeRunner(reply: (run: Run) => Promise<{ code: number; stdout: string; stderr: string }>) {
  const runs: Run[] = [];
  const runner: Runner = (run) => {
    runs.push(run);
    return reply(run);
  };
  return { runs, runner };
}

const PS_PATH = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";

function kindOf(run: Run): string {
  const script = decodeCommand(run.argv[6]);
  return script === PROBE_SCRIPT ? "probe" : script === TOAST_SCRIPT ? "toast" : "balloon";
}

Deno.test("WindowsDesktop probes once and picks toast or balloon", async (t) => {
  for (const [probe, mode] of [["toast", "toast"], ["balloon", "balloon"]] as const) {
    await t.step(`probe says ${probe}`, async () => {
      const { runs, runner } = fakeRunner((run) =>
        Promise.resolve({ code: 0, stdout: kindOf(run) === "probe" ? `${probe}\r\n` : "", stderr: "" })
      );
      await using desktop = new WindowsDesktop({ runner, os: "windows", which: () => Promise.resolve(PS_PATH) });
      assert.deepEqual(desktop.available(), { ok: false, reason: "not started" });
      await desktop.start();
      await desktop.start();
      await desktop.show(note());
      assert.deepEqual(runs.map(kindOf), ["probe", mode]);
      assert.ok(runs.every((run) => run.argv[0] === PS_PATH));
      assert.deepEqual(runs[1], {
        ...windowsRun(note(), mode),
        argv: [PS_PATH, ...windowsRun(note(), mode).argv.slice(1)],
      });
      assert.equal(desktop.available().ok, true);
      assert.match(desktop.available().reason, mode === "toast" ? /^WinRT toasts/ : /^tray balloons/);
    });
  }
  await t.step("a failed toast is retried as a balloon", async () => {
    const warnings: string[] = [];
    const { runs, runner } = fakeRunner((run) =>
      Promise.resolve(
        kindOf(run) === "probe"
          ? { code: 0, stdout: "toast", stderr: "" }
          : { code: kindOf(run) === "toast" ? 1 : 0, stdout: "", stderr: "no AUMID" },
      )
    );
    await using desktop = new WindowsDesktop({
      runner,
      os: "windows",
      which: () => Promise.resolve(PS_PATH),
      warn: (message) => warnings.push(message),
    });
    await desktop.show(note());
    assert.deepEqual(runs.map(kindOf), ["probe", "toast", "balloon"]);
    assert.equal(warnings.length, 1);
  });
  await t.step("a failed balloon throws", async () => {
    const { runner } = fakeRunner((run) =>
      Promise.resolve({ code: kindOf(run) === "probe" ? 0 : 1, stdout: "balloon", stderr: "denied" })
    );
    await using desktop = new WindowsDesktop({ runner, os: "windows", which: () => Promise.resolve(PS_PATH) });
    await assert.rejects(desktop.show(note()), { name: "WindowsDesktopError", message: /denied/ });
  });
});

Deno.test("WindowsDesktop reports why it is unavailable", async (t) => {
  await t.step("not Windows", async () => {
    const { runs, runner } = fakeRunner(() => Promise.resolve({ code: 0, stdout: "", stderr: "" }));
    await using desktop = new WindowsDesktop({ runner, os: "linux", which: () => Promise.resolve(PS_PATH) });
    await desktop.show(note());
    assert.equal(runs.length, 0);
    assert.deepEqual(desktop.available(), {
      ok: false,
      reason: "PowerShell notifications need Windows; this is linux",
    });
  });
  await t.step("PowerShell not installed", async () => {
    const { runs, runner } = fakeRunner(() => Promise.resolve({ code: 0, stdout: "", stderr: "" }));
    await using desktop = new WindowsDesktop({ runner, os: "windows", which: () => Promise.resolve(undefined) });
    await desktop.show(note());
    assert.equal(runs.length, 0);
    assert.deepEqual(desktop.available(), { ok: false, reason: "powershell.exe was not found" });
  });
  await t.step("PowerShell vanishes: no throw, reported once, never run again", async () => {
    const warnings: string[] = [];
    const { runs, runner } = fakeRunner((run) =>
      kindOf(run) === "probe"
        ? Promise.resolve({ code: 0, stdout: "toast", stderr: "" })
        : Promise.reject(new Deno.errors.NotFound("gone"))
    );
    await using desktop = new WindowsDesktop({
      runner,
      os: "windows",
      which: () => Promise.resolve(PS_PATH),
      warn: (message) => warnings.push(message),
    });
    await desktop.show(note());
    await desktop.show(note());
    assert.deepEqual(runs.map(kindOf), ["probe", "toast"]);
    assert.deepEqual(warnings, [`desktop notifications are off: ${PS_PATH} was not found`]);
    assert.equal(desktop.available().ok, false);
  });
});

Deno.test("denoRunner() passes argv, env and stdin verbatim", async (t) => {
  const hostile = '$(id) `id` "; %PATH% -- --help\nline';
  await t.step("argv and env", async () => {
    const result = await denoRunner({
      argv: ["/bin/sh", "-c", 'printf "%s|%s" "$1" "$HARK_N_TITLE"', "sh", hostile],
      env: { HARK_N_TITLE: hostile },
    });
    assert.deepEqual(result, { code: 0, stdout: `${hostile}|${hostile}`, stderr: "" });
  });
  await t.step("stdin", async () => {
    const result = await denoRunner({ argv: ["/bin/cat"], stdin: hostile });
    assert.equal(result.stdout, hostile);
  });
  await t.step("a missing program rejects with NotFound", async () => {
    await assert.rejects(denoRunner({ argv: ["/nonexistent/hark-no-such-program"] }), Deno.errors.NotFound);
  });
  await t.step("an aborted run is killed and rejects", async () => {
    const controller = new AbortController();
    const run = denoRunner({ argv: ["/bin/sleep", "30"] }, controller.signal);
    setTimeout(() => controller.abort(new Error("stop")), 50);
    await assert.rejects(run, /stop/);
  });
});

Deno.test("WindowsDesktop.withdraw() removes the toast with the tag its show() set, in hark's group", async () => {
  const { runs, runner } = fakeRunner((run) =>
    Promise.resolve({ code: 0, stdout: kindOf(run) === "probe" ? "toast" : "", stderr: "" })
  );
  await using desktop = new WindowsDesktop({ runner, os: "windows", which: () => Promise.resolve(PS_PATH) });
  await desktop.show(note({ replacesKey: "seq:deploys/deploy-42" }));
  await desktop.withdraw("seq:deploys/deploy-42");
  assert.equal(decodeCommand(runs[2].argv[6]), REMOVE_SCRIPT);
  assert.equal(runs[2].env?.[ENV_NAMES.tag], runs[1].env?.[ENV_NAMES.tag]);
  assert.equal(runs[2].env?.[ENV_NAMES.tag], toastTag("seq:deploys/deploy-42"));
  assert.deepEqual(removeRun("seq:deploys/deploy-42").env, runs[2].env);
  assert.match(REMOVE_SCRIPT, /History\.Remove\(\[string\]\$env:HARK_N_TAG, 'hark', /);
});
