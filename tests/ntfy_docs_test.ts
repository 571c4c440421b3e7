/**
 * ntfy's documented curl examples (tests/ntfy_docs_examples.ts), each run as
 * written by `sh` and the real curl against a real agent, with `ntfy.sh` and
 * `https://ntfy.example.com` pointing at the agent's http source; the answer
 * (status, ntfy's message object, the subscription's lines) is checked
 * against ntfy server's answer.
 *
 * Where hark answers otherwise, the example says why. One such difference is
 * general, so it is checked here rather than repeated: hark's message object
 * always has `priority` (3 by default), where ntfy's server leaves the
 * default out and its clients read the absence as 3.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { readLines } from "../lib/util/lines.ts";
import { type Answer, type DocExample, type Fields, type Line, NTFY_DOC_EXAMPLES } from "./ntfy_docs_examples.ts";

const TOPICS = [
  "mytopic",
  "phil_alerts",
  "mydoorbell",
  "controversial",
  "backups",
  "mywebhook",
  "myhome",
  "wifey",
  "reddit_alerts",
  "flowers",
  "mydownloads",
  "tvshows",
  "alerts",
  "disk-alerts",
  "mytopic1",
  "mytopic2",
  "mysecrets",
];
/** The fields ntfy's server writes in every message object; hark adds `source` (its publisher) to a publish reply. */
const ALWAYS = new Set(["id", "time", "expires", "event", "topic", "message", "priority", "source"]);
const STATUS_MARK = /\n@@HTTP (\d{3})@@\n/;
const CURL = new Deno.Command("sh", { args: ["-c", "command -v curl"], stdout: "piped" }).outputSync();
const CURL_PATH = new TextDecoder().decode(CURL.stdout).trim();

function config(token?: string): string {
  const auth = token ? `token = "${token}"\n` : "";
  return loopbackConfig(
    [],
    `[agent]\ntopics = ${JSON.stringify(TOPICS)}\n\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n${auth}`,
  );
}

async function httpBase(agent: AgentProcess): Promise<string> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  return `http://${sources.find((source) => source.name === "http")!.listen}`;
}

/** The example as a script for `sh`: the doc's hosts point at `base`, and `curl` reports each status after its body. */
function script(example: DocExample, base: string, stream: boolean): string {
  const command = example.command.replace(/^\$ /gm, "")
    .replaceAll("https://ntfy.example.com", base)
    .replace(/(?<![\w.])ntfy\.sh(?![\w.])/g, base.replace("http://", ""));
  // A stream is one curl that `exec` makes the shell itself, so that ending it ends curl.
  const wrapper = stream
    ? `curl() { exec '${CURL_PATH}' -N --max-time 30 "$@"; }`
    : `curl() { '${CURL_PATH}' --max-time 20 -sS -w '\\n@@HTTP %{http_code}@@\\n' "$@"; }`;
  return `${wrapper}\n${command}\n`;
}

