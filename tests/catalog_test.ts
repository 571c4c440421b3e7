/** The catalog between real agents: a schema checks `hark send`, refuses a peer's off-schema event, and is announced. */

import assert from "node:assert/strict";
import type { HarkEvent } from "../lib/event/event.ts";
import type { TopicListing } from "../lib/event/catalog.ts";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";

const SCHEMA = {
  type: "object",
  required: ["status"],
  properties: { status: { enum: ["ok", "failed"] }, minutes: { type: "integer" } },
};

Deno.test("a topic's schema checks hark send, refuses off-schema events from peers, and shows in hark topics", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark-catalog-" });
  try {
    await Deno.writeTextFile(`${dir}/builds.json`, JSON.stringify(SCHEMA));
    const membership = `[membership]\nstatus_interval = "1s"\n`;
    await using a = await startAgent({
      config: loopbackConfig(
        [],
        `[agent]\ntopics = ["builds"]\n${membership}\n[topic.builds]\ndescription = "CI builds"\nschema = "${dir}/builds.json"\n`,
      ),
    });
    // b has no schema of its own: what it publishes is checked by a alone.
    await using b = await startAgent({
      config: loopbackConfig(a.addresses, `[agent]\ntopics = ["builds"]\n${membership}`),
    });
    await b.waitForPeers([a.peerId], "builds");

    const refused = await a.cli(["send", "-t", "builds", "--data", `{"status":"late"}`, "build 1"]);
    assert.notEqual(refused.code, 0, "a send that does not match the schema fails");
    assert.match(
      refused.stderr,
      /data does not match the schema of topic "builds": data\.status must be one of "ok", "failed"/,
    );
    const missing = await a.cli(["send", "-t", "builds", "build 2"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /data is missing: topic "builds" has a schema/);

    const offSchema = await b.send(["-t", "builds", "--data", `{"status":"ok","minutes":"ten"}`, "build 3"]);
    const fits = await b.send(["-t", "builds", "--data", `{"status":"ok","minutes":10}`, "build 4"]);
    const received = await a.waitForEvents([fits]);
    assert.ok(!received.some((event: HarkEvent) => event.id === offSchema), "a never delivers the off-schema event");
    await waitFor(async () => {
      const { status } = await a.request({ op: "status" });
      return (status as { events: { off_schema: number } }).events.off_schema === 1;
    }, { timeoutMs: 15_000, message: "a to count one off-schema event" });
    assert.ok((await b.events()).some((event) => event.id === offSchema), "b, without the schema, keeps its own event");

    // b learns a's catalog from a's status events.
    const builds = await waitFor(async () => {
      const result = await b.cli(["topics", "--json"]);
      assert.equal(result.code, 0, result.stderr);
      const topics = JSON.parse(result.stdout) as TopicListing[];
      const entry = topics.find((topic) => topic.topic === "builds");
      return entry?.announced_by.some((announcer) => announcer.peer === a.peerId) && entry;
    }, { timeoutMs: 15_000, message: "b to list a's announcement of builds" });
    assert.equal(builds.description, "CI builds");
    assert.deepEqual(builds.schema, SCHEMA);
    assert.equal(builds.defined_by, "peer");
    assert.equal(builds.subscribed, true);
    assert.equal(builds.events, 2, "b stored both of its own events");
    assert.deepEqual(builds.publishers.map((publisher) => publisher.peer), [b.peerId]);
    assert.ok(builds.last);

    const table = await a.cli(["topics"]);
    assert.equal(table.code, 0, table.stderr);
    const row = table.stdout.split("\n").find((line) => line.startsWith("builds"));
    assert.ok(row, table.stdout);
    assert.match(row, /CI builds\s+yes\s+/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
