/**
 * The exec sink with real processes (Linux: sh, env, mkfifo, pgrep, /proc).
 * Nothing sleeps to synchronise: scripts block on named pipes the test
 * opens, and the test waits for marker files and counters with deadlines.
 */

import assert from "node:assert/strict";
import { exists } from "../lib/util/files.ts";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { execEnvironment, ExecSink, ExecSinkError, type ExecSinkInit, formatOutput } from "./exec.ts";
import type { HarkEvent } from "../lib/event/event.ts";
import { waitFor } from "../tests/helpers/wait.ts";
import { testEvent } from "../tests/helpers/events.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });
const event = testEvent;

const signal = new AbortController().signal;

/** A temp dir that removes itself: `await using dir = await tempDir()`. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "hark_exec_sink_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Writes an executable sh script. */
async function script(path: string, body: string): Promise<string> {
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
  return path;
}

async function mkfifo(path: string): Promise<void> {
  const { success } = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(success, `mkfifo ${path}`);
}

/** Unblocks a script waiting in `read x < fifo`. */
async function release(fifo: string): Promise<void> {
  await Deno.writeTextFile(fifo, "go\n");
}

/** Live (not zombie) processes in a process group, from /proc. */
function liveInGroup(pgid: number): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue; // Exited while we looked.
    }
    // After "pid (comm) ": state ppid pgrp ...; comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z") found.push(Number(entry.name));
  }
  return found;
}

/**
 * Pids of processes whose whole command line is `pattern` (a regex), per
 * `pgrep -f`. The tests' sleep durations carry this test process's pid, so
 * another copy of the suite running on the machine is not seen.
 */
async function pgrep(pattern: string): Promise<string[]> {
  // Anchored: the `sh -c` that started the sleeps holds the same text in its command line.
  const { stdout } = await new Deno.Command("pgrep", { args: ["-f", `^${pattern}$`], stdout: "piped" }).output();
  return new TextDecoder().decode(stdout).split("\n").filter(Boolean);
}

function idle(sink: ExecSink): Promise<true> {
  return waitFor(() => sink.stats().running === 0, { message: "runs to finish" });
}

/** Collects this sink's log records for the duration of `fn`. */
async function withLogs(fn: (records: LogRecord[]) => Promise<void>): Promise<void> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["hark", "sink", "exec"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  try {
    await fn(records);
  } finally {
    await reset();
  }
}

function text(record: LogRecord): string {
  return record.message.map(String).join("");
}

function sink(init: Partial<ExecSinkInit> & Pick<ExecSinkInit, "command">): ExecSink {
  return new ExecSink({ timeoutMs: 10_000, concurrency: 4, ...init });
}

