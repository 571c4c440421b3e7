/**
 * A malicious history responder against a real agent: oversized frames,
 * events on topics that were not asked for, forged signatures, conflicting
 * copies of known events, and streams that never end. Each is refused
 * within bounds, nothing it sends is stored, and the agent stays healthy.
 */

import assert from "node:assert/strict";
import type { PrivateKey, Stream } from "@libp2p/interface";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { lpStream } from "@libp2p/utils";
import { type AgentProcess, loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { Rogue } from "./helpers/rogue.ts";
import { waitFor } from "./helpers/wait.ts";
import { signRecord } from "../lib/event/signed_record.ts";
import {
  decodeKeys,
  decodeRequest,
  decodeWant,
  encodeEvents,
  encodeKeys,
  encodeRequest,
  encodeWant,
  HISTORY_PROTOCOL,
  type Key,
  PeerRefusedError,
} from "../lib/history/wire.ts";
import { peerIdFromString } from "@libp2p/peer-id";
import type { CatchUpCounters } from "../lib/history/catch_up.ts";
import type { HarkEvent } from "../lib/event/event.ts";
import { spanCapacity } from "../lib/rate_limit.ts";
import { HISTORY_SPAN_MS } from "../lib/mesh/validator.ts";

const decoder = new TextDecoder();

// The rogue runs libp2p inside the test process; see security_test.ts.
const inProcessLibp2p = { sanitizeOps: false, sanitizeResources: false };

type Wire = ReturnType<typeof lpStream<Stream>>;
type Behaviour = (wire: Wire, rogue: Rogue) => Promise<void>;

async function historyCounters(agent: AgentProcess): Promise<CatchUpCounters> {
  const reply = await agent.request({ op: "status" });
  return (reply.status as { history: CatchUpCounters }).history;
}

async function storedIds(agent: AgentProcess): Promise<string[]> {
  const result = await agent.cli(["history", "--json", "--limit", "100000"]);
  return result.stdout.trim().split("\n").filter(Boolean).map((line) => (JSON.parse(line) as HarkEvent).id);
}

/**
 * Starts a rogue that serves history its own way, connects it to `agent`
 * (which asks it for history as soon as it connects) and waits until the
 * agent has finished a session with it.
 */
async function attack(
  agent: AgentProcess,
  behave: Behaviour,
  key?: PrivateKey,
): Promise<{ rogue: Rogue; counters: CatchUpCounters }> {
  const before = await historyCounters(agent);
  const rogue = await Rogue.start(TEST_NETWORK, key);
  await rogue.node.handle(HISTORY_PROTOCOL, async (stream) => {
    const wire = lpStream(stream, { maxDataLength: 64 * 1024 * 1024 });
    try {
      decodeRequest((await wire.read()).subarray());
      await behave(wire, rogue);
    } catch {
      // The agent hung up on it: that is the point.
    }
  });
  await rogue.dial(agent.addresses[0]);
  await rogue.join("default", agent.peerId);
  const counters = await waitFor(async () => {
    const now = await historyCounters(agent);
    const done = now.failed_sessions > before.failed_sessions || now.refused > before.refused;
    return done && now;
  }, { timeoutMs: 20_000, message: "the agent to end its session with the rogue" });
  return { rogue, counters };
}

/** The agent still answers, and still takes live events from an honest peer. */
async function assertHealthy(agent: AgentProcess, honest: AgentProcess): Promise<void> {
  const id = await honest.send(["still alive?"]);
  await agent.waitForEvents([id]);
}

/** Sends a keys frame offering `keys`. */
async function offer(wire: Wire, keys: Key[], end = true): Promise<void> {
  await wire.write(encodeKeys({ keys, upto: 1_000_000, store: "rogue-store", end }));
}

Deno.test({
  name: "a history responder that breaks the rules is cut off and nothing it sends is stored",
  ...inProcessLibp2p,
  async fn(t) {
    await using honest = await startAgent({ config: loopbackConfig() });
    await using agent = await startAgent({ config: loopbackConfig(honest.addresses) });
    await agent.waitForPeers([honest.peerId]);
    const rogues: Rogue[] = [];
    try {
      await t.step("an oversized frame", async () => {
        const { rogue } = await attack(agent, async (wire) => {
          await wire.write(new Uint8Array(2 * 1024 * 1024).fill(32));
        });
        rogues.push(rogue);
        await assertHealthy(agent, honest);
      });

      await t.step("an event on a topic that was not asked for", async () => {
        let id = "";
        const { rogue } = await attack(agent, async (wire, rogue) => {
          const data = rogue.event({ topic: "secret", body: "not asked for" });
          id = JSON.parse(new TextDecoder().decode(data)).id;
          await offer(wire, [{ publisher: rogue.peerId, id }]);
          await wire.read();
          const record = await signRecord(rogue.key, "secret", data);
          await wire.write(encodeEvents({ events: [record], last: true }));
        });
        rogues.push(rogue);
        assert.ok(!(await storedIds(agent)).includes(id));
        await assertHealthy(agent, honest);
      });

      await t.step("an event whose signature is forged", async () => {
        let id = "";
        const { rogue } = await attack(agent, async (wire, rogue) => {
          // Claims the honest agent published it; signed by the rogue.
          const data = rogue.event({ body: "forged" });
          id = JSON.parse(new TextDecoder().decode(data)).id;
          await offer(wire, [{ publisher: honest.peerId, id }]);
          await wire.read();
          const record = { ...(await signRecord(rogue.key, "default", data)), publisher: honest.peerId };
          await wire.write(encodeEvents({ events: [record], last: true }));
        });
        rogues.push(rogue);
        assert.ok(!(await storedIds(agent)).includes(id));
        await assertHealthy(agent, honest);
      });

      await t.step("a different event under the id of one already stored", async () => {
        // First the rogue's key publishes an event the ordinary way...
        const key = await generateKeyPair("Ed25519");
        let id = "";
        {
          await using publisher = await Rogue.beside(agent, key);
          const real = publisher.event({ body: "first version" });
          id = JSON.parse(new TextDecoder().decode(real)).id;
          await publisher.publish("default", real);
          await agent.waitForEvents([id]);
        }
        // ...then the same key serves, as history, a different event under that id.
        const { rogue, counters } = await attack(agent, async (wire, rogue) => {
          const forged = rogue.event({ body: "second version", id });
          await offer(wire, [{ publisher: rogue.peerId, id: "01ZZZZZZZZZZZZZZZZZZZZZZZZ" }]);
          await wire.read();
          await wire.write(encodeEvents({ events: [await signRecord(rogue.key, "default", forged)], last: true }));
        }, key);
        rogues.push(rogue);
        assert.ok(counters.refused >= 1 || counters.failed_sessions >= 1);
        const bodies = (await agent.events()).filter((e) => e.source.peer === rogue.peerId).map((e) => e.body);
        assert.deepEqual(bodies, ["first version"]);
        await assertHealthy(agent, honest);
      });

      await t.step("a stream of events frames that never ends", async () => {
        const { rogue } = await attack(agent, async (wire, rogue) => {
          await offer(wire, [{ publisher: rogue.peerId, id: rogue.nextId() }]);
          await wire.read();
          for (let i = 0; i < 100_000; i++) await wire.write(encodeEvents({ events: [], last: false }));
        });
        rogues.push(rogue);
        await assertHealthy(agent, honest);
      });

      await t.step("keys frames that never end", async () => {
        const before = await historyCounters(agent);
        const rogue = await Rogue.start(TEST_NETWORK);
        rogues.push(rogue);
        let frames = 0;
        let closed = false;
        await rogue.node.handle(HISTORY_PROTOCOL, async (stream) => {
          const wire = lpStream(stream, { maxDataLength: 64 * 1024 * 1024 });
          try {
            decodeRequest((await wire.read()).subarray());
            // Offers keys forever; delivers nothing.
            for (; frames < 100_000; frames++) {
              await offer(wire, [{ publisher: rogue.peerId, id: rogue.nextId() }], false);
              await wire.read();
              await wire.write(encodeEvents({ events: [], last: true }));
            }
          } catch {
            closed = true;
          }
        });
        await rogue.dial(agent.addresses[0]);
        await rogue.join("default", agent.peerId);
        await waitFor(() => closed, { timeoutMs: 20_000, message: "the agent to end the endless session" });
        assert.ok(frames <= 40, `the agent read ${frames} keys frames in one session`);
        const after = await historyCounters(agent);
        assert.equal(after.caught_up, before.caught_up, "nothing was taken");
        await assertHealthy(agent, honest);
      });
    } finally {
      for (const rogue of rogues) await rogue[Symbol.asyncDispose]();
    }
    const status = await agent.request({ op: "status" });
    assert.equal(status.ok, true);
  },
});

Deno.test({
  name: "an agent serves history only on topics the asking peer subscribes to, and only so often",
  ...inProcessLibp2p,
  async fn() {
    await using agent = await startAgent({ config: loopbackConfig([], `[agent]\ntopics = ["default", "secret"]`) });
    const secret = await agent.send(["-t", "secret", "for subscribers of secret only"]);
    const open = await agent.send(["for everyone"]);
    await using rogue = await Rogue.beside(agent);
    const ask = async (topics: string[]) => {
      const stream = await rogue.node.dialProtocol(peerIdFromString(agent.peerId), HISTORY_PROTOCOL);
      try {
        const wire = lpStream(stream, { maxDataLength: 4 * 1024 * 1024 });
        await wire.write(encodeRequest({ topics, after: 0 }));
        const keys = decodeKeys((await wire.read()).subarray());
        if (keys.keys.length > 0) await wire.write(encodeWant([]));
        return keys.keys.map((key) => key.id);
      } finally {
        await stream.close().catch(() => stream.abort(new Error("done")));
      }
    };

    // The rogue subscribes to "default" only.
    await assert.rejects(() => ask(["secret"]), PeerRefusedError);
    const offered = await ask(["default", "secret"]);
    assert.ok(offered.includes(open), "default events are offered");
    assert.ok(!offered.includes(secret), "secret events are not");

    // Bursts of five sessions are allowed, then one every two seconds.
    let refused = 0;
    for (let i = 0; i < 8; i++) {
      try {
        await ask(["default"]);
      } catch (error) {
        assert.match((error as Error).message, /too many history requests/);
        refused++;
      }
    }
    assert.ok(refused >= 3, `${refused} of 8 quick requests were refused`);
    const status = await agent.request({ op: "status" });
    assert.equal(status.ok, true);
  },
});

Deno.test({
  name: "a flooder's backlog served as history is held to the rate limit it was published under",
  ...inProcessLibp2p,
  async fn() {
    const FLOOD = 2_000;
    await using agent = await startAgent({ config: loopbackConfig() });
    const before = await historyCounters(agent);
    const rogue = await Rogue.start(TEST_NETWORK);
    try {
      // The flooder's own store: every event it published, as a member that lifted its own limit keeps them.
      const backlog: Uint8Array[] = [];
      const flooded = Promise.withResolvers<void>();
      let served = false;
      await rogue.node.handle(HISTORY_PROTOCOL, async (stream) => {
        const wire = lpStream(stream, { maxDataLength: 64 * 1024 * 1024 });
        try {
          decodeRequest((await wire.read()).subarray());
          await flooded.promise;
          for (let at = 0; at < backlog.length; at += 500) {
            const frame = backlog.slice(at, at + 500);
            const keys = frame.map((data) => ({ publisher: rogue.peerId, id: JSON.parse(decoder.decode(data)).id }));
            await offer(wire, keys, at + 500 >= backlog.length);
            const want = new Set(decodeWant((await wire.read()).subarray()).map((key) => key.id));
            const wanted = frame.filter((data) => want.has(JSON.parse(decoder.decode(data)).id));
            const events = await Promise.all(wanted.map((data) => signRecord(rogue.key, "default", data)));
            await wire.write(encodeEvents({ events, last: true }));
          }
          await stream.close();
          served = true;
        } catch {
          // The agent hung up.
        }
      });
      await rogue.dial(agent.addresses[0]);
      await rogue.join("default", agent.peerId);

      // 2,000 events live, as fast as gossip takes them: the agent keeps a burst of them.
      const started = Date.now();
      for (let batch = 0; batch < FLOOD / 100; batch++) {
        const sends = [];
        for (let i = 0; i < 100; i++) {
          const data = rogue.event({ title: "flood", body: `${batch}.${i}` });
          backlog.push(data);
          sends.push(rogue.publish("default", data));
        }
        await Promise.allSettled(sends);
      }
      const floodMs = Date.now() - started;
      flooded.resolve();
      await waitFor(() => served, { timeoutMs: 30_000, message: "the rogue to serve its whole backlog" });
      await waitFor(async () => (await historyCounters(agent)).refused > before.refused, {
        message: "the agent to refuse the backlog's excess",
      });

      const stored = (await storedIds(agent)).filter((id) => backlog.some((data) => decoder.decode(data).includes(id)));
      // Every flood event lies within HISTORY_SPAN_MS of every other: the whole flood gets one span's worth.
      assert.ok(floodMs < HISTORY_SPAN_MS, `the flood took ${floodMs} ms`);
      const allowed = spanCapacity({ rate: 20, burst: 200 }, 2 * HISTORY_SPAN_MS);
      assert.ok(stored.length > 0, "the flood's first burst is kept");
      assert.ok(stored.length <= allowed, `${stored.length} of ${FLOOD} flood events stored; at most ${allowed}`);
      const delivered = (await agent.events()).filter((event) => event.source.peer === rogue.peerId);
      assert.ok(delivered.length <= allowed, `${delivered.length} flood events reached the file sink`);
    } finally {
      await rogue[Symbol.asyncDispose]();
    }
  },
});
