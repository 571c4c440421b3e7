/**
 * A first catch-up between agents that already share most of their history:
 * the requester sends a summary of what it holds per topic and publisher,
 * and the responder offers only the keys of pairs where the two differ, so
 * first contact costs about the pairs, not the stored events. Real agents
 * on real stores seeded with events their publishers signed.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { Stream } from "@libp2p/interface";
import { lpStream } from "@libp2p/utils";
import { peerIdFromString } from "@libp2p/peer-id";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { Rogue } from "./helpers/rogue.ts";
import { waitFor } from "./helpers/wait.ts";
import { burst } from "./helpers/burst.ts";
import { makePublishers, type SignedEvent, signedEvents, stateDirHolding } from "./helpers/signed_history.ts";
import type { CatchUpCounters } from "../lib/history/catch_up.ts";
import {
  decodeEvents,
  decodeKeys,
  encodeRequest,
  encodeWant,
  HISTORY_PROTOCOL,
  type KeysFrame,
  type PairSummary,
  type Request,
} from "../lib/history/wire.ts";
import type { HarkEvent } from "../lib/event/event.ts";
import { STORE_FILE } from "../lib/store/store.ts";

const TOPICS = ["default", "builds"];
/** Publishers and events per publisher and topic: 1,500 events, three keys frames' worth per topic. */
const PUBLISHERS = 3;
const PER_PAIR = 250;
const FAST = "publisher_rate = 100000\npublisher_burst = 100000";
// The rogue runs libp2p inside the test process; see security_test.ts.
const inProcessLibp2p = { sanitizeOps: false, sanitizeResources: false };

function config(peers: string[] = []): string {
  return loopbackConfig(peers, `[agent]\ntopics = ${JSON.stringify(TOPICS)}`, FAST);
}

async function historyCounters(agent: AgentProcess): Promise<CatchUpCounters> {
  const reply = await agent.request({ op: "status" });
  return (reply.status as { history: CatchUpCounters }).history;
}

async function storedIds(agent: AgentProcess): Promise<Set<string>> {
  const result = await agent.cli(["history", "--json", "--limit", "100000", ...TOPICS.flatMap((t) => ["-t", t])]);
  assert.equal(result.code, 0, result.stderr);
  return new Set(result.stdout.trim().split("\n").filter(Boolean).map((line) => (JSON.parse(line) as HarkEvent).id));
}

async function waitToHold(agent: AgentProcess, events: SignedEvent[]): Promise<void> {
  await waitFor(async () => {
    const held = await storedIds(agent);
    return events.every(({ event }) => held.has(event.id));
  }, { timeoutMs: 20_000, intervalMs: 200, message: `${agent.peerId} to hold ${events.length} events` });
}

function ofPair(events: SignedEvent[], topic: string, publisher: string): SignedEvent[] {
  return events.filter(({ event }) => event.topic === topic && event.source.peer === publisher);
}

/** What a store holding `events` says of itself per (topic, publisher), as an agent computes it. */
function summaryOf(events: SignedEvent[]): PairSummary[] {
  const pairs = new Map<string, PairSummary>();
  for (const { event, fingerprint } of events) {
    const key = `${event.topic} ${event.source.peer}`;
    const pair = pairs.get(key) ?? { topic: event.topic, publisher: event.source.peer, count: 0, sum: 0 };
    pair.count++;
    pair.sum += fingerprint;
    pairs.set(key, pair);
  }
  return [...pairs.values()];
}

