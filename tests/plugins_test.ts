/**
 * Plugins in a real agent: a plugin acts and publishes, a crashing one is
 * deactivated while the agent carries on, its events wait in the store and
 * reach it, once each, after a fix and a restart; saving the file reloads
 * it; an endless loop is stopped without stalling the agent.
 */

import assert from "node:assert/strict";
import type { SinkHealth } from "../lib/router.ts";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";

const PLUGIN = (version: string, extra = "") => `
export function register(hark) {
  hark.on("builds", { when: "priority >= 4" }, async (event, ctx) => {
    ${extra}
    await Deno.writeTextFile(${JSON.stringify("SEEN")}, event.id + "\\n", { append: true });
    await ctx.send({ topic: "alerts", title: "${version}: " + event.body });
  });
}
`;

async function pluginHealth(agent: AgentProcess): Promise<SinkHealth & { details: Record<string, unknown> }> {
  const { status } = await agent.request({ op: "status" });
  const sinks = (status as { sinks: SinkHealth[] }).sinks;
  return sinks.find((sink) => sink.name.startsWith("plugin:")) as SinkHealth & { details: Record<string, unknown> };
}

async function alerts(agent: AgentProcess): Promise<string[]> {
  return (await agent.events()).filter((event) => event.topic === "alerts").map((event) => event.title);
}

Deno.test("a plugin in a real agent acts, is deactivated when it keeps crashing, resumes from its cursor, reloads and is stopped in a loop", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark-plugins-" });
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  const seen = `${dir}/seen.log`;
  const write = (code: string) => Deno.writeTextFile(`${dir}/relay.ts`, code.replace(`"SEEN"`, JSON.stringify(seen)));
  const seenIds = async () => (await Deno.readTextFile(seen).catch(() => "")).split("\n").filter(Boolean);
  const config = loopbackConfig(
    [],
    `[agent]
topics = ["builds", "alerts"]

[[sink]]
type = "file"
path = "${stateDir}/events.jsonl"

[[sink]]
type = "plugin"
path = "${dir}/relay.ts"
timeout = "1s"
allow_write = ["${seen}"]
`,
  );
  try {
    await write(PLUGIN("v1", `if (event.body === "boom") throw new Error("v1 cannot take " + event.body);`));
    {
      await using agent = await startAgent({ config, stateDir });
      await waitFor(async () => (await pluginHealth(agent)).details.plugin === "ready", {
        message: "the plugin to load",
      });
      const first = await agent.send(["-t", "builds", "-p", "5", "first"]);
      await agent.send(["-t", "builds", "-p", "2", "too quiet"]);
      await waitFor(async () => (await alerts(agent)).includes("v1: first"), { message: "the plugin's alert" });
      assert.deepEqual(await seenIds(), [first]);

      const boom = await agent.send(["-t", "builds", "-p", "5", "boom"]);
      const after = await agent.send(["-t", "builds", "-p", "5", "after"]);
      const health = await waitFor(async () => {
        const health = await pluginHealth(agent);
        return health.details.plugin === "deactivated" && health;
      }, { timeoutMs: 20_000, message: "the crashing plugin to be deactivated" });
      assert.match(health.last_error!, /v1 cannot take boom/);
      assert.ok(health.queued >= 2, `boom and after wait for the plugin (queued ${health.queued})`);
      const shown = await agent.cli(["status"]);
      assert.match(shown.stdout, /plugin:\S+relay\.ts\s+deactivated \(save the file to reload\)/);
      // The agent carries on: other sinks get events.
      const meanwhile = await agent.send(["-t", "builds", "meanwhile"]);
      await agent.waitForEvents([boom, after, meanwhile]);
      await agent.stop();
    }

    // Fixed while the agent was down: what waited reaches it, and nothing twice.
    await write(PLUGIN("v2"));
    {
      await using agent = await startAgent({ config, stateDir, removeStateDir: true });
      await waitFor(async () => (await alerts(agent)).includes("v2: after"), {
        timeoutMs: 20_000,
        message: "the fixed plugin to get the events that waited",
      });
      const ids = await seenIds();
      assert.equal(ids.length, 3, `each event once: ${ids.join(", ")}`);
      assert.deepEqual((await alerts(agent)).filter((title) => title.startsWith("v2")), ["v2: boom", "v2: after"]);

      // Saving the file reloads it.
      await write(PLUGIN("v3", `if (event.body === "loop") for (;;) {}`));
      await waitFor(async () => (await pluginHealth(agent)).details.loads === 2, {
        message: "the edited plugin to reload",
      });
      await agent.send(["-t", "builds", "-p", "5", "reloaded"]);
      await waitFor(async () => (await alerts(agent)).includes("v3: reloaded"), { message: "v3's alert" });

      // An endless loop: its Worker is stopped at the timeout, and the agent answers throughout.
      await agent.send(["-t", "builds", "-p", "5", "loop"]);
      const looping = await waitFor(async () => {
        const health = await pluginHealth(agent);
        return (health.details.terminated as number) >= 1 && health;
      }, { timeoutMs: 15_000, message: "the looping plugin's Worker to be stopped" });
      assert.match(looping.last_error!, /took longer than 1 s; its Worker was stopped/);
      const id = await agent.send(["-t", "builds", "still answering"]);
      await agent.waitForEvents([id]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