Deno.test("execEnvironment() maps the event to HARK_* variables", async (t) => {
  const cases: { name: string; event: HarkEvent; expected: Partial<Record<string, string>> }[] = [
    {
      name: "every field",
      event: event({
        click: "https://ci.example.org/812",
        source: { host: "ci-01", peer: "12D3KooWTest", user: "ci" },
      }),
      expected: {
        HARK_TOPIC: "builds",
        HARK_TITLE: "Build #812 failed",
        HARK_BODY: "test_login timed out",
        HARK_PRIORITY: "4",
        HARK_TAGS: "ci,failed",
        HARK_TIME: "2026-11-21T23:59:59.123Z",
        HARK_HOST: "ci-01",
        HARK_PEER: "12D3KooWTest",
        HARK_CLICK: "https://ci.example.org/812",
        HARK_USER: "ci",
        HARK_REPEAT: "0",
      },
    },
    {
      name: "absent click and user are empty, no tags is empty",
      event: event({ tags: [] }),
      expected: { HARK_CLICK: "", HARK_USER: "", HARK_TAGS: "" },
    },
    {
      name: "an acknowledgement says what it clears; a message without a sequence is keyed by its id",
      event: event({ kind: "clear", sequence: "deploy-42", title: "", body: "" }),
      expected: { HARK_KIND: "clear", HARK_SEQUENCE: "deploy-42" },
    },
    {
      name: "NUL and lone surrogates become U+FFFD",
      event: event({ title: "a\0b", body: "x\ud800y\0" }),
      expected: { HARK_TITLE: "a\uFFFDb", HARK_BODY: "x\uFFFDy\uFFFD" },
    },
  ];
  for (const { name, event, expected } of cases) {
    await t.step(name, () => {
      const env = execEnvironment(event);
      assert.equal(env.HARK_ID, event.id);
      assert.deepEqual(Object.keys(env).sort(), [
        "HARK_BODY",
        "HARK_CLICK",
        "HARK_HOST",
        "HARK_ID",
        "HARK_KIND",
        "HARK_PEER",
        "HARK_PRIORITY",
        "HARK_REPEAT",
        "HARK_SEQUENCE",
        "HARK_TAGS",
        "HARK_TIME",
        "HARK_TITLE",
        "HARK_TOPIC",
        "HARK_USER",
      ]);
      for (const [key, value] of Object.entries(expected)) assert.equal(env[key], value, key);
    });
  }
  await t.step("an ordinary message", () => {
    const plain = event();
    assert.deepEqual([execEnvironment(plain).HARK_KIND, execEnvironment(plain).HARK_SEQUENCE], ["message", plain.id]);
  });
  await t.step("a possible repeat after a crash is marked", () => {
    assert.equal(execEnvironment(event(), true).HARK_REPEAT, "1");
  });
});

Deno.test("formatOutput() labels lines, replaces controls and notes what was cut", () => {
  assert.equal(formatOutput({ text: "", more: 0 }, { text: "", more: 0 }), "");
  assert.equal(
    formatOutput({ text: "one\ntwo\n", more: 5 }, { text: "\x1b[2Jfake\r\n", more: 0 }),
    "\n  stdout | one\n  stdout | two\n  stdout … 5 more bytes\n  stderr | \uFFFD[2Jfake",
  );
});

Deno.test("ExecSink rejects a config it cannot run", async (t) => {
  const cases: [string, Partial<ExecSinkInit> & Pick<ExecSinkInit, "command">, RegExp][] = [
    ["empty command", { command: [] }, /command must name a program/],
    ["zero timeout", { command: ["true"], timeoutMs: 0 }, /timeout must be positive/],
    ["zero concurrency", { command: ["true"], concurrency: 0 }, /concurrency must be/],
  ];
  for (const [name, init, message] of cases) {
    await t.step(name, () => assert.throws(() => sink(init), message));
  }
});

