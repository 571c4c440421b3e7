import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { EventStore } from "../store/store.ts";
import { FollowedTopics, FollowLimitError } from "./followed_topics.ts";

const HOUR = 3_600_000;

/** A real store in a temporary dir, a fake clock, and what the agent was told to follow and drop. */
async function setUp() {
  const dir = await Deno.makeTempDir({ prefix: "hark-followed-" });
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "Date"], now: 1_000_000 });
  const store = EventStore.open(dir);
  const followed: string[] = [];
  const dropped: string[] = [];
  const make = () =>
    new FollowedTopics({
      store,
      keepMs: HOUR,
      fixed: new Set(["default"]),
      onFollow: (topic) => followed.push(topic),
      onUnfollow: (topic) => dropped.push(topic),
    });
  return {
    clock,
    store,
    followed,
    dropped,
    make,
    async [Symbol.asyncDispose]() {
      clock.uninstall();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("FollowedTopics.follow() follows new topics once, not the fixed ones, within the limit", async () => {
  await using t = await setUp();
  const topics = t.make();
  assert.deepEqual(topics.restore(), []);
  assert.deepEqual(topics.follow(["default", "PhoneTopic"], 2), ["PhoneTopic"]);
  assert.deepEqual(topics.follow(["PhoneTopic"], 2), []);
  assert.deepEqual(t.followed, ["PhoneTopic"]);
  assert.equal(topics.has("default"), false, "agent.topics are never followed on the fly");
  topics.follow(["second"], 2);
  assert.throws(() => topics.follow(["third", "PhoneTopic"], 2), FollowLimitError);
  assert.equal(topics.has("third"), false, "a refused request follows nothing");
  assert.deepEqual(topics.follow(["PhoneTopic", "second"], 2), [], "topics already followed pass at the limit");
  topics.stop();
});

Deno.test("FollowedTopics: a topic expires keepMs after its last subscriber left, not while one is connected", async () => {
  await using t = await setUp();
  const topics = t.make();
  topics.restore();
  topics.follow(["a", "b"], 10);
  const first = topics.hold(["a"]);
  const second = topics.hold(["a", "default"]);
  t.clock.tick(2 * HOUR);
  assert.deepEqual(t.dropped, ["b"], "b had no subscriber: gone after an hour");
  assert.equal(topics.has("a"), true);
  first();
  first();
  t.clock.tick(2 * HOUR);
  assert.equal(topics.has("a"), true, "one subscriber is still connected");
  second();
  assert.equal(topics.list()[0].subscribers, 0);
  t.clock.tick(HOUR - 1);
  assert.equal(topics.has("a"), true);
  t.clock.tick(1);
  assert.deepEqual(t.dropped, ["b", "a"]);
  assert.deepEqual(t.store.followedTopics(), [], "forgotten in the store too");
  assert.equal(t.clock.countTimers(), 0, "nothing left to wake up for");
  topics.stop();
});

Deno.test("FollowedTopics: a poll or publish on a topic without subscribers starts its time again", async () => {
  await using t = await setUp();
  const topics = t.make();
  topics.restore();
  topics.follow(["a"], 10);
  t.clock.tick(HOUR - 10);
  topics.follow(["a"], 10);
  t.clock.tick(HOUR - 10);
  assert.equal(topics.has("a"), true);
  t.clock.tick(10);
  assert.deepEqual(t.dropped, ["a"]);
  topics.stop();
});

Deno.test("FollowedTopics.restore() keeps following across a restart, counting connected subscribers as left then", async () => {
  await using t = await setUp();
  const before = t.make();
  before.restore();
  before.follow(["held", "idle", "old"], 10);
  before.hold(["held"]);
  t.clock.tick(HOUR / 2);
  // The agent is killed: nobody releases "held".
  before.stop();
  t.clock.tick(HOUR / 2 + 1);
  const after = t.make();
  assert.deepEqual(after.restore().sort(), ["held"], "idle and old were unused for an hour");
  assert.equal(after.list()[0].left_at, new Date(Date.now()).toISOString());
  assert.deepEqual(t.followed, ["held", "idle", "old"], "restored topics are not announced again");
  t.clock.tick(HOUR);
  assert.deepEqual(t.dropped, ["held"]);
  after.stop();
});

Deno.test("FollowedTopics: an expiry beyond setTimeout's range is checked again, not fired early", async () => {
  await using t = await setUp();
  const topics = new FollowedTopics({
    store: t.store,
    keepMs: 40 * 24 * HOUR,
    fixed: new Set(),
    onFollow: () => {},
    onUnfollow: (topic) => t.dropped.push(topic),
  });
  topics.restore();
  topics.follow(["a"], 10);
  t.clock.tick(30 * 24 * HOUR);
  assert.deepEqual(t.dropped, []);
  t.clock.tick(10 * 24 * HOUR);
  assert.deepEqual(t.dropped, ["a"]);
  topics.stop();
});
