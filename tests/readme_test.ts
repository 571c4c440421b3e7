/** The README's examples stay true: its config examples parse. */

import assert from "node:assert/strict";
import { parseConfig, resolveConfig } from "../lib/config.ts";

Deno.test("the README's config example parses", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const block = /```toml\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf("\n## Config\n")));
  assert.ok(block, "the README's Config section has a TOML example");
  const config = resolveConfig(parseConfig(block[1], "README.md"), { host: "h", stateDir: "/state" });
  assert.deepEqual(config.agent.topics, ["default", "builds"]);
  assert.equal(config.sinks.length, 2);
  assert.equal(config.store.max_events, 100_000);
});

Deno.test("every TOML example in the README parses", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const blocks = [...readme.matchAll(/```toml\n([\s\S]*?)```/g)].map((match) => match[1]);
  assert.ok(blocks.length >= 2);
  for (const block of blocks) resolveConfig(parseConfig(block, "README.md"), { host: "h", stateDir: "/state" });
});
