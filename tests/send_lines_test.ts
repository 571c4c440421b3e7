/**
 * `hark send --lines` on a real agent: a line over the 4 KiB body limit is
 * not cut silently (issue #29): it arrives whole, in order, as several events,
 * and stderr says so.
 */

import assert from "node:assert/strict";
import { hark, loopbackConfig, startAgent } from "./helpers/hark.ts";

Deno.test("hark send --lines splits a line over the body limit into several events, with a warning", async () => {
  await using agent = await startAgent({ config: loopbackConfig() });
  // 30 KB of text with two-byte characters across the cut points: no character may be split.
  const long = Array.from({ length: 10_000 }, (_, i) => (i % 7 === 0 ? "é" : String(i % 10))).join("") + "END";
  const result = await agent.cli(["send", "--lines", "-t", "default"], { stdin: `first\n${long}\nlast\n` });
  assert.equal(result.code, 0, result.stderr);
  const ids = result.stdout.trim().split("\n");
  const bytes = new TextEncoder().encode(long).length;
  const parts = Math.ceil(bytes / 4096);
  assert.equal(ids.length, 2 + parts, result.stdout);
  assert.equal(
    result.stderr.trim(),
    `hark: warning: a line of ${bytes} bytes is over the body limit of 4096 bytes; sent as ${parts} events`,
  );
  const events = await agent.waitForEvents(ids);
  const bodies = ids.map((id) => events.find((event) => event.id === id)!.body);
  assert.equal(bodies[0], "first");
  assert.equal(bodies.slice(1, -1).join(""), long, "the long line, whole and in order");
  assert.ok(bodies.slice(1, -1).every((body) => new TextEncoder().encode(body).length <= 4096));
  assert.equal(bodies.at(-1), "last");
});

Deno.test("hark send --help states the body limit and what --lines does past it", async () => {
  const result = await hark(["send", "--help"]);
  assert.match(result.stdout, /the body is at most 4096 bytes/);
  assert.match(result.stdout, /a line over 4096 bytes is sent as several events, with a warning/);
});
