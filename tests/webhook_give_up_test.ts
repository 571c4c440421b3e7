/**
 * A webhook that chokes on one event: that event gets `1 + retries`
 * requests, is given up (logged, counted, shown by `hark status`), and the
 * events behind it go on; the status shows no stale error once it delivers.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import type { SinkHealth } from "../lib/router.ts";

Deno.test("a webhook gives up an event its receiver answers 500 to after its retries, and the next one flows", async () => {
  const posts: { id: string; title: string; at: number }[] = [];
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const event = await request.json();
    posts.push({ id: event.id, title: event.title, at: Date.now() });
    return event.title === "poison" ? new Response("cannot parse this one", { status: 500 }) : new Response("ok");
  });
  await using agent = await startAgent({
    config: loopbackConfig(
      [],
      `[[sink]]\ntype = "webhook"\nurl = "http://127.0.0.1:${server.addr.port}/hook"\nretries = 1\n`,
    ),
  });
  const webhook = async () => {
    const { status } = await agent.request({ op: "status" });
    return (status as { sinks: SinkHealth[] }).sinks.find((sink) => sink.name.startsWith("webhook:"))!;
  };
  const row = async () => (await agent.cli(["status"])).stdout.split("\n").find((line) => line.includes("webhook:"))!;

  const poison = await agent.send(["--title", "poison", "x"]);
  await waitFor(async () => (await webhook()).given_up === 1, { message: "the poison event given up" });
  assert.equal(posts.filter((post) => post.id === poison).length, 2, "1 + retries requests, no more");
  const header = (await agent.cli(["status"])).stdout.split("\n").find((line) => line.includes("GIVEN UP"));
  assert.ok(header, "hark status names the column");
  assert.match(await row(), /\s1\s+webhook \S+ answered 500 Internal Server Error: cannot parse this one/);
  assert.match(agent.stderr, new RegExp(`gave up on event ${poison}`));

  const sentAt = Date.now();
  const healthy = await agent.send(["--title", "healthy", "y"]);
  const delivered = await waitFor(() => posts.find((post) => post.id === healthy), { message: "the next event" });
  assert.ok(delivered.at - sentAt < 3000, `delivered ${delivered.at - sentAt} ms after it was sent`);
  await waitFor(async () => (await webhook()).delivered === 1, { message: "counted as delivered" });
  const health = await webhook();
  assert.equal(health.state, "ok");
  assert.equal(health.last_error, undefined, "no stale error once it delivers again");
  assert.match(await row(), /\s1\s+-$/, "GIVEN UP stays 1, LAST ERROR is cleared");
  assert.equal(posts.filter((post) => post.id === poison).length, 2, "the poison event is not tried again");
});
