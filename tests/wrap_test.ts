/**
 * `hark wrap` as a user runs it: a real command under a real agent, the
 * event checked on a second agent's file sink. The line splitting and body
 * fitting are tested directly at the end.
 */

import assert from "node:assert/strict";
import { type AgentProcess, type CliResult, hark, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import type { HarkEvent } from "../lib/event/event.ts";
import { fitLines, LINE_MAX_CHARS, Tail } from "../lib/cli/wrap.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const TOPICS = `[agent]\ntopics = ["default", "builds"]\n`;

interface WrapData {
  command: string[];
  status: number;
  signal?: string;
  duration_ms: number;
  error?: string;
}

/** Waits until `agent`'s file sink holds an event that `match` accepts. */
async function eventWhere(agent: AgentProcess, match: (event: HarkEvent) => boolean): Promise<HarkEvent> {
  return await waitFor(async () => (await agent.events()).find(match), {
    timeoutMs: 15_000,
    message: `an event on ${agent.stateDir}`,
  });
}

/**
 * Runs `hark wrap` against `agent`. `--state-dir` goes before `--`: after it,
 * every argument belongs to the command (unlike `agent.cli`, which appends).
 */
function wrap(agent: AgentProcess | string, args: string[]): Promise<CliResult> {
  return hark(["wrap", "--state-dir", typeof agent === "string" ? agent : agent.stateDir, ...args]);
}

/** A marker no other step's command prints. */
const marker = () => `m${crypto.randomUUID().slice(0, 8)}`;

Deno.test("hark wrap runs the command and reports it to the mesh", async (t) => {
  await using sender = await startAgent({ config: loopbackConfig([], TOPICS) });
  await using receiver = await startAgent({ config: loopbackConfig(sender.addresses, TOPICS) });
  await sender.waitForPeers([receiver.peerId]);
  await sender.waitForPeers([receiver.peerId], "builds");
  await receiver.waitForPeers([sender.peerId]);

  await t.step("a failing command: its exit code, status 3, output in the body, high priority", async () => {
    const argv = ["sh", "-c", "echo hi; exit 3"];
    const result = await wrap(sender, ["--", ...argv]);
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stdout, "hi\n");
    assert.equal(result.stderr, "");
    const event = await eventWhere(receiver, (e) => (e.data as WrapData)?.status === 3);
    const data = event.data as WrapData;
    assert.deepEqual(data.command, argv);
    assert.equal(typeof data.duration_ms, "number");
    assert.ok(data.duration_ms >= 0);
    assert.equal(data.signal, undefined);
    assert.equal(event.body, "hi");
    assert.equal(event.title, "sh -c 'echo hi; exit 3' failed (exit 3)");
    assert.equal(event.priority, 4);
    assert.deepEqual(event.tags, ["wrap", "failed"]);
    assert.equal(event.topic, "default");
    assert.equal(event.source.peer, sender.peerId);
  });

  await t.step("a succeeding command with event options", async () => {
    const m = marker();
    const result = await wrap(sender, [
      "-t",
      "builds",
      "--title",
      "Nightly backup",
      "--tag",
      "cron",
      "--click",
      "https://ci.example.org/1",
      "--data",
      '{"job": 7}',
      "--",
      "echo",
      m,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${m}\n`);
    const event = await eventWhere(receiver, (e) => e.body === m);
    assert.equal(event.topic, "builds");
    assert.equal(event.title, "Nightly backup");
    assert.equal(event.priority, 3);
    assert.deepEqual(event.tags, ["cron", "wrap", "succeeded"]);
    assert.equal(event.click, "https://ci.example.org/1");
    const data = event.data as WrapData & { job: number };
    assert.equal(data.job, 7);
    assert.equal(data.status, 0);
    assert.deepEqual(data.command, ["echo", m]);
  });

  await t.step("default title on success, and -p overrides the priority", async () => {
    const m = marker();
    const result = await wrap(sender, ["-p", "low", "--", "echo", m]);
    assert.equal(result.code, 0, result.stderr);
    const event = await eventWhere(receiver, (e) => e.body === m);
    assert.equal(event.title, `echo ${m} succeeded`);
    assert.equal(event.priority, 2);
  });

  await t.step("stdout and stderr pass through, both land in the body", async () => {
    const m = marker();
    const result = await wrap(sender, ["--", "sh", "-c", `echo out-${m}; echo err-${m} >&2; exit 1`]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, `out-${m}\n`);
    assert.equal(result.stderr, `err-${m}\n`);
    const event = await eventWhere(receiver, (e) => e.body.includes(`out-${m}`));
    assert.match(event.body, new RegExp(`err-${m}`));
    assert.equal(event.body.split("\n").length, 2);
  });

  await t.step("only the last 20 lines reach the body", async () => {
    const m = marker();
    const result = await wrap(sender, ["--", "sh", "-c", `for i in $(seq 1 50); do echo ${m}-$i; done`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim().split("\n").length, 50, "all output passes through");
    const event = await eventWhere(receiver, (e) => e.body.includes(`${m}-50`));
    const expected = Array.from({ length: 20 }, (_, i) => `${m}-${i + 31}`).join("\n");
    assert.equal(event.body, expected);
  });

  await t.step("long lines: each is cut, and the body keeps the last lines that fit 4 KiB", async () => {
    const m = marker();
    // 20 lines of 3000 characters: each is cut to LINE_MAX_CHARS + "…".
    const script = `for i in $(seq 1 20); do printf '${m}-%s-' $i; head -c 3000 /dev/zero | tr '\\0' x; echo; done`;
    const result = await wrap(sender, ["--", "sh", "-c", script]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.length > 60_000, true, "passthrough is not cut");
    const event = await eventWhere(receiver, (e) => e.body.includes(`${m}-20-`));
    assert.ok(new TextEncoder().encode(event.body).length <= 4096);
    const lines = event.body.split("\n");
    assert.equal(lines.length, 3);
    for (const line of lines) assert.equal(line.length, LINE_MAX_CHARS + 1);
    assert.ok(lines[2].startsWith(`${m}-20-`));
    assert.ok(lines[2].endsWith("x…"));
  });

  await t.step("a command that does not exist: 127, a clear error, and an event about it", async () => {
    const name = `no-such-command-${marker()}`;
    const result = await wrap(sender, ["--", name, "arg"]);
    assert.equal(result.code, 127);
    assert.equal(result.stdout, "");
    assert.equal(result.stderr, `hark: cannot run "${name}": command not found\n`);
    const event = await eventWhere(receiver, (e) => (e.data as WrapData)?.command?.[0] === name);
    assert.equal(event.title, `${name} arg could not start (exit 127)`);
    assert.equal((event.data as WrapData).status, 127);
    assert.equal(event.priority, 4);
    assert.deepEqual(event.tags, ["wrap", "failed"]);
    assert.match(event.body, /command not found/);
  });

  await t.step("SIGTERM goes to the command, and the event reports it", async () => {
    const m = marker();
    // `cat` waits on the piped stdin, which hark passes through: no sleep.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", MAIN, "wrap", "--state-dir", sender.stateDir, "--"].concat(
        ["sh", "-c", `echo ${m}; exec cat`],
      ),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes(m)) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    child.kill("SIGTERM");
    while (!(await reader.read()).done) {
      // Drain until hark exits.
    }
    const status = await child.status;
    await child.stdin.close();
    assert.equal(status.code, 143, await stderr);
    assert.equal(await stderr, "");
    const event = await eventWhere(receiver, (e) => e.body === m);
    const data = event.data as WrapData;
    assert.equal(data.status, 143);
    assert.equal(data.signal, "SIGTERM");
    assert.equal(event.title, `sh -c 'echo ${m}; exec cat' killed by SIGTERM (exit 143)`);
    assert.deepEqual(event.tags, ["wrap", "failed"]);
  });

  await t.step("bad options fail before the command runs", async () => {
    const result = await wrap(sender, ["-p", "9", "--", "echo", "must-not-run"]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^hark: invalid priority "9"/);
  });
});

Deno.test("hark wrap without an agent still runs the command and keeps its exit code", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  try {
    const result = await wrap(stateDir, ["--", "sh", "-c", "echo ran; exit 5"]);
    assert.equal(result.code, 5);
    assert.equal(result.stdout, "ran\n");
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], /^hark: warning: the event about "sh" was not sent: No hark agent is running.*`hark run`/);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("hark wrap usage errors and help", async (t) => {
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  try {
    for (const args of [[], ["--"], ["-t", "builds", "--"]]) {
      await t.step(`hark wrap ${args.join(" ")}: exit 2 with an example`, async () => {
        const result = await wrap(stateDir, args);
        assert.equal(result.code, 2);
        assert.equal(result.stdout, "");
        assert.equal(result.stderr, "hark: wrap needs a command after --, e.g. `hark wrap -t builds -- make test`\n");
      });
    }
    await t.step("--help shows cron and CI examples", async () => {
      const result = await hark(["wrap", "--help"]);
      assert.equal(result.code, 0);
      assert.match(result.stdout, /^Usage: hark wrap \[options\] -- CMD/);
      assert.match(result.stdout, /crontab:/);
      assert.match(result.stdout, /CI step:/);
    });
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

const encoder = new TextEncoder();

Deno.test("Tail keeps the last lines the way a terminal shows them", async (t) => {
  const cases: { name: string; chunks: string[]; lines: string[] }[] = [
    { name: "plain lines and a last line without newline", chunks: ["a\nb\nc"], lines: ["a", "b", "c"] },
    { name: "CRLF split across chunks", chunks: ["one\r", "\ntwo\r\n"], lines: ["one", "two"] },
    { name: "a carriage return starts the line over", chunks: ["10%\r50%\r", "100%\n"], lines: ["100%"] },
    { name: "colours and control characters are dropped", chunks: ["\x1b[31mred\x1b[0m\x07\tx\n"], lines: ["red\tx"] },
    { name: "only the last 3 are kept", chunks: ["1\n2\n3\n4\n5\n"], lines: ["3", "4", "5"] },
    {
      name: "a long line is cut once, across chunks",
      chunks: ["y".repeat(LINE_MAX_CHARS - 1), "yyyy", "zzzz\nnext\n"],
      lines: ["y".repeat(LINE_MAX_CHARS) + "…", "next"],
    },
    {
      name: "a surrogate pair at the cut is not split",
      chunks: ["y".repeat(LINE_MAX_CHARS - 1) + "😀\n"],
      lines: ["y".repeat(LINE_MAX_CHARS - 1) + "…"],
    },
    {
      name: "a progress bar far longer than a line shows its last state",
      chunks: [Array.from({ length: 2000 }, (_, i) => `${i}%\r`).join(""), "done\n"],
      lines: ["done"],
    },
    {
      name: "a cut line is started over by a carriage return",
      chunks: ["y".repeat(5 * LINE_MAX_CHARS), "\rshort\n"],
      lines: ["short"],
    },
    { name: "a byte order mark only at the start is dropped", chunks: ["\uFEFFa\n\uFEFFb\n"], lines: ["a", "\uFEFFb"] },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const tail = new Tail(3);
      const splitter = tail.splitter();
      for (const chunk of c.chunks) splitter.feed(encoder.encode(chunk));
      splitter.flush();
      assert.deepEqual(tail.lines(), c.lines);
    });
  }
  await t.step("two streams never mix inside a line", () => {
    const tail = new Tail(5);
    const out = tail.splitter();
    const err = tail.splitter();
    out.feed(encoder.encode("hel"));
    err.feed(encoder.encode("oops\n"));
    out.feed(encoder.encode("lo\n"));
    assert.deepEqual(tail.lines(), ["oops", "hello"]);
  });
});

Deno.test("fitLines() keeps the last lines that fit", async (t) => {
  const cases: { name: string; lines: string[]; max: number; body: string }[] = [
    { name: "all fit", lines: ["a", "b"], max: 10, body: "a\nb" },
    { name: "oldest dropped", lines: ["aaaa", "bbbb", "cccc"], max: 9, body: "bbbb\ncccc" },
    { name: "bytes, not characters", lines: ["ää", "b"], max: 5, body: "b" },
    { name: "a single oversized line is cut", lines: ["abcdef"], max: 4, body: "abcd" },
    { name: "nothing", lines: [], max: 4, body: "" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.equal(fitLines(c.lines, c.max), c.body));
  }
});
