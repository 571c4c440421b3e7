/**
 * `hark send` is started once per event by scripts, so it loads only the
 * argument parser and the control client: no npm package, no TOML parser.
 * Run without the project's deno.json, any import of an npm package (they
 * are named through its import map) fails, so these tests catch one that
 * creeps onto the send path. The benchmark measures `send` this way too.
 */

import assert from "node:assert/strict";
import { hark, loopbackConfig, startAgent } from "./helpers/hark.ts";

const NO_CONFIG = ["--no-config"];

Deno.test("hark send publishes without the project config, as a compiled binary runs", async () => {
  await using agent = await startAgent({ config: loopbackConfig() });
  const sent = await hark([
    "send",
    "--state-dir",
    agent.stateDir,
    "-t",
    "default",
    "--tag",
    "ci",
    "-p",
    "high",
    "hello",
  ], {
    denoFlags: NO_CONFIG,
  });
  assert.equal(sent.code, 0, sent.stderr);
  const id = sent.stdout.trim();
  const history = await agent.cli(["history", "--json"]);
  const events = history.stdout.trim().split("\n").map((line) => JSON.parse(line));
  const event = events.find((candidate) => candidate.id === id);
  assert.ok(event, `event ${id} is in the agent's history: ${history.stdout}`);
  assert.equal(event.body, "hello");
  assert.equal(event.priority, 4);
  assert.deepEqual(event.tags, ["ci"]);
});

Deno.test("hark send's errors and help need no project config either", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "hark-send-" });
  try {
    const noAgent = await hark(["send", "--state-dir", stateDir, "hi"], { denoFlags: NO_CONFIG });
    assert.equal(noAgent.code, 3, noAgent.stderr);
    assert.match(noAgent.stderr, /No hark agent is running/);
    const badPriority = await hark(["send", "--state-dir", stateDir, "-p", "9", "hi"], { denoFlags: NO_CONFIG });
    assert.equal(badPriority.code, 2, badPriority.stderr);
    assert.match(badPriority.stderr, /priority/);
    const help = await hark(["send", "--help"], { denoFlags: NO_CONFIG });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: hark send/);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