function run(text: string, cwd: string) {
  return new Deno.Command("sh", {
    args: ["-c", text],
    cwd,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function publish(
  base: string,
  token: string | undefined,
  item: { topic: string; message: string; headers?: Record<string, string> },
) {
  const headers: Record<string, string> = { ...item.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${base}/${item.topic}`, { method: "POST", body: item.message, headers });
  const text = await response.text();
  assert.equal(response.status, 200, text);
}

/** ntfy gives each button a random id; hark the event id and index. The rest must be ntfy's. */
function withoutIds(actions: unknown): unknown {
  if (!Array.isArray(actions)) return actions;
  return actions.map((action) => {
    const { id, ...rest } = action as Record<string, unknown>;
    assert.equal(typeof id, "string", "each button has an id, as ntfy's server gives it");
    return rest;
  });
}

/** The message object has `expected`'s fields, and no ntfy field the example did not ask for. */
function assertFields(actual: Fields, expected: Fields, where: string): void {
  for (const [key, value] of Object.entries(expected)) {
    if (value === undefined) assert.ok(!(key in actual), `${where}: no "${key}" (${JSON.stringify(actual)})`);
    else if (key === "actions") assert.deepEqual(withoutIds(actual.actions), value, `${where}: actions`);
    else assert.deepEqual(actual[key], value, `${where}: "${key}" in ${JSON.stringify(actual)}`);
  }
  if (actual.event !== "message") return;
  for (const key of Object.keys(actual)) {
    assert.ok(ALWAYS.has(key) || key in expected, `${where}: unexpected "${key}" in ${JSON.stringify(actual)}`);
  }
  if (!("priority" in expected)) assert.equal(actual.priority, 3, `${where}: the default priority, written out`);
}

function assertLine(actual: string, expected: Line, where: string): void {
  if (typeof expected === "string") return assert.equal(actual, expected, where);
  assertFields(JSON.parse(actual.replace(/^data: /, "")), expected, where);
}

/** Runs a command that returns; checks one answer per curl call. */
async function runReturning(example: DocExample, base: string, cwd: string): Promise<void> {
  const output = await run(script(example, base, false), cwd).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `the example ran: ${stderr}`);
  const parts = stdout.split(STATUS_MARK);
  // [body, status, body, status, ..., rest]
  const answers: { status: number; body: string }[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) answers.push({ body: parts[i], status: Number(parts[i + 1]) });
  if (example.lines) {
    assert.equal(answers.length, 1);
    return assertLines(answers[0].body, example);
  }
  assert.equal(answers.length, example.answers!.length, `one answer per curl call: ${stdout}`);
  example.answers!.forEach((expected: Answer, index) => {
    const { status, body } = answers[index];
    assert.equal(status, expected.status, `call ${index + 1}: status (${body.trim()})`);
    const reply = JSON.parse(body);
    if (status !== 200) assert.equal(reply.http, status, "an error in ntfy's shape");
    if (expected.reply) assertFields(reply, expected.reply, `call ${index + 1}`);
  });
}

function assertLines(body: string, example: DocExample): void {
  assert.equal(STATUS_MARK.test(body), false);
  const lines = body.split("\n").filter((line) => line !== "");
  const expected = example.lines!;
  if (example.returns?.only) assert.equal(lines.length, expected.length, `only these lines: ${body}`);
  assert.ok(lines.length >= expected.length, `at least ${expected.length} lines: ${body}`);
  const tail = lines.slice(lines.length - expected.length);
  tail.forEach((line, index) => assertLine(line, expected[index], `line ${index + 1}`));
  for (const line of lines) assert.equal(JSON.parse(line).event, "message", "poll=1 writes only messages");
}

/** Runs a subscription that keeps streaming: reads its lines, publishes once it opened, stops once all came. */
async function runStream(example: DocExample, base: string, cwd: string, token: string | undefined): Promise<void> {
  const child = run(script(example, base, true), cwd).spawn();
  const lines: string[] = [];
  const reading = (async () => {
    for await (const line of readLines(child.stdout, 1024 * 1024)) lines.push(line);
  })();
  const stderr = child.stderr.cancel();
  try {
    const expected = example.lines!;
    await waitFor(() => lines.length > 0, { message: "the subscription to open" });
    for (const item of example.publish ?? []) await publish(base, token, item);
    // Stored events and the new ones come after the open; the expected ones come in this order.
    await waitFor(() => matchInOrder(lines, expected), {
      message: `${JSON.stringify(expected)} in ${JSON.stringify(lines)}`,
    });
    // The first expected lines open the stream, as written.
    for (let i = 0; i < expected.length && typeof expected[i] === "string"; i++) {
      assertLine(lines[i], expected[i], `line ${i + 1}`);
    }
    if (typeof expected[0] !== "string") assertLine(lines[0], expected[0], "the first line");
  } finally {
    child.kill();
    await child.status;
    await reading.catch(() => {});
    await stderr.catch(() => {});
  }
}

/** Whether `expected` appear in `lines` in order, each matched by the first fitting line after the last. */
function matchInOrder(lines: string[], expected: Line[]): boolean {
  let at = 0;
  for (const want of expected) {
    let found = false;
    for (; at < lines.length && !found; at++) {
      try {
        assertLine(lines[at], want, "");
        found = true;
      } catch {
        // Not this line.
      }
    }
    if (!found) return false;
  }
  return true;
}

Deno.test("ntfy's documented curl examples get ntfy's answers from a real agent", async (t) => {
  const cwd = await Deno.makeTempDir();
  // The doc's `curl -T flower.jpg`: a JPEG's first bytes, not UTF-8.
  await Deno.writeFile(
    `${cwd}/flower.jpg`,
    Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46]),
  );
  const agents = new Map<string, { agent: AgentProcess; base: string }>();
  /** One agent per token (none, or the credential the example uses), started when first needed. */
  const agentFor = async (token?: string) => {
    let entry = agents.get(token ?? "");
    if (!entry) {
      const agent = await startAgent({ config: config(token) });
      entry = { agent, base: await httpBase(agent) };
      agents.set(token ?? "", entry);
    }
    return entry;
  };
  try {
    for (const example of NTFY_DOC_EXAMPLES) {
      const name = `${example.doc} "${example.section}"${example.differs ? " (hark differs on purpose)" : ""}`;
      await t.step({
        name,
        ignore: example.skip !== undefined,
        fn: async () => {
          const { base } = await agentFor(example.token);
          for (const item of example.before ?? []) await publish(base, example.token, item);
          if (example.lines && !example.returns) await runStream(example, base, cwd, example.token);
          else await runReturning(example, base, cwd);
        },
      });
    }
  } finally {
    for (const { agent } of agents.values()) await agent[Symbol.asyncDispose]();
    await Deno.remove(cwd, { recursive: true });
  }
});
