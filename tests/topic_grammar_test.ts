/**
 * SPEC's topic grammar on real agents: `[A-Za-z0-9._-]{1,64}`, case kept (as
 * ntfy's), without a leading or trailing `.` or `..`. A MixedCase topic keeps
 * its case from `hark send` and ntfy's publish API, over the mesh, into the
 * store, `hark history`, ntfy's subscribe API and `when` filters; every way in
 * refuses the same bad names.
 */

import assert from "node:assert/strict";
import { type AgentProcess, hark, loopbackConfig, startAgent } from "./helpers/hark.ts";
import type { HarkEvent } from "../lib/event/event.ts";

const TOPICS = `[agent]\ntopics = ["Phil_Alerts", "phil_alerts"]\n`;
const SERVER = `${TOPICS}
[[source]]
type = "http"
listen = "127.0.0.1:0"

[[sink]]
type = "file"
topics = ["Phil_*"]
when = 'topic == "Phil_Alerts"'
`;
const BAD_TOPICS = [".lead", "trail.", "a..b", "a".repeat(65)];

async function httpAddress(agent: AgentProcess): Promise<string> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  return `http://${sources.find((source) => source.name === "http")!.listen}`;
}

Deno.test("a MixedCase topic keeps its case everywhere, and bad topic names are refused everywhere", async (t) => {
  await using server = await startAgent({ config: loopbackConfig([], SERVER) });
  await using publisher = await startAgent({ config: loopbackConfig(server.addresses, TOPICS) });
  await server.waitForPeers([publisher.peerId], "Phil_Alerts");
  await publisher.waitForPeers([server.peerId], "Phil_Alerts");
  const base = await httpAddress(server);

  const mixed = await publisher.send(["-t", "Phil_Alerts", "--title", "from the CLI", "x"]);
  const lower = await publisher.send(["-t", "phil_alerts", "--title", "lower case is another topic", "x"]);
  const posted = await fetch(`${base}/Phil_Alerts`, { method: "POST", body: "from ntfy's API" });
  assert.equal(posted.status, 200);
  const viaHttp = (await posted.json()) as { id: string; topic: string };
  assert.equal(viaHttp.topic, "Phil_Alerts");
  // The file sink delivers in order; once the last one is there, the lower-case one was judged.
  const last = await publisher.send(["-t", "Phil_Alerts", "--title", "last", "x"]);

  await t.step("over the mesh into a sink whose glob and when name the case", async () => {
    const events = await server.waitForEvents([mixed, viaHttp.id, last]);
    assert.deepEqual(events.map((event) => event.topic), ["Phil_Alerts", "Phil_Alerts", "Phil_Alerts"]);
    assert.ok(!events.some((event) => event.id === lower), "phil_alerts is another topic");
  });

  await t.step("hark history -t keeps the two topics apart", async () => {
    const result = await server.cli(["history", "-t", "Phil_Alerts", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const events = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as HarkEvent);
    assert.deepEqual(events.map((event) => event.id), [mixed, viaHttp.id, last]);
    const other = await server.cli(["history", "-t", "phil_alerts", "--json"]);
    assert.deepEqual(other.stdout.trim().split("\n").map((line) => JSON.parse(line).id), [lower]);
  });

  await t.step("ntfy's subscribe API answers with the topic as written", async () => {
    const reply = await fetch(`${base}/Phil_Alerts/json?poll=1&since=all`);
    const lines = (await reply.text()).trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(lines.map((line) => [line.id, line.topic]), [
      [mixed, "Phil_Alerts"],
      [viaHttp.id, "Phil_Alerts"],
      [last, "Phil_Alerts"],
    ]);
  });

  for (const topic of BAD_TOPICS) {
    await t.step(
      `${JSON.stringify(topic.slice(0, 10))} is refused by hark send, history and the http source`,
      async () => {
        const sent = await publisher.cli(["send", "-t", topic, "x"]);
        assert.equal(sent.code, 2, sent.stderr);
        assert.match(sent.stderr, /invalid topic .*without a leading or trailing "\." or "\.\."/);
        const history = await server.cli(["history", "-t", topic]);
        assert.equal(history.code, 2, history.stderr);
        assert.match(history.stderr, /invalid topic/);
        const posted = await fetch(`${base}/${topic}`, { method: "POST", body: "x" });
        assert.equal(posted.status, 400);
        assert.match(((await posted.json()) as { error: string }).error, /invalid topic/);
        const json = await fetch(base, { method: "POST", body: JSON.stringify({ topic, message: "x" }) });
        assert.equal(json.status, 400);
        await json.body?.cancel();
      },
    );
  }

  await t.step("hark run refuses a config that names one", async () => {
    const dir = await Deno.makeTempDir({ prefix: "hark-topic-" });
    const configPath = `${dir}/config.toml`;
    await Deno.writeTextFile(configPath, loopbackConfig([], `[agent]\ntopics = ["a..b"]\n`));
    const result = await hark(["run", "--config", configPath, "--state-dir", dir]);
    await Deno.remove(dir, { recursive: true });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /invalid topic "a\.\.b"/);
  });
});
