/**
 * ntfy's `Cache: no` across real agents: the event reaches every agent's
 * sinks and live subscribers once, and no agent stores it, serves it to a
 * poll or `hark history`, catches a newcomer up with it, or replays it
 * after a restart.
 */

import assert from "node:assert/strict";
import type { HarkEvent } from "../lib/event/event.ts";
import { saveNetwork } from "../lib/mesh/network.ts";
import { type AgentProcess, loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";

const TOPICS = `[agent]\ntopics = ["default", "mytopic"]\n\n[[sink]]\ntype = "file"\n\n`;
const HTTP = `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`;

async function httpBase(agent: AgentProcess): Promise<string> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  return `http://${sources.find((source) => source.name === "http")!.listen}`;
}

/** A live `GET /mytopic/json` subscriber: the messages it has read so far. */
function subscribe(base: string) {
  const messages: string[] = [];
  const controller = new AbortController();
  const reading = (async () => {
    const response = await fetch(`${base}/mytopic/json`, { signal: controller.signal });
    let buffer = "";
    for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        const message = JSON.parse(line);
        messages.push(message.event === "message" ? message.message : `(${message.event})`);
      }
    }
  })().catch(() => {});
  return {
    messages,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await reading;
    },
  };
}

async function poll(base: string): Promise<string[]> {
  const text = (await (await fetch(`${base}/mytopic/json?poll=1`)).text()).trim();
  return text === "" ? [] : text.split("\n").map((line) => JSON.parse(line).message);
}

async function history(agent: AgentProcess): Promise<HarkEvent[]> {
  const result = await agent.cli(["history", "--json", "--limit", "1000"]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

const bodies = (events: HarkEvent[]) => events.map((event) => event.body);

Deno.test("Cache: no reaches sinks and live subscribers on every agent once, and no agent stores or replays it", async (t) => {
  await using publisher = await startAgent({ config: loopbackConfig([], TOPICS + HTTP) });
  // A state dir of the test's own, which outlives the receiver's first run.
  const receiverState = await Deno.makeTempDir({ prefix: "hark-test-" });
  await saveNetwork(receiverState, TEST_NETWORK);
  let receiver = await startAgent({
    config: loopbackConfig(publisher.addresses, TOPICS + HTTP),
    stateDir: receiverState,
  });
  try {
    await receiver.waitForPeers([publisher.peerId], "mytopic");
    await publisher.waitForPeers([receiver.peerId], "mytopic");
    const publisherBase = await httpBase(publisher);
    const receiverBase = await httpBase(receiver);
    await using live = subscribe(receiverBase);
    await waitFor(() => live.messages.includes("(open)"), { message: "the live subscription to open" });

    const secret = await fetch(`${publisherBase}/mytopic`, {
      method: "POST",
      headers: { "Cache": "no" },
      body: "one-time code 4711",
    });
    const reply = await secret.json();
    assert.equal(reply.message, "one-time code 4711");
    assert.ok(!("expires" in reply), "ntfy's reply to a Cache: no message has no expiry");
    const kept = await (await fetch(`${publisherBase}/mytopic`, { method: "POST", body: "kept" })).json();

    await t.step("every agent's sinks get it, and a live subscriber too", async () => {
      for (const agent of [publisher, receiver]) {
        const events = await agent.waitForEvents([reply.id, kept.id]);
        assert.deepEqual(bodies(events), ["one-time code 4711", "kept"], agent.stateDir);
        assert.equal(events[0].cache, false, "the file sink writes the event with its cache: false");
      }
      await waitFor(() => live.messages.includes("kept"), { message: "the live subscriber to get both" });
      assert.deepEqual(live.messages.filter((message) => message !== "(open)"), ["one-time code 4711", "kept"]);
    });

    await t.step("no agent stores it: poll=1 and hark history show only the other event", async () => {
      for (const [agent, base] of [[publisher, publisherBase], [receiver, receiverBase]] as const) {
        assert.deepEqual(await poll(base), ["kept"]);
        assert.deepEqual(bodies(await history(agent)), ["kept"]);
      }
    });

    await t.step("a newcomer catches up with the stored event only", async () => {
      await using newcomer = await startAgent({ config: loopbackConfig([publisher.addresses[0]], TOPICS) });
      await waitFor(async () => bodies(await history(newcomer)).includes("kept"), {
        message: "the newcomer to catch up",
        timeoutMs: 30_000,
      });
      assert.deepEqual(bodies(await history(newcomer)), ["kept"]);
      const got = await newcomer.waitForEvents([kept.id]);
      assert.deepEqual(bodies(got), ["kept"], "its sinks never see the unstored event");
    });

    await t.step("a restart replays nothing to the sinks, and the event stays delivered once", async () => {
      await receiver.stop();
      receiver = await startAgent({
        config: loopbackConfig(publisher.addresses, TOPICS + HTTP),
        stateDir: receiverState,
      });
      await receiver.waitForPeers([publisher.peerId], "mytopic");
      const after = await publisher.send(["-t", "mytopic", "after the restart"]);
      const events = await receiver.waitForEvents([after]);
      assert.deepEqual(bodies(events), ["one-time code 4711", "kept", "after the restart"]);
    });
  } finally {
    await receiver[Symbol.asyncDispose]();
    await Deno.remove(receiverState, { recursive: true }).catch(() => {});
  }
});