Deno.test("deliver() passes hostile text byte for byte in env and stdin and never interprets it", async (t) => {
  await using dir = await tempDir();
  const mark = (name: string) => `${dir.path}/pwned-${name}`;
  const big = "<&>'\"$`\\%\n".repeat(1024);
  const hostile: [string, string][] = [
    ["quotes", `'single' "double" \\"escaped\\" '\\''`],
    ["command substitution", `$(touch ${mark("dollar")}) $(id)`],
    ["backticks", `\`touch ${mark("backtick")}\` \`id\``],
    ["command separators", `; touch ${mark("semicolon")} && touch ${mark("and")} | touch ${mark("pipe")}`],
    ["AppleScript", `" & do shell script "touch ${mark("applescript")}" & "`],
    ["markup", `</text><action>touch ${mark("markup")}</action><![CDATA[`],
    ["Windows variables", "%PATH% %COMSPEC% !PATH! ^& calc"],
    ["option injection", "-- --help -rf /"],
    ["newlines and controls", "line1\nline2\r\n\tHARK_ID=forged\n\x1b]0;title\x07\x7f\u2028\u202e"],
    ["NUL", "before\0after\0"],
    ["lone surrogate", "a\ud800b\udc00c"],
    ["unicode", "héllo 世界 🎉"],
    ["10 KB", big],
  ];
  const program = await script(
    `${dir.path}/record.sh`,
    // Only quoted expansions: the script itself interprets nothing.
    `out="$1/$HARK_TOPIC"\nenv -0 > "$out.env"\ncat > "$out.stdin"\n: > "$out.done"`,
  );
  await using exec = sink({ command: [program, dir.path], env: { HARK_BASE: "base", HARK_TITLE: "overridden" } });
  for (const [index, [name, text]] of hostile.entries()) {
    await t.step(name, async () => {
      const topic = `case-${index}`;
      const hostileEvent = event({
        topic,
        title: text,
        body: text,
        tags: ["$(id)", "`id`", "%PATH%", "--help"],
        click: `https://x.example/?q=${encodeURIComponent(text.toWellFormed())}`,
        source: { host: text, peer: "12D3KooWTest", user: text },
        data: { text, nested: [text, big] },
      });
      await exec.deliver(hostileEvent, { signal });
      const out = `${dir.path}/${topic}`;
      await waitFor(() => exists(`${out}.done`), { message: `${name} run to finish` });

      const stdin = await Deno.readFile(`${out}.stdin`);
      assert.deepEqual(stdin, new TextEncoder().encode(JSON.stringify(hostileEvent)), "stdin is the exact event JSON");
      assert.deepEqual(JSON.parse(strictDecoder.decode(stdin)), hostileEvent);

      const env = new Map<string, string>();
      for (const entry of strictDecoder.decode(await Deno.readFile(`${out}.env`)).split("\0").slice(0, -1)) {
        const at = entry.indexOf("=");
        env.set(entry.slice(0, at), entry.slice(at + 1));
      }
      for (const [key, value] of Object.entries(execEnvironment(hostileEvent))) {
        assert.equal(env.get(key), value, key);
      }
      assert.equal(env.get("HARK_TITLE"), text.toWellFormed().replaceAll("\0", "\uFFFD"));
      assert.equal(env.get("HARK_BASE"), "base", "init.env reaches the program");
      assert.equal(env.get("PATH"), Deno.env.get("PATH"), "the agent's environment reaches the program");
    });
  }
  await exec.close();
  const marks = [...Deno.readDirSync(dir.path)].map((entry) => entry.name).filter((name) => name.startsWith("pwned"));
  assert.deepEqual(marks, [], "no event text was run");
  assert.deepEqual(exec.stats().failed, 0);
});

