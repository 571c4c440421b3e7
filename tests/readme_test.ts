/** The README's examples stay true: its config parses. */

import assert from "node:assert/strict";
import { parseConfig, resolveConfig } from "../lib/config.ts";

Deno.test("the README's config example parses", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const block = /```toml\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, "the README has a TOML example");
  const config = resolveConfig(parseConfig(block[1], "README.md"), { host: "h", stateDir: "/state" });
  assert.deepEqual(config.agent.topics, ["default", "builds"]);
  assert.equal(config.sinks.length, 2);
  assert.equal(config.store.max_events, 100_000);
});