Deno.test("a first catch-up takes the few missing events, offered only the keys of the pairs that differ", async () => {
  const publishers = await makePublishers(PUBLISHERS);
  const events = await signedEvents(publishers, TOPICS, PER_PAIR);
  const pair = ofPair(events, "default", publishers[0].peer);
  const missing = pair.slice(100, 105);
  await using full = await startAgent({
    config: config(),
    stateDir: await stateDirHolding(events),
    removeStateDir: true,
  });
  await using short = await startAgent({
    config: config(full.addresses),
    stateDir: await stateDirHolding(events.filter((event) => !missing.includes(event))),
    removeStateDir: true,
  });

  await waitToHold(short, missing);
  const counters = await historyCounters(short);
  // The pair the five belong to is offered whole; the other five pairs not at all. A few keys more are the
  // agents' own membership events, which each may or may not hold yet.
  assert.ok(
    counters.keys_offered >= PER_PAIR && counters.keys_offered < PER_PAIR + 50,
    `${counters.keys_offered} keys offered for ${missing.length} missing of ${events.length}; about ${PER_PAIR} expected`,
  );
  assert.ok(counters.caught_up >= missing.length && counters.caught_up < missing.length + 20, `${counters.caught_up}`);
  assert.equal(counters.refused, 0);
  assert.equal((await storedIds(short)).size, events.length, "nothing else on the topics");

  // The point reached covers the pairs left out too, so the next session does not offer them after all.
  await short.stop();
  const db = new DatabaseSync(`${short.stateDir}/${STORE_FILE}`);
  try {
    const points = db.prepare("SELECT seq FROM syncs WHERE peer LIKE ?").all(`${full.peerId} %`) as { seq: number }[];
    assert.ok(points.length > 0 && points.every(({ seq }) => seq >= events.length), JSON.stringify(points));
  } finally {
    db.close();
  }
});

Deno.test("a pair held in the same number but not the same events is still reconciled both ways", async () => {
  const publishers = await makePublishers(PUBLISHERS);
  const events = await signedEvents(publishers, TOPICS, PER_PAIR);
  const pair = ofPair(events, "builds", publishers[1].peer);
  const onlyInA = pair[10];
  const onlyInB = pair[20];
  await using a = await startAgent({
    config: config(),
    stateDir: await stateDirHolding(events.filter((event) => event !== onlyInB)),
    removeStateDir: true,
  });
  await using b = await startAgent({
    config: config(a.addresses),
    stateDir: await stateDirHolding(events.filter((event) => event !== onlyInA)),
    removeStateDir: true,
  });

  await Promise.all([waitToHold(b, [onlyInA]), waitToHold(a, [onlyInB])]);
  for (const agent of [a, b]) {
    const counters = await historyCounters(agent);
    assert.ok(counters.keys_offered >= PER_PAIR - 1, `the differing pair was offered whole: ${counters.keys_offered}`);
    assert.ok(counters.keys_offered < PER_PAIR + 50, `and little else: ${counters.keys_offered}`);
    assert.equal((await storedIds(agent)).size, events.length);
  }
});

