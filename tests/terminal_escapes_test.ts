/**
 * The terminal-escape attack from issue #29: a member whose host name, topic
 * description and event text hold escape sequences (clear screen, OSC 0
 * window title, OSC 52 clipboard, BEL, C1's CSI and DCS, a bidi override)
 * must not reach the terminal of whoever runs a listing on another agent.
 * Text output is cleaned; JSON output escapes them and still parses to the
 * very same strings.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { jsonForTerminal } from "../lib/util/controls.ts";
import { HARK_LAZY_IMPORTS_FLAG } from "../lib/service/program.ts";

const HOSTILE = "evil\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4K\x07\x07\x08\x9b31m\x90q\x9c\x7f\u202e";
// Raw control characters but "\n", which ends each line of output.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** A TOML basic string: JSON's escapes are TOML's, and jsonForTerminal escapes C1 too. */
const toml = (text: string) => jsonForTerminal(text);

function assertClean(name: string, output: string): void {
  const found = CONTROL.exec(output);
  assert.equal(found, null, `${name} printed ${JSON.stringify(found?.[0])} raw:\n${JSON.stringify(output)}`);
}

/** `hark tail` follows until killed: its output once `until` holds. */
async function tailOutput(agent: AgentProcess, args: string[], until: (output: string) => boolean): Promise<string> {
  const main = new URL("../main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--quiet",
      HARK_LAZY_IMPORTS_FLAG,
      main,
      "tail",
      ...args,
      "--state-dir",
      agent.stateDir,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let output = "";
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const deadline = AbortSignal.timeout(20_000);
    while (!until(output)) {
      if (deadline.aborted) throw new Error(`hark tail did not print the event in time:\n${output}`);
      const { value, done } = await reader.read();
      if (done) break;
      output += value;
    }
    await reader.cancel();
  } finally {
    child.kill();
    await child.status;
  }
  return output;
}

Deno.test("escape sequences in a member's host name and text never reach another agent's terminal", async (t) => {
  const topics = `[agent]\ntopics = ["default", "builds"]\n`;
  await using victim = await startAgent({ config: loopbackConfig([], topics) });
  await using attacker = await startAgent({
    config: loopbackConfig(
      victim.addresses,
      `[agent]\ntopics = ["default", "builds"]\nhost = ${toml(HOSTILE)}\n\n` +
        `[topic.builds]\ndescription = ${toml(`CI ${HOSTILE}`)}\n`,
    ),
  });
  await victim.waitForPeers([attacker.peerId], "builds");
  const id = await attacker.send(["-t", "builds", "--title", `title ${HOSTILE}`, `body ${HOSTILE}`]);
  await victim.waitForEvents([id]);
  // The attacker's join announces its host and catalog: wait until the victim knows both.
  await waitFor(async () => {
    const status = (await victim.request({ op: "status" })).status as { members: { host: string }[] };
    const topics = (await victim.request({ op: "topics" })).topics as { topic: string; description?: string }[];
    return status.members.some((member) => member.host === HOSTILE) &&
      topics.some((topic) => topic.description === `CI ${HOSTILE}`);
  }, { message: "the victim to know the attacker's host and description" });

  // history's --json is one event per line; the others print one JSON document.
  const listings: [name: string, args: string[], shows: string, jsonLines: boolean][] = [
    ["hark peers", ["peers"], "evil", false],
    ["hark status", ["status"], "evil", false],
    ["hark topics", ["topics"], "CI evil", false],
    ["hark history", ["history"], "title evil", true],
  ];
  for (const [name, args, shows, jsonLines] of listings) {
    await t.step(`${name} prints the host, cleaned`, async () => {
      const result = await victim.cli(args);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.stdout.includes(shows), result.stdout);
      assertClean(name, result.stdout);
      assertClean(`${name} (stderr)`, result.stderr);
    });
    await t.step(`${name} --json escapes them and keeps the value`, async () => {
      const result = await victim.cli([...args, "--json"]);
      assert.equal(result.code, 0, result.stderr);
      assertClean(`${name} --json`, result.stdout);
      const parsed = jsonLines
        ? result.stdout.trim().split("\n").map((line) => JSON.parse(line))
        : JSON.parse(result.stdout);
      assert.ok(JSON.stringify(parsed).includes(JSON.stringify(HOSTILE).slice(1, -1)), "the very same host string");
    });
  }

  await t.step("hark tail prints the stored and the live event, cleaned", async () => {
    const output = await tailOutput(victim, ["--since", "10m", "-t", "builds"], (text) => text.includes("title evil"));
    assertClean("hark tail", output);
    const json = await tailOutput(victim, ["--since", "10m", "-t", "builds", "--json"], (text) => text.includes("\n"));
    assertClean("hark tail --json", json);
    assert.equal(JSON.parse(json.split("\n")[0]).source.host, HOSTILE);
  });
});
