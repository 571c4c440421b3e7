/**
 * Reading a big store through every door at once: ntfy pollers
 * (`poll=1&since=all`), `hark history` and `hark tail --since` against a
 * real agent whose store holds thousands of large events. Every reader gets
 * every event, in order, and the agent's memory stays bounded however many
 * read at once: history goes out a page at a time under one budget.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { saveNetwork } from "../lib/mesh/network.ts";
import { EventStore } from "../lib/store/store.ts";
import { createEvent, type HarkEvent } from "../lib/event/event.ts";
import { monotonicUlid } from "../lib/event/ulid.ts";
import { ControlClient } from "../lib/control/client.ts";

const CONFIG = loopbackConfig(
  [],
  `[agent]\ntopics = ["mytopic"]\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`,
);
/** Past the 1,000 messages a subscriber could once have queued, and past the control client's 16 MiB line. */
const STORED = 3_000;
/** About 15 KB of stored JSON per event: 45 MB in all. */
const BODY = "b".repeat(4_000);
const DATA = { blob: "d".repeat(11_000) };

/**
 * A state dir whose store already holds `count` events on mytopic, written
 * straight into the real store before the agent starts (a send each would
 * take minutes). Returns the ids, oldest first.
 */
async function seededStateDir(count: number): Promise<{ stateDir: string; ids: string[] }> {
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  await saveNetwork(stateDir, TEST_NETWORK);
  const store = EventStore.open(stateDir);
  const nextId = monotonicUlid();
  const ids: string[] = [];
  const now = Date.now() - 60_000;
  try {
    for (let i = 0; i < count; i++) {
      const event = createEvent(
        { topic: "mytopic", title: `stored ${i}`, body: BODY, data: DATA },
        { id: nextId(), now: now + i, host: "seed", peer: "12D3KooWSeedPublisher" },
        { maxEventBytes: 64 * 1024 },
      );
      store.append(event, i);
      ids.push(event.id);
    }
    store.commit();
  } finally {
    store.close();
  }
  return { stateDir, ids };
}

async function httpBase(agent: AgentProcess): Promise<string> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  return `http://${sources.find((source) => source.name === "http")!.listen}`;
}