Deno.test("deliver() of a program that cannot start throws a clear error and frees its slot", async (t) => {
  await using dir = await tempDir();
  const notExecutable = `${dir.path}/not-executable.sh`;
  await Deno.writeTextFile(notExecutable, "#!/bin/sh\n", { mode: 0o644 });
  await Deno.chmod(notExecutable, 0o644);
  const badInterpreter = `${dir.path}/bad-interpreter.sh`;
  await Deno.writeTextFile(badInterpreter, "#!/nonexistent/interpreter\n", { mode: 0o755 });
  await Deno.chmod(badInterpreter, 0o755);
  const cases: [string, string, RegExp][] = [
    ["a missing path", `${dir.path}/missing`, /no such file; check the path .* #! interpreter/],
    ["a name not on PATH", "hark-no-such-program-4d2f", /not found on PATH; check the exec sink's command/],
    ["a file without the x bit", notExecutable, /permission denied; check that it is executable \(chmod \+x\)/],
    ["a script whose interpreter is missing", badInterpreter, /no such file; check the path .* #! interpreter/],
  ];
  for (const [name, program, message] of cases) {
    await t.step(name, async () => {
      await using exec = sink({ command: [program], concurrency: 1 });
      // Twice: a failed start must not keep the only slot.
      for (let i = 0; i < 2; i++) {
        const error = await exec.deliver(event(), { signal }).then(() => undefined, (error) => error);
        assert.ok(error instanceof ExecSinkError, `${error}`);
        assert.ok(error.message.includes(`"${program}"`), error.message);
        assert.match(error.message, message);
      }
      assert.deepEqual(exec.stats(), {
        running: 0,
        started: 0,
        succeeded: 0,
        failed: 0,
        timed_out: 0,
        last_error: exec.stats().last_error,
      });
      assert.match(exec.stats().last_error!, message);
    });
  }
});

Deno.test("a run over its timeout is killed with its whole process group, leaving no orphans", async (t) => {
  const cases: [string, string][] = [
    ["children that obey SIGTERM", ""],
    // The trap is inherited: the sleeps ignore SIGTERM too and need the SIGKILL after the grace.
    ["children that ignore SIGTERM", `trap '' TERM; `],
  ];
  for (const [index, [name, prelude]] of cases.entries()) {
    await t.step(name, async () => {
      await using dir = await tempDir();
      const marker = `${4100 + index}.${Deno.pid}`;
      await withLogs(async (records) => {
        await using exec = sink({
          // A shell script that starts a grandchild in the background and blocks without reading stdin.
          command: ["sh", "-c", `${prelude}echo $$ > "$0/pid"; sleep ${marker} & sleep ${marker}`, dir.path],
          timeoutMs: 1_000,
          slowMs: 100_000,
        });
        // Larger than a pipe buffer: the write to stdin is still pending when the run is killed.
        await exec.deliver(event({ data: { pad: "x".repeat(256 * 1024) } }), { signal });
        const pid = Number(await waitFor(async () => (await Deno.readTextFile(`${dir.path}/pid`)).trim()));
        await waitFor(async () => (await pgrep(`sleep ${marker}`)).length === 2, { message: "both sleeps running" });
        assert.equal(exec.stats().running, 1);
        await idle(exec);

        // SIGKILL went to the whole group; a grandchild on a busy host may take a moment to act on it.
        await waitFor(() => liveInGroup(pid).length === 0, {
          timeoutMs: 5_000,
          message: "nothing left in the process group",
        });
        await waitFor(async () => (await pgrep(`sleep ${marker}`)).length === 0, { message: "no sleep orphan" });
        const stats = exec.stats();
        assert.equal(stats.timed_out, 1);
        assert.equal(stats.failed, 0);
        assert.equal(stats.started, 1);
        assert.match(stats.last_error!, /timed out after 1000 ms/);
        assert.ok(stats.last_duration_ms! >= 1_000, `${stats.last_duration_ms}`);
        const warning = records.find((record) => text(record).includes("timed out"));
        assert.equal(warning?.level, "warning");
      });
    });
  }
});

Deno.test("a process that leaves the group and holds the pipes does not keep the run past its timeout", async () => {
  await using dir = await tempDir();
  // The program exits at once; what it started calls setsid() and keeps stdin, stdout and stderr open.
  const program = await script(
    `${dir.path}/escape.sh`,
    // A background command gets /dev/null as stdin; fd 3 hands it the real one.
    `exec 3<&0\nsetsid sh -c 'echo $$ > "$0/escaped"; exec sleep 4300.${Deno.pid}' "$1" <&3 &\nexit 0`,
  );
  await using exec = sink({ command: [program, dir.path], timeoutMs: 500 });
  // Larger than a pipe buffer, so the write to stdin cannot finish: nobody reads it.
  await exec.deliver(event({ data: { pad: "x".repeat(256 * 1024) } }), { signal });
  const escaped = Number(await waitFor(async () => (await Deno.readTextFile(`${dir.path}/escaped`)).trim()));
  try {
    await idle(exec);
    assert.equal(exec.stats().timed_out, 1);
    assert.equal(exec.stats().last_exit_code, 0);
    // Documented: a process that makes its own session is not followed.
    assert.equal(liveInGroup(escaped).length, 1);
  } finally {
    Deno.kill(escaped, "SIGKILL");
  }
});

Deno.test("output is captured up to the cap and logged by outcome", async (t) => {
  const cases: [string, string, "info" | "warning" | "debug", string[], string[]][] = [
    [
      "exit 0 with output: info, cut at the cap",
      `printf '%0300d' 0; printf 'oops\\n' >&2`,
      "info",
      [`  stdout | ${"0".repeat(100)}`, "  stdout … 200 more bytes", "  stderr | oops"],
      ["0".repeat(101)],
    ],
    [
      "exit 0 with 1 MB of output: drained, not blocked",
      `head -c 1000000 /dev/zero | tr '\\0' x`,
      "info",
      ["  stdout … 999900 more bytes"],
      [],
    ],
    ["exit 0 without output: debug only", "true", "debug", ["exited with code 0"], ["stdout"]],
    ["non-zero exit: warning", `echo failing >&2; exit 3`, "warning", [
      "exited with code 3",
      "  stderr | failing",
    ], []],
    ["escape sequences in output are neutralised", `printf '\\033[2Jhi\\n'`, "info", ["  stdout | \uFFFD[2Jhi"], [
      "\x1b",
    ]],
  ];
  for (const [name, shell, level, includes, excludes] of cases) {
    await t.step(name, async () => {
      await withLogs(async (records) => {
        await using exec = sink({ command: ["sh", "-c", shell], outputCapBytes: 100 });
        await exec.deliver(event(), { signal });
        await idle(exec);
        assert.equal(records.length, 1, records.map(text).join("\n"));
        const [record] = records;
        assert.equal(record.level, level);
        for (const part of includes) assert.ok(text(record).includes(part), `${part}\nin\n${text(record)}`);
        for (const part of excludes) assert.ok(!text(record).includes(part), `${part}\nin\n${text(record)}`);
      });
    });
  }
});

Deno.test("deliver() runs at most `concurrency` programs at once; the next waits for a slot", async () => {
  await using dir = await tempDir();
  const program = await script(
    `${dir.path}/gate.sh`,
    `: > "$1/started-$HARK_ID"\nread x < "$1/release-$HARK_ID"\n: > "$1/done-$HARK_ID"`,
  );
  const events = [event(), event(), event(), event()];
  for (const { id } of events) await mkfifo(`${dir.path}/release-${id}`);
  const started = (index: number) => exists(`${dir.path}/started-${events[index].id}`);
  await using exec = sink({ command: [program, dir.path], concurrency: 2 });

  await exec.deliver(events[0], { signal });
  await exec.deliver(events[1], { signal });
  await waitFor(async () => (await started(0)) && (await started(1)), { message: "two runs started" });
  assert.equal(exec.stats().running, 2);

  let third = false;
  const delivering = exec.deliver(events[2], { signal }).then(() => (third = true));
  // A waiting delivery can be called off, which the router does when it stops.
  const abort = new AbortController();
  const abandoned = exec.deliver(events[3], { signal: abort.signal });
  abort.abort(new Error("stopping"));
  await assert.rejects(abandoned, /stopping/);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(third, false, "the third delivery waits while both slots are taken");
  assert.equal(await started(2), false);
  assert.equal(exec.stats().running, 2);

  await release(`${dir.path}/release-${events[0].id}`);
  await delivering;
  await waitFor(() => started(2), { message: "third run started" });
  assert.equal(exec.stats().running <= 2, true);
  await release(`${dir.path}/release-${events[1].id}`);
  await release(`${dir.path}/release-${events[2].id}`);
  await exec.close();
  assert.equal(await started(3), false, "the abandoned event never ran");
  assert.deepEqual(exec.stats(), {
    running: 0,
    started: 3,
    succeeded: 3,
    failed: 0,
    timed_out: 0,
    last_exit_code: 0,
    last_duration_ms: exec.stats().last_duration_ms,
  });
});

Deno.test("a slow run is warned about once while it still runs", async () => {
  await using dir = await tempDir();
  const fifo = `${dir.path}/release`;
  await mkfifo(fifo);
  await withLogs(async (records) => {
    await using exec = sink({ command: ["sh", "-c", `read x < "$0"`, fifo], slowMs: 50 });
    await exec.deliver(event(), { signal });
    await waitFor(() => records.some((record) => text(record).includes("still running")));
    assert.equal(exec.stats().running, 1);
    await release(fifo);
    await idle(exec);
    const slow = records.filter((record) => text(record).includes("still running"));
    assert.equal(slow.length, 1);
    assert.equal(slow[0].level, "warning");
  });
});

Deno.test("close() waits for running programs, kills them at their timeout, and is idempotent", async (t) => {
  await t.step("waits for a run to finish", async () => {
    await using dir = await tempDir();
    const fifo = `${dir.path}/release`;
    await mkfifo(fifo);
    const exec = sink({ command: ["sh", "-c", `read x < "$0"; : > "$0.done"`, fifo] });
    await exec.deliver(event(), { signal });
    let closed = false;
    const closing = exec.close().then(() => (closed = true));
    const error = await exec.deliver(event(), { signal }).then(() => undefined, (error) => error);
    assert.ok(error instanceof ExecSinkError && /is closed/.test(error.message), `${error}`);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(closed, false, "close() waits while the program runs");
    await release(fifo);
    await closing;
    assert.ok(await exists(`${fifo}.done`));
    assert.equal(exec.stats().succeeded, 1);
    await exec.close();
    await exec.close();
  });

  await t.step("kills a run at its timeout", async () => {
    await using dir = await tempDir();
    const marker = `4200.${Deno.pid}`;
    const exec = sink({ command: ["sh", "-c", `echo $$ > "$0/pid"; sleep ${marker}`, dir.path], timeoutMs: 300 });
    await exec.deliver(event(), { signal });
    const pid = Number(await waitFor(async () => (await Deno.readTextFile(`${dir.path}/pid`)).trim()));
    await Promise.all([exec.close(), exec.close(), exec.close()]);
    assert.deepEqual(liveInGroup(pid), []);
    assert.deepEqual(await pgrep(`sleep ${marker}`), []);
    assert.equal(exec.stats().timed_out, 1);
    assert.equal(exec.stats().running, 0);
  });

  await t.step("refuses a delivery waiting for a slot", async () => {
    await using dir = await tempDir();
    const fifo = `${dir.path}/release`;
    await mkfifo(fifo);
    const exec = sink({ command: ["sh", "-c", `read x < "$0"`, fifo], concurrency: 1 });
    await exec.deliver(event(), { signal });
    const waiting = exec.deliver(event(), { signal });
    const closing = exec.close();
    await assert.rejects(waiting, /is closed/);
    await release(fifo);
    await closing;
    assert.equal(exec.stats().started, 1);
  });
});

Deno.test("stats() counts runs and remembers the last result", async (t) => {
  await using exec = sink({ command: ["sh", "-c", `eval "$HARK_BODY"`], concurrency: 1 });
  // The body is a script only because this test's own command says to eval it.
  const cases: [string, string, Partial<ReturnType<ExecSink["stats"]>>][] = [
    ["exit 0", "exit 0", { started: 1, succeeded: 1, failed: 0, last_exit_code: 0, last_error: undefined }],
    ["exit 3", "exit 3", { started: 2, succeeded: 1, failed: 1, last_exit_code: 3, last_error: "exited with code 3" }],
    ["a signal", "kill -9 $$", { started: 3, failed: 2, last_exit_code: 137, last_error: "killed by SIGKILL" }],
    ["exit 0 again", "true", { started: 4, succeeded: 2, failed: 2, last_exit_code: 0 }],
  ];
  for (const [name, body, expected] of cases) {
    await t.step(name, async () => {
      await exec.deliver(event({ body }), { signal });
      await idle(exec);
      const stats = exec.stats();
      assert.equal(stats.running, 0);
      assert.equal(stats.timed_out, 0);
      assert.equal(typeof stats.last_duration_ms, "number");
      for (const [key, value] of Object.entries(expected)) {
        assert.equal(stats[key as keyof typeof stats], value, key);
      }
    });
  }
});