Deno.test({
  name: "a responder offers every key to a request without a summary, and leaves out only pairs held alike",
  ...inProcessLibp2p,
  async fn(t) {
    const publishers = await makePublishers(PUBLISHERS);
    const events = await signedEvents(publishers, TOPICS, PER_PAIR);
    const onDefault = events.filter(({ event }) => event.topic === "default");
    await using agent = await startAgent({
      config: config(),
      stateDir: await stateDirHolding(events),
      removeStateDir: true,
    });
    await using rogue = await Rogue.beside(agent);

    /** One session as a requester that lacks everything: every keys frame until the end, wanting none. */
    const ask = async (request: Request): Promise<KeysFrame[]> => {
      const stream: Stream = await rogue.node.dialProtocol(peerIdFromString(agent.peerId), HISTORY_PROTOCOL);
      try {
        const wire = lpStream(stream, { maxDataLength: 4 * 1024 * 1024 });
        await wire.write(encodeRequest(request));
        const frames: KeysFrame[] = [];
        for (let i = 0; i < 40; i++) {
          const frame = decodeKeys((await wire.read()).subarray());
          frames.push(frame);
          if (frame.keys.length > 0) {
            await wire.write(encodeWant([]));
            // Nothing wanted: one events frame, empty and last.
            assert.deepEqual(decodeEvents((await wire.read()).subarray()), { events: [], last: true });
          }
          if (frame.end) break;
        }
        return frames;
      } finally {
        await stream.close().catch(() => stream.abort(new Error("done")));
      }
    };
    const idsOf = (frames: KeysFrame[]) => frames.flatMap((frame) => frame.keys.map((key) => key.id));
    const exact = summaryOf(onDefault);

    let everything: KeysFrame[] = [];
    await t.step("without a summary (as older agents ask): every key on the topic", async () => {
      everything = await ask({ topics: ["default"], after: 0 });
      assert.deepEqual(idsOf(everything).toSorted(), onDefault.map(({ event }) => event.id).toSorted());
      assert.equal(everything.length, 2, "500 keys a frame");
      assert.ok(everything.at(-1)!.end);
    });

    await t.step("with a summary: only the pair whose sum differs, and the point moves as far", async () => {
      const [first, ...rest] = exact;
      const frames = await ask({ topics: ["default"], after: 0, have: [{ ...first, sum: first.sum + 1 }, ...rest] });
      assert.deepEqual(
        idsOf(frames).toSorted(),
        ofPair(onDefault, "default", first.publisher).map(({ event }) => event.id).toSorted(),
      );
      assert.equal(frames.length, 1);
      assert.ok(frames[0].end);
      // Every row up to the newest was offered or held alike, though the last key offered lies far before it.
      assert.ok(frames[0].upto >= everything.at(-1)!.upto, `upto ${frames[0].upto}`);
    });

    await t.step("with a summary that matches everything: one empty frame, at the end", async () => {
      const frames = await ask({ topics: ["default"], after: 0, have: exact });
      assert.deepEqual(frames.map(({ keys, end }) => ({ keys, end })), [{ keys: [], end: true }]);
      assert.ok(frames[0].upto >= everything.at(-1)!.upto, `upto ${frames[0].upto}`);
    });

    await t.step("a summary with a point reached is not used: the keys after the point", async () => {
      const point = everything[0];
      const frames = await ask({ topics: ["default"], after: point.upto, store: point.store, have: exact });
      assert.deepEqual(idsOf(frames), everything[1].keys.map((key) => key.id));
    });
  },
});

/** Each stored event's fingerprint by key, read beside the running agent as another process would. */
function fingerprints(agent: AgentProcess, publisher: string): Map<string, number> {
  const db = new DatabaseSync(`${agent.stateDir}/${STORE_FILE}`, { readOnly: true });
  try {
    const rows = db.prepare("SELECT id, fingerprint FROM events WHERE publisher = ?").all(publisher) as {
      id: string;
      fingerprint: number;
    }[];
    return new Map(rows.map(({ id, fingerprint }) => [id, fingerprint]));
  } finally {
    db.close();
  }
}

Deno.test("an event has the same fingerprint in every store, published, live, in a batch or caught up", async () => {
  await using a = await startAgent({ config: loopbackConfig([], "", FAST) });
  await using b = await startAgent({ config: loopbackConfig(a.addresses, "", FAST) });
  await b.waitForPeers([a.peerId]);
  // A burst leaves in batches; one event on its own leaves as a message of its own.
  const sent = [...await burst(a, { count: 100, body: (i) => `burst ${i}` }), await a.send(["alone"])];
  await b.waitForEvents(sent);
  const published = fingerprints(a, a.peerId);
  assert.ok(sent.every((id) => published.has(id)), "the publisher stored what it sent");
  // The publisher is gone: the newcomer can only catch up from b's store.
  await a.stop();
  await using d = await startAgent({ config: loopbackConfig(b.addresses, "", FAST) });
  await waitFor(() => sent.every((id) => fingerprints(d, a.peerId).has(id)), {
    timeoutMs: 20_000,
    message: "the newcomer to catch up",
  });
  for (const [name, agent] of [["live and batched", b], ["caught up", d]] as const) {
    const stored = fingerprints(agent, a.peerId);
    assert.deepEqual(sent.map((id) => stored.get(id)), sent.map((id) => published.get(id)), name);
  }
});