/** The agent process's resident memory (VmRSS), in MiB. */
async function residentMiB(agent: AgentProcess): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${agent.child.pid}/status`);
  const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  return kib / 1024;
}

/** The ids in an ntfy poll's reply body. */
async function pollIds(base: string): Promise<string[]> {
  const response = await fetch(`${base}/mytopic/json?poll=1&since=all`);
  assert.equal(response.status, 200);
  const text = await response.text();
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line).id);
}

async function historyIds(agent: AgentProcess): Promise<string[]> {
  const result = await agent.cli(["history", "--json", "--limit", "100000"]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim().split("\n").map((line) => (JSON.parse(line) as HarkEvent).id);
}

/** The stored events a `tail --since` replays, read until the last of them, on the control socket. */
async function tailIds(agent: AgentProcess, count: number): Promise<string[]> {
  await using client = await ControlClient.connect(agent.stateDir);
  await client.request({ op: "tail", topics: ["mytopic"], since_time: 0 });
  const seen: string[] = [];
  for await (const line of client.stream()) {
    if (line.event) seen.push((line.event as HarkEvent).id);
    if (seen.length === count) break;
  }
  return seen;
}

Deno.test("a big store: poll=1, hark history and tail --since each get every event, in order", async (t) => {
  const { stateDir, ids } = await seededStateDir(STORED);
  await using agent = await startAgent({ config: CONFIG, stateDir, removeStateDir: true });
  const base = await httpBase(agent);

  await t.step(`GET /mytopic/json?poll=1&since=all returns all ${STORED}`, async () => {
    assert.deepEqual(await pollIds(base), ids);
  });

  await t.step("the same as server-sent events and raw lines", async () => {
    const sse = await (await fetch(`${base}/mytopic/sse?poll=1&since=all`)).text();
    assert.equal(sse.match(/^data: /gm)?.length, STORED);
    const raw = await (await fetch(`${base}/mytopic/raw?poll=1&since=all`)).text();
    assert.equal(raw.split("\n").filter(Boolean).length, STORED);
  });

  await t.step("the same over a WebSocket, a frame per event", async () => {
    const socket = new WebSocket(`${base.replace("http", "ws")}/mytopic/ws?poll=1&since=all`);
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.onmessage = (message) => seen.push(JSON.parse(message.data).id);
      socket.onclose = () => resolve();
      socket.onerror = () => reject(new Error("the WebSocket failed"));
    });
    assert.deepEqual(seen, ids);
  });

  await t.step("pollers that leave mid-history give their pages back to the budget", async () => {
    // Each would strand a page or two if it kept them: 80 of them more than fill the 16 MiB budget.
    for (let i = 0; i < 80; i++) {
      const response = await fetch(`${base}/mytopic/json?poll=1&since=all`);
      assert.equal(response.status, 200);
      const reader = response.body!.getReader();
      await reader.read();
      await reader.cancel();
    }
    const started = Date.now();
    assert.deepEqual(await pollIds(base), ids);
    assert.ok(Date.now() - started < 5_000, "no wait for room in the budget");
  });

  await t.step(`hark history --limit 100000 prints all ${STORED}, and --limit the newest`, async () => {
    assert.deepEqual(await historyIds(agent), ids);
    const newest = await agent.cli(["history", "--json", "--limit", "250"]);
    assert.deepEqual(newest.stdout.trim().split("\n").map((line) => JSON.parse(line).id), ids.slice(-250));
  });

  await t.step("the client library's history() gathers every page", async () => {
    await using client = await ControlClient.connect(agent.stateDir);
    const pages: number[] = [];
    for await (const page of client.requestPages({ op: "history", topics: ["mytopic"] })) {
      pages.push((page.events as unknown[]).length);
    }
    assert.ok(pages.length > 1, "more than one page");
    assert.equal(pages.reduce((a, b) => a + b, 0), STORED);
  });

  await t.step("tail --since: every stored event, then a live one after them", async () => {
    await using client = await ControlClient.connect(agent.stateDir);
    await client.request({ op: "tail", topics: ["mytopic"], since_time: 0 });
    const seen: string[] = [];
    let liveId: string | undefined;
    const lines = client.stream();
    const deadline = setTimeout(() => client.close(), 30_000);
    try {
      for await (const line of lines) {
        const event = line.event as HarkEvent | undefined;
        if (!event) continue;
        seen.push(event.id);
        // Once half the history is in, a new event is published: it must come after all of it.
        if (seen.length === STORED / 2) liveId = await agent.send(["-t", "mytopic", "live"]);
        if (liveId && event.id === liveId) break;
      }
    } finally {
      clearTimeout(deadline);
    }
    assert.deepEqual(seen, [...ids, liveId]);
  });
});

Deno.test("many concurrent pollers, history and tail readers keep the agent's memory bounded", async () => {
  const { stateDir, ids } = await seededStateDir(STORED);
  await using agent = await startAgent({ config: CONFIG, stateDir, removeStateDir: true });
  const base = await httpBase(agent);
  // Warm: the http path and the store's pages once, so the baseline includes their code.
  assert.equal((await pollIds(base)).length, STORED);
  const baseline = await residentMiB(agent);
  let peak = baseline;
  let running = true;
  const sampling = (async () => {
    while (running) {
      peak = Math.max(peak, await residentMiB(agent));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    // 14 readers of 45 MB each: 630 MB through the agent. When each reader's
    // whole history was loaded at once, the agent grew by about 870 MiB here.
    const readers = [
      ...Array.from({ length: 10 }, () => pollIds(base)),
      historyIds(agent),
      historyIds(agent),
      tailIds(agent, STORED),
      tailIds(agent, STORED),
    ];
    const results = await Promise.all(readers);
    for (const result of results) assert.deepEqual(result, ids);
  } finally {
    running = false;
    await sampling;
  }
  const grown = peak - baseline;
  console.log(`agent RSS: ${baseline.toFixed(0)} MiB at rest, ${peak.toFixed(0)} MiB at most while reading`);
  assert.ok(
    grown < 400,
    `the agent grew by ${
      grown.toFixed(0)
    } MiB serving 14 readers; at most 400 expected (it grew by 870 when each held its whole history)`,
  );
  // And it still answers.
  await waitFor(async () => (await agent.request({ op: "id" })).ok, { timeoutMs: 5_000 });
});
