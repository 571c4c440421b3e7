/** The client library (lib/client/mod.ts) against real agents, and the example of docs/client.md as written. */

import assert from "node:assert/strict";
import { AgentReplyError, connect, type HarkEvent, NoAgentError } from "../lib/client/mod.ts";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";

const ROOT = new URL("../", import.meta.url);
const TOPICS = `[agent]\ntopics = ["default", "builds", "alerts"]\n`;

/** The ```ts block after `<!-- client example -->` in docs/client.md. */
async function docsExample(): Promise<string> {
  const page = await Deno.readTextFile(new URL("docs/client.md", ROOT));
  const match = /<!-- client example -->\s*```ts\n([\s\S]*?)```/.exec(page);
  assert.ok(match, "docs/client.md has a client example");
  return match[1];
}

Deno.test("docs/client.md's client example runs as written against a real agent", async () => {
  await using agent = await startAgent({ config: loopbackConfig([], TOPICS) });
  const dir = await Deno.makeTempDir({ prefix: "hark-client-example-" });
  try {
    const file = `${dir}/example.ts`;
    await Deno.writeTextFile(file, await docsExample());
    // Run as a program of the user's would be: by the package's name, through deno.json's exports.
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", `--config=${new URL("deno.json", ROOT).pathname}`, file],
      env: { HARK_STATE_DIR: agent.stateDir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    const host = (await agent.request({ op: "status" })).status as { host: string };
    assert.equal(new TextDecoder().decode(output.stdout), `${host.host}: build 42 passed\n`);
    const stored = await agent.request({ op: "history", topics: ["builds"] });
    assert.deepEqual((stored.events as HarkEvent[]).map((event) => event.data), [{ build: 42 }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a subscription gets every event once, in order, filtered by the agent, and resumes from lastId", async () => {
  await using agent = await startAgent({ config: loopbackConfig([], TOPICS) });
  await using client = await connect({ stateDir: agent.stateDir });

  const all = client.subscribe(["builds", "alerts"]);
  const urgent = client.subscribe("alerts", { when: "priority >= 4" });
  await Promise.all([all.ready, urgent.ready]);

  // Sent without waiting for each other: the requests pipeline on one connection.
  const drafts = Array.from({ length: 40 }, (_, i) => ({
    topic: i % 2 === 0 ? "builds" : "alerts",
    title: `event ${i}`,
    priority: (i % 5) + 1,
  }));
  const sent = await Promise.all(drafts.map((draft) => client.send(draft)));
  assert.equal(new Set(sent.map((result) => result.id)).size, 40, "each send has its own id");
  sent.forEach((result, i) => assert.equal(result.event.title, `event ${i}`, "replies match their requests"));

  const seen: HarkEvent[] = [];
  for await (const event of all) {
    seen.push(event);
    if (seen.length === 40) break;
  }
  // The agent's order is its store's (a burst leaves in one message per topic, so not always the send order).
  const stored = (await client.history(["builds", "alerts"])).map((event) => event.id);
  assert.deepEqual(seen.map((event) => event.id), stored);
  assert.deepEqual(new Set(stored), new Set(sent.map((result) => result.id)));
  assert.equal(all.lastId, stored[39]);

  const urgentIds = new Set(
    sent.filter((result) => result.event.topic === "alerts" && result.event.priority >= 4).map((result) => result.id),
  );
  const urgentSeen: string[] = [];
  for await (const event of urgent) {
    urgentSeen.push(event.id);
    if (urgentSeen.length === urgentIds.size) break;
  }
  assert.deepEqual(urgentSeen, stored.filter((id) => urgentIds.has(id)));

  // Resuming after the 30th event yields the last 10 from the store, and then what is new.
  const resumed = client.subscribe(["builds", "alerts"], { since: stored[29] });
  const later = await client.send({ topic: "builds", title: "after the resume" });
  const replay: string[] = [];
  for await (const event of resumed) {
    replay.push(event.id);
    if (event.id === later.id) break;
  }
  assert.deepEqual(replay, [...stored.slice(30), later.id]);
});

Deno.test("the client reports what went wrong, in the agent's words", async (t) => {
  await using agent = await startAgent({ config: loopbackConfig([], TOPICS) });
  await using client = await connect({ stateDir: agent.stateDir });

  await t.step("a bad filter fails the subscription, naming the field", async () => {
    const subscription = client.subscribe("builds", { when: "prio >= 4" });
    await assert.rejects(
      subscription.ready,
      (error: Error) => error instanceof AgentReplyError && /prio/.test(error.message),
    );
    await assert.rejects(subscription.next(), /prio/);
  });

  await t.step("a bad since fails before anything is sent", async () => {
    await assert.rejects(
      client.subscribe("builds", { since: "yesterday" }).ready,
      /^Error: since: "yesterday"|since: "yesterday" is neither/,
    );
  });

  await t.step("an invalid event is refused with the reason, and the client goes on", async () => {
    await assert.rejects(client.send({ topic: "Not A Topic" }), AgentReplyError);
    await assert.rejects(client.send({ priority: 9 }), /priority/);
    const ok = await client.send({ title: "still fine" });
    assert.match(ok.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  await t.step("no agent: connect says so and how to start one", async () => {
    const empty = await Deno.makeTempDir();
    try {
      await assert.rejects(connect({ stateDir: empty }), (error: Error) => {
        return error instanceof NoAgentError && /No hark agent is running .* `hark run`/.test(error.message);
      });
    } finally {
      await Deno.remove(empty, { recursive: true });
    }
  });
});

Deno.test("a subscription ends quietly when closed or aborted, and loudly when the agent stops", async (t) => {
  await using agent = await startAgent({ config: loopbackConfig([], TOPICS) });
  await using client = await connect({ stateDir: agent.stateDir });

  await t.step("close() resolves a pending next() as done", async () => {
    const subscription = client.subscribe("builds");
    await subscription.ready;
    const pending = subscription.next();
    subscription.close();
    assert.deepEqual(await pending, { done: true, value: undefined });
    await subscription.closed;
  });

  await t.step("an aborted signal ends the loop", async () => {
    const controller = new AbortController();
    const subscription = client.subscribe("builds", { signal: controller.signal });
    await subscription.ready;
    const loop = (async () => {
      let count = 0;
      for await (const _ of subscription) count++;
      return count;
    })();
    const sent = await client.send({ topic: "builds", title: "one" });
    while (subscription.lastId !== sent.id) await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    assert.equal(await loop, 1);
  });

  await t.step("the agent stopping throws, with where to resume", async () => {
    const subscription = client.subscribe("builds");
    await subscription.ready;
    const sent = await client.send({ topic: "builds", title: "last" });
    assert.equal((await subscription.next()).value?.id, sent.id);
    const rejected = assert.rejects(subscription.next(), (error: Error) => {
      return error instanceof AgentReplyError && error.message.includes(`since: "${sent.id}"`);
    });
    await agent.stop();
    await rejected;
  });
});

Deno.test("the client library loads no npm package and nothing of libp2p", async () => {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("lib/client/mod.ts", ROOT).pathname],
    stdout: "piped",
  }).output();
  const graph = JSON.parse(new TextDecoder().decode(info.stdout));
  const specifiers: string[] = graph.modules.map((module: { specifier: string }) => module.specifier);
  assert.deepEqual(specifiers.filter((specifier) => !specifier.startsWith("file:")), []);
  assert.ok(specifiers.length < 20, `the client pulls in ${specifiers.length} modules`);
});
