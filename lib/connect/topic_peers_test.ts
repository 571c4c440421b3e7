import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { TopicPeers, WANTED } from "./topic_peers.ts";

/** A TopicPeers over a made-up fleet: members and their topics, what is connected, and the dials made. */
function fleet(options: { topics?: string[]; failing?: Set<string>; parted?: Set<string> } = {}) {
  const members = new Map<string, string[]>();
  const connected = new Set<string>();
  const subscribed = new Map<string, Set<string>>();
  const dials: string[] = [];
  /** How many times the members were walked for a topic's followers. */
  const walks = { count: 0 };
  let now = 0;
  const peers = new TopicPeers({
    self: "me",
    topics: () => options.topics ?? ["builds"],
    followersOf: (topic) => {
      walks.count++;
      return [...members].filter(([, topics]) => topics.includes(topic)).map(([peer]) => ({
        peer,
        addresses: [`/ip4/198.18.0.1/tcp/4001/p2p/${peer}`],
      }));
    },
    follows: (peer, topic) => members.get(peer)?.includes(topic) ?? false,
    subscribers: (topic) => [...subscribed.get(topic) ?? []],
    connectedPeers: () => [...connected],
    dial: (peer) => {
      dials.push(peer);
      if (options.failing?.has(peer)) return Promise.reject(new Error("refused"));
      connected.add(peer);
      return Promise.resolve();
    },
    parted: (peer) => options.parted?.has(peer) ?? false,
    now: () => now,
  });
  return {
    peers,
    members,
    connected,
    subscribed,
    dials,
    walks,
    advance: (ms: number) => now += ms,
  };
}

Deno.test("a topic with too few connected followers gets dials to followers it knows, up to WANTED", async () => {
  const { peers, members, connected, dials } = fleet();
  for (const peer of ["a", "b", "c", "d", "e"]) members.set(peer, ["builds"]);
  members.set("x", ["other"]);
  members.set("me", ["builds"]);
  connected.add("a");
  peers.start();
  try {
    await peers.check();
    assert.equal(dials.length, WANTED - 1, `${dials}`);
    assert.ok(dials.every((peer) => ["b", "c", "d", "e"].includes(peer)), "not itself, not a, not x");
    await peers.check();
    assert.equal(dials.length, WANTED - 1, "nothing more once it has WANTED");
    assert.equal(peers.dialed, WANTED - 1);
  } finally {
    peers.stop();
  }
});

Deno.test("hearing of followers, and looking while every topic has its followers, does not walk the members", async () => {
  const { peers, members, connected, walks } = fleet();
  // A big fleet: every join or status heard would walk all of it.
  for (let i = 0; i < 1000; i++) members.set(`m${i}`, ["builds"]);
  for (const peer of ["m1", "m2", "m3"]) connected.add(peer);
  peers.start();
  try {
    for (let i = 0; i < 100; i++) peers.heard(["builds"]);
    await peers.check();
    assert.equal(walks.count, 0);
    connected.delete("m3");
    await peers.check();
    assert.equal(walks.count, 1, "a topic short of followers walks them once");
  } finally {
    peers.stop();
  }
});

Deno.test("a follower whose dial failed waits a minute, then twice as long after each failure; parted ones are not dialed", async () => {
  const { peers, members, dials, advance } = fleet({ failing: new Set(["b"]), parted: new Set(["c"]) });
  for (const peer of ["b", "c", "d"]) members.set(peer, ["builds"]);
  peers.start();
  try {
    await peers.check();
    assert.deepEqual(dials.sort(), ["b", "d"]);
    const dialsOfB = () => dials.filter((peer) => peer === "b").length;
    // After each wait, the dials of b so far: 1 min after one failure, 2 after two, at most an hour apart.
    const steps: [number, number, string][] = [
      [59_000, 1, "not again within a minute"],
      [1_000, 2, "a minute after the first failure"],
      [119_000, 2, "not within two minutes of the second failure"],
      [1_000, 3, "two minutes after the second failure"],
      [2 * 60 * 60_000, 4, "at most an hour apart"],
    ];
    for (const [waitMs, expected, message] of steps) {
      advance(waitMs);
      await peers.check();
      assert.equal(dialsOfB(), expected, message);
    }
    assert.ok(!dials.includes("c"));
  } finally {
    peers.stop();
  }
});

Deno.test("the connection limit keeps the first WANTED connected followers of each topic, the same at both ends", () => {
  const { peers, members, connected, subscribed } = fleet({ topics: ["builds", "deploys"] });
  for (const peer of ["p5", "p1", "p4", "p2", "p3"]) {
    members.set(peer, ["builds"]);
    connected.add(peer);
  }
  // A follower gossipsub knows of, whose join this agent has not seen yet.
  subscribed.set("deploys", new Set(["q"]));
  connected.add("q");
  connected.add("unrelated");
  assert.deepEqual(["p1", "p2", "p3", "p4", "p5", "q", "unrelated"].filter((peer) => peers.isKept(peer)), [
    "p1",
    "p2",
    "p3",
    "q",
  ]);
});

Deno.test(
  "a member heard following one of this agent's topics is dialed within a second; start and stop are idempotent",
  async () => {
    const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    const { peers, members, dials } = fleet();
    try {
      peers.start();
      peers.start();
      await clock.tickAsync(1_000);
      assert.deepEqual(dials, [], "nobody known yet");
      members.set("b", ["builds"]);
      peers.heard(["other"]);
      await clock.tickAsync(1_000);
      assert.deepEqual(dials, [], "not one of its topics");
      peers.heard(["builds"]);
      await clock.tickAsync(1_000);
      assert.deepEqual(dials, ["b"]);
      peers.stop();
      peers.stop();
      members.set("c", ["builds"]);
      peers.heard(["builds"]);
      await clock.tickAsync(60_000);
      assert.deepEqual(dials, ["b"], "nothing after stop");
      assert.equal(clock.countTimers(), 0, "every timer released");
    } finally {
      clock.uninstall();
    }
  },
);
