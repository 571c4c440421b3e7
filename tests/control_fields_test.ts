/**
 * Crafted control requests against a real agent's socket: every field of
 * the wrong type or out of range gets an error reply that names it (never
 * an internal error from SQLite or a topic called "[object Object]"), and
 * the agent answers the next request as usual.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { AgentReplyError } from "../lib/errors.ts";

Deno.test("the control socket refuses crafted history and tail fields by name, and carries on", async (t) => {
  await using agent = await startAgent({ config: loopbackConfig([], `[agent]\ntopics = ["builds"]\n`) });
  await agent.send(["-t", "builds", "one"]);
  const cases: { request: Record<string, unknown>; error: RegExp }[] = [
    { request: { op: "history", limit: 1e300 }, error: /^limit must be a whole number from 1 to 1000000000/ },
    { request: { op: "history", limit: -1 }, error: /^limit must be a whole number/ },
    { request: { op: "history", limit: "10" }, error: /^limit must be a whole number/ },
    { request: { op: "history", topics: [{ a: 1 }] }, error: /^topics\[0\] must be a topic name, not an object$/ },
    { request: { op: "tail", topics: [{}] }, error: /^topics\[0\] must be a topic name, not an object$/ },
    { request: { op: "tail", topics: "builds" }, error: /^topics must be a list of topic names, not a string$/ },
    { request: { op: "tail", since_time: "1h" }, error: /^since_time must be milliseconds/ },
    { request: { op: "history", since_time: 1e300 }, error: /^since_time must be milliseconds/ },
    { request: { op: "tail", since_id: ["x"] }, error: /^since_id must be an event id/ },
    { request: { op: "tail", when: { priority: 4 } }, error: /^when must be a filter \(a string\), not an object$/ },
  ];
  for (const c of cases) {
    await t.step(JSON.stringify(c.request), async () => {
      await assert.rejects(agent.request(c.request as { op: string }), (error: Error) => {
        assert.ok(error instanceof AgentReplyError, error.message);
        assert.match(error.message, c.error);
        return true;
      });
    });
  }
  const reply = await agent.request({ op: "history", topics: ["builds"], limit: 5 });
  assert.deepEqual((reply.events as { body: string }[]).map((event) => event.body), ["one"]);
});
