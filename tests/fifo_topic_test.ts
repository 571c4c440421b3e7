/**
 * A `[[source]]`'s `topic` key on a real agent: the fifo source publishes
 * lines that name no topic on it (issue #29: every line landed on `default`),
 * and a JSON line that names its own topic keeps it.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";

Deno.test("a fifo source publishes on its topic key, unless a JSON line names another", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark-fifo-topic-" });
  const fifo = `${dir}/alert`;
  const config =
    `[agent]\ntopics = ["default", "Alerts"]\n\n[[source]]\ntype = "fifo"\npath = "${fifo}"\ntopic = "Alerts"\n`;
  await using agent = await startAgent({ config: loopbackConfig([], config) });
  try {
    const script = `echo "Disk|almost full" > ${fifo}; echo '{"topic": "default", "body": "named its own"}' > ${fifo}`;
    const output = await new Deno.Command("sh", { args: ["-c", script], stderr: "piped" }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const events = await waitFor(async () => {
      const events = await agent.events();
      return events.length >= 2 && events;
    }, { message: "both fifo lines to reach the file sink" });
    const topics = Object.fromEntries(events.map((event) => [event.body, event.topic]));
    assert.deepEqual(topics, { "almost full": "Alerts", "named its own": "default" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
