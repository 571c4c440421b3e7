/**
 * The event store with real agents: history, tail --since, duplicates
 * caught across restarts, and sinks that continue after kill -9 without
 * repeating or skipping an event.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { burst } from "./helpers/burst.ts";
import { saveNetwork } from "../lib/mesh/network.ts";
import { Rogue } from "./helpers/rogue.ts";
import { waitFor } from "./helpers/wait.ts";
import { ControlClient } from "../lib/control/client.ts";
import type { HarkEvent } from "../lib/event/event.ts";
import type { MeshCounters } from "../lib/mesh/mesh.ts";
import { generateKeyPair } from "@libp2p/crypto/keys";

const TOPICS = `[agent]\ntopics = ["default", "builds"]\n`;
const inProcessLibp2p = { sanitizeOps: false, sanitizeResources: false };

Deno.test("hark history and tail --since read the store", async (t) => {
  await using a = await startAgent({ config: loopbackConfig([], TOPICS) });
  await using b = await startAgent({ config: loopbackConfig(a.addresses, TOPICS) });
  await b.waitForPeers([a.peerId], "builds");
  const first = await a.send(["-t", "builds", "first"]);
  const second = await a.send(["second"]);
  const third = await a.send(["-t", "builds", "third"]);
  await b.waitForEvents([first, second, third]);
  const history = async (...args: string[]) => {
    const result = await b.cli(["history", "--json", ...args]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim().split("\n").filter(Boolean).map((line) => (JSON.parse(line) as HarkEvent).id);
  };

  await t.step("everything, oldest first", async () => assert.deepEqual(await history(), [first, second, third]));
  await t.step(
    "--limit keeps the newest",
    async () => assert.deepEqual(await history("--limit", "2"), [second, third]),
  );
  await t.step("-t filters by topic", async () => assert.deepEqual(await history("-t", "builds"), [first, third]));
  await t.step("--since an id", async () => assert.deepEqual(await history("--since", first), [second, third]));
  await t.step(
    "--since a duration",
    async () => assert.deepEqual(await history("--since", "1h"), [first, second, third]),
  );
  await t.step(
    "--since a time in the future",
    async () => assert.deepEqual(await history("--since", "2999-01-01T00:00:00Z"), []),
  );
  await t.step("bad --since", async () => {
    const result = await b.cli(["history", "--since", "yesterday"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--since: "yesterday" is neither a duration/);
  });
  await t.step("readable lines", async () => {
    const result = await b.cli(["history", "-t", "builds"]);
    assert.match(result.stdout, /\[builds\] first \(/);
  });

  await t.step("tail --since prints history, then follows live, with nothing twice", async () => {
    await using client = await ControlClient.connect(b.stateDir);
    const reply = await client.request({ op: "tail", topics: ["builds"], since_id: first });
    assert.equal(reply.ok, true);
    const live = await a.send(["-t", "builds", "live"]);
    const seen: string[] = [];
    for await (const line of client.stream()) {
      seen.push((line.event as HarkEvent).id);
      if (seen.includes(live)) break;
    }
    assert.deepEqual(seen, [third, live]);
  });
});

Deno.test("an agent killed with SIGKILL while receiving gets every event once after a restart, no gaps", async () => {
  const fast = "publisher_rate = 100000\npublisher_burst = 100000";
  await using sender = await startAgent({ config: loopbackConfig([], "", fast) });
  await using victim = await startAgent({ config: loopbackConfig(sender.addresses, "", fast) });
  await sender.waitForPeers([victim.peerId]);

  // Publish as fast as the control socket takes it; kill the receiver part-way.
  await using client = await ControlClient.connect(sender.stateDir);
  const sent: string[] = [];
  let inFlight = 0;
  let killed = false;
  const collect = async () => {
    const reply = await client.next();
    assert.equal(reply.ok, true, String(reply.error));
    sent.push(reply.id as string);
    inFlight--;
  };
  for (let i = 0; i < 3000;) {
    while (inFlight < 32 && i < 3000) {
      await client.send({ op: "send", event: { body: `e${i++}` } });
      inFlight++;
    }
    await collect();
    if (!killed && (await victim.events().catch(() => [])).length > 300) {
      victim.child.kill("SIGKILL");
      killed = true;
    }
  }
  while (inFlight > 0) await collect();
  assert.ok(killed, "the victim was killed while receiving");
  await victim.exited;

  await using restarted = await startAgent({
    stateDir: victim.stateDir,
    config: loopbackConfig(sender.addresses, "", fast),
  });
  // What was published while it was dead comes from the sender's history.
  await restarted.waitForEvents(sent, 30_000);
  const ids = (await restarted.events()).map((event) => event.id);
  assert.equal(new Set(ids).size, ids.length, "no event in the file twice");
  assert.deepEqual(ids.toSorted(), sent.toSorted(), "every event in the file, no gaps");
});

Deno.test("the file sink writes each event of a burst of large events once across three kills and rotation", async () => {
  const fast = "publisher_rate = 100000\npublisher_burst = 100000";
  await using sender = await startAgent({ config: loopbackConfig([], "", fast) });
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  await saveNetwork(stateDir, TEST_NETWORK);
  const path = `${stateDir}/events.jsonl`;
  // 3,000 events of 3.5 KB are about 11 MB: five rotations at 2 MB, and `keep` holds them all.
  const config = loopbackConfig(
    sender.addresses,
    `[[sink]]\ntype = "file"\npath = "${path}"\nmax_size = "2MB"\nkeep = 20\n`,
    fast,
  );
  let victim = await startAgent({ stateDir, config });
  try {
    await sender.waitForPeers([victim.peerId]);
    const bytesWritten = async () => {
      let total = 0;
      for await (const entry of Deno.readDir(stateDir)) {
        if (!entry.name.startsWith("events.jsonl")) continue;
        // Rotation may rename or remove a file between the listing and its stat.
        const stat = await Deno.stat(`${stateDir}/${entry.name}`).catch((error) => {
          if (error instanceof Deno.errors.NotFound) return undefined;
          throw error;
        });
        total += stat?.size ?? 0;
      }
      return total;
    };
    // Killed as its files grow past each mark, while the burst (or the catch-up after a restart) is written.
    const marks = [1, 4, 7].map((mb) => mb * 1024 * 1024);
    const sent = await burst(sender, {
      count: 3000,
      body: (i) => `e${i} ${"x".repeat(3500)}`,
      between: async () => {
        if (marks.length === 0 || await bytesWritten() < marks[0]) return;
        marks.shift();
        victim.child.kill("SIGKILL");
        await victim.exited;
        victim = await startAgent({ stateDir, config });
      },
    });
    assert.equal(marks.length, 0, "the victim was killed three times while receiving");

    const written = async () => {
      const ids: string[] = [];
      for (const name of [...Array(21).keys()].map((i) => i === 0 ? path : `${path}.${i}`)) {
        const text = await Deno.readTextFile(name).catch(() => "");
        for (const line of text.split("\n")) if (line) ids.push(JSON.parse(line).id);
      }
      return ids;
    };
    const ids = await waitFor(async () => {
      const ids = await written();
      return new Set(ids).size >= sent.length && ids;
    }, { timeoutMs: 60_000, intervalMs: 500, message: "every event in the files" });
    const counts = Map.groupBy(ids, (id) => id);
    const twice = [...counts].filter(([, copies]) => copies.length > 1).length;
    assert.equal(twice, 0, `${twice} events written more than once`);
    assert.deepEqual(ids.toSorted(), sent.toSorted(), "every event in the files, no gaps");
    assert.ok(
      await Array.fromAsync(Deno.readDir(stateDir)).then((entries) => entries.some((e) => e.name === "events.jsonl.5")),
    );
  } finally {
    await victim[Symbol.asyncDispose]();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "a copy of an event that arrives after a restart is recognised as a duplicate",
  ...inProcessLibp2p,
  async fn() {
    await using victim = await startAgent({ config: loopbackConfig() });
    const key = await generateKeyPair("Ed25519");
    const bytes = await (async () => {
      await using rogue = await Rogue.beside(victim, key);
      const bytes = rogue.event({ title: "once", body: "only once" });
      await rogue.publish("default", bytes);
      const id = JSON.parse(new TextDecoder().decode(bytes)).id;
      await victim.waitForEvents([id]);
      return { bytes, id };
    })();
    assert.equal((await victim.stop()).code, 0);

    await using restarted = await startAgent({ stateDir: victim.stateDir, config: loopbackConfig() });
    // The same publisher (same key) sends the very same event again.
    await using again = await Rogue.beside(restarted, key);
    await again.publish("default", bytes.bytes);
    const marker = again.event({ body: "marker" });
    await again.publish("default", marker);
    await restarted.waitForEvents([JSON.parse(new TextDecoder().decode(marker)).id]);
    const events = await restarted.events();
    assert.equal(events.filter((event) => event.id === bytes.id).length, 1);
    const status = await restarted.request({ op: "status" });
    assert.equal((status.status as { events: MeshCounters }).events.duplicates, 1);
  },
});

Deno.test({
  name: "a backlog of old events shows as one summary on stdout, while the file sink gets every event",
  ...inProcessLibp2p,
  async fn() {
    await using victim = await startAgent({ config: loopbackConfig() });
    await using rogue = await Rogue.beside(victim);
    const hourAgo = Date.now() - 3_600_000;
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const bytes = rogue.event({ topic: "default", body: `old ${i}`, now: hourAgo + i * 1000 });
      ids.push(JSON.parse(new TextDecoder().decode(bytes)).id);
      await rogue.publish("default", bytes);
    }
    const fresh = rogue.event({ body: "just now" });
    ids.push(JSON.parse(new TextDecoder().decode(fresh)).id);
    await rogue.publish("default", fresh);
    await victim.waitForEvents(ids);
    await waitFor(() => victim.stdout.includes("just now"), { message: "the fresh event on stdout" });
    assert.match(
      victim.stdout,
      /8 events while away, \d\d:\d\d to \d\d:\d\d UTC: default 8\. Run `hark history` to read them\./,
    );
    assert.doesNotMatch(victim.stdout, /old 3/, "old events are not printed one by one");
  },
});
