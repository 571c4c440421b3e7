import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import type { EventDraft, HarkEvent } from "../event/event.ts";
import {
  checkMembershipEvent,
  JOIN_TOPIC,
  LEAVE_TOPIC,
  type MemberFacts,
  Membership,
  STATUS_MEMBERS,
  STATUS_TOPIC,
  statusDelayMs,
} from "./membership.ts";

/** A Membership for agent `self`, its publications, and who it is connected to. */
function harness(
  self: string,
  options: { statusIntervalMs?: number; now?: () => number; random?: () => number } = {},
) {
  const published: EventDraft[] = [];
  const connected = new Set<string>();
  const membership = new Membership({
    self,
    publish: (draft) => {
      published.push(draft);
      return Promise.resolve();
    },
    facts: () => ({ peer: self, host: `host-${self}`, version: "0.1.0", topics: ["default"], peers: connected.size }),
    connected: (peer) => connected.has(peer),
    connectedPeers: () => [...connected],
    statusIntervalMs: options.statusIntervalMs ?? 0,
    leaveAfterMs: 30_000,
    staggerMs: 1_000,
    now: options.now,
    // The middle of the spread: statuses exactly on the interval, the first after half of it.
    random: options.random ?? (() => 0.5),
  });
  const leaves = () => published.filter((draft) => draft.topic === LEAVE_TOPIC).map((draft) => draft.data);
  return { membership, published, connected, leaves };
}

function membershipEvent(topic: string, signer: string, data: Partial<MemberFacts>): HarkEvent {
  return {
    id: "01JDQ8ZC5V8Q0W3Z7M9N4T2B6K",
    topic,
    title: "",
    body: "",
    priority: 3,
    tags: [],
    time: new Date().toISOString(),
    source: { host: `host-${signer}`, peer: signer },
    data: { host: `host-${data.peer}`, ...data },
  };
}

function withClock(test: (clock: ReturnType<typeof FakeTimers.install>) => Promise<void>): () => Promise<void> {
  return async () => {
    const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    try {
      await test(clock);
    } finally {
      clock.uninstall();
    }
  };
}

Deno.test(
  "an agent joins once, when a peer can hear it, says status on its interval and leaves on stop",
  withClock(async (clock) => {
    const { membership, published } = harness("b", { statusIntervalMs: 60_000 });
    membership.start();
    membership.start();
    membership.peerSubscribed();
    membership.peerSubscribed();
    assert.deepEqual(published.map((draft) => draft.topic), [JOIN_TOPIC]);
    assert.equal((published[0].data as MemberFacts).peer, "b");
    await clock.tickAsync(120_000);
    assert.deepEqual(published.map((draft) => draft.topic), [JOIN_TOPIC, STATUS_TOPIC, STATUS_TOPIC]);
    await membership.stop();
    await membership.stop();
    assert.deepEqual(published.at(-1), {
      topic: LEAVE_TOPIC,
      title: "host-b left",
      data: { peer: "b", host: "host-b", reason: "stopped" },
    });
    await clock.tickAsync(600_000);
    assert.equal(published.length, 4, "nothing after stop");
  }),
);

Deno.test(
  "a change of the topics followed goes out in a status 5 s later, at most one a minute, and the regular statuses count from it",
  withClock(async (clock) => {
    const { membership, published } = harness("a", { statusIntervalMs: 600_000, now: () => clock.now });
    const statuses = () => published.filter((draft) => draft.topic === STATUS_TOPIC).length;
    membership.start();
    membership.factsChanged();
    await clock.tickAsync(5_000);
    assert.equal(statuses(), 0, "before the join, which carries the facts");
    membership.peerSubscribed();
    assert.deepEqual(published.map((draft) => draft.topic), [JOIN_TOPIC]);
    for (let i = 0; i < 3; i++) membership.factsChanged();
    await clock.tickAsync(59_999);
    assert.equal(statuses(), 0, "not within a minute of the join");
    await clock.tickAsync(1);
    assert.equal(statuses(), 1, "one status for the three changes");
    await clock.tickAsync(599_999);
    assert.equal(statuses(), 1);
    await clock.tickAsync(1);
    assert.equal(statuses(), 2, "the regular status, an interval after the change's");
    await clock.tickAsync(120_000);
    membership.factsChanged();
    await clock.tickAsync(4_999);
    assert.equal(statuses(), 2);
    await clock.tickAsync(1);
    assert.equal(statuses(), 3, "5 s after a change long after the last status");
    await membership.stop();
  }),
);

Deno.test(
  "with statuses off a change of the topics followed sends nothing",
  withClock(async (clock) => {
    const { membership, published } = harness("a", { statusIntervalMs: 0, now: () => clock.now });
    membership.start();
    membership.peerSubscribed();
    membership.factsChanged();
    await clock.tickAsync(120_000);
    assert.deepEqual(published.map((draft) => draft.topic), [JOIN_TOPIC]);
    await membership.stop();
  }),
);

Deno.test("statusDelayMs() keeps the interval up to STATUS_MEMBERS members, then grows it with them, spread ±10%", async (t) => {
  const FIVE_MIN = 5 * 60_000;
  const cases: [string, number, number, number][] = [
    ["3 members", 3, 0.5, FIVE_MIN],
    ["60 members", STATUS_MEMBERS, 0.5, FIVE_MIN],
    ["300 members: 5 s each", 300, 0.5, 1_500_000],
    ["1,000 members", 1_000, 0.5, 5_000_000],
    ["10,000 members", 10_000, 0.5, 50_000_000],
    ["earliest", 3, 0, 0.9 * FIVE_MIN],
    ["latest", 3, 0.999_999, 1.1 * FIVE_MIN],
  ];
  for (const [name, members, random, expected] of cases) {
    await t.step(name, () => assert.ok(Math.abs(statusDelayMs(FIVE_MIN, members, random) - expected) <= 1));
  }
  await t.step("statuses each agent receives a minute stay bounded as the network grows", () => {
    const perMinute = (members: number) => members * 60_000 / statusDelayMs(FIVE_MIN, members, 0.5);
    assert.equal(perMinute(STATUS_MEMBERS), 12);
    assert.equal(perMinute(300), 12);
    assert.equal(perMinute(1_000), 12);
    assert.equal(perMinute(10_000), 12);
  });
});

Deno.test(
  "an agent's status interval grows once it knows more than STATUS_MEMBERS members, also for a status already due",
  withClock(async (clock) => {
    const { membership, published } = harness("a", { statusIntervalMs: 60_000 });
    membership.start();
    const statuses = () => published.filter((draft) => draft.topic === STATUS_TOPIC).length;
    await clock.tickAsync(30_000);
    assert.equal(statuses(), 1, "the first after half the interval (random 0.5)");
    // Twice STATUS_MEMBERS members (this one and the others): the next status, already waiting, waits twice the interval.
    for (let i = 0; i < 2 * STATUS_MEMBERS - 1; i++) {
      const peer = `p${String(i).padStart(4, "0")}`;
      membership.observe(membershipEvent(STATUS_TOPIC, peer, { peer }));
    }
    await clock.tickAsync(119_999);
    assert.equal(statuses(), 1);
    await clock.tickAsync(1);
    assert.equal(statuses(), 2);
    await clock.tickAsync(119_999);
    assert.equal(statuses(), 2);
    await clock.tickAsync(1);
    assert.equal(statuses(), 3);
    await membership.stop();
  }),
);

Deno.test(
  "agents started together spread their first statuses over the interval for the members they learn meanwhile",
  withClock(async (clock) => {
    const interval = 60_000;
    const agents = 2 * STATUS_MEMBERS;
    // Their first shares of the interval evenly apart, the way Math.random spreads them; no jitter after.
    const fleet = Array.from({ length: agents }, (_, i) => {
      const self = `a${String(i).padStart(4, "0")}`;
      const draws = [(i + 0.5) / agents];
      return harness(self, { statusIntervalMs: interval, random: () => draws.shift() ?? 0.5 });
    });
    for (const agent of fleet) agent.membership.start();
    // Each learns every other within the first second, from their joins.
    await clock.tickAsync(1_000);
    for (const agent of fleet) {
      for (const other of fleet) {
        const peer = other.membership === agent.membership
          ? undefined
          : `a${String(fleet.indexOf(other)).padStart(4, "0")}`;
        if (peer) agent.membership.observe(membershipEvent(JOIN_TOPIC, peer, { peer }));
      }
    }
    const statuses = () =>
      fleet.reduce((sum, agent) => sum + agent.published.filter((draft) => draft.topic === STATUS_TOPIC).length, 0);
    const perMinute: number[] = [];
    for (let minute = 0; minute < 2; minute++) {
      const before = statuses();
      await clock.tickAsync(60_000);
      perMinute.push(statuses() - before);
    }
    // The stretched interval is 2 minutes: half the fleet each minute, not all of it one interval (1 min) after start.
    // (The two whose share fell in the first second went before they knew the others.)
    assert.ok(perMinute.every((count) => Math.abs(count - agents / 2) <= 2), `${perMinute}`);
    assert.ok(fleet.every((agent) => agent.published.some((draft) => draft.topic === STATUS_TOPIC)));
    for (const agent of fleet) await agent.membership.stop();
  }),
);

Deno.test(
  "a lonely agent joins after a while anyway, into its store for catch-up",
  withClock(async (clock) => {
    const { membership, published } = harness("b");
    membership.start();
    await clock.tickAsync(9_999);
    assert.equal(published.length, 0);
    await clock.tickAsync(1);
    assert.deepEqual(published.map((draft) => draft.topic), [JOIN_TOPIC]);
    await membership.stop();
  }),
);

Deno.test(
  "a member gone for leave_after is reported by the lowest-ranked agent at once",
  withClock(async (clock) => {
    const { membership, connected, leaves } = harness("a");
    membership.start();
    for (const peer of ["b", "c"]) {
      connected.add(peer);
      membership.observe(membershipEvent(JOIN_TOPIC, peer, { peer }));
    }
    connected.delete("c");
    membership.peerDisconnected("c");
    await clock.tickAsync(29_999);
    assert.deepEqual(leaves(), []);
    await clock.tickAsync(1);
    assert.deepEqual(leaves(), [{ peer: "c", host: "host-c", reason: "unreachable" }]);
    assert.deepEqual(membership.members, [{ peer: "b", host: "host-b" }]);
    await clock.tickAsync(60_000);
    assert.equal(leaves().length, 1, "reported once");
    await membership.stop();
  }),
);

Deno.test(
  "an agent ranked later stays silent when the report arrives first, and reports when none does",
  withClock(async (clock) => {
    const { membership, connected, leaves } = harness("c");
    membership.start();
    for (const peer of ["a", "b", "d"]) {
      connected.add(peer);
      membership.observe(membershipEvent(JOIN_TOPIC, peer, { peer }));
    }
    // Two members rank before c (a and b) once d is gone: c waits two staggers.
    connected.delete("d");
    membership.peerDisconnected("d");
    await clock.tickAsync(30_000 + 1_999);
    assert.deepEqual(leaves(), []);
    membership.observe(membershipEvent(LEAVE_TOPIC, "a", { peer: "d", reason: "unreachable" }));
    await clock.tickAsync(10_000);
    assert.deepEqual(leaves(), [], "a reported it");

    // No report comes about b: c speaks after its stagger (a still ranks before it).
    connected.delete("b");
    membership.peerDisconnected("b");
    await clock.tickAsync(30_000 + 999);
    assert.deepEqual(leaves(), []);
    await clock.tickAsync(1);
    assert.deepEqual(leaves(), [{ peer: "b", host: "host-b", reason: "unreachable" }]);
    await membership.stop();
  }),
);

Deno.test(
  "a member that reconnects, or is heard from elsewhere, is not reported",
  withClock(async (clock) => {
    const { membership, connected, leaves } = harness("a");
    membership.start();
    connected.add("b");
    membership.observe(membershipEvent(JOIN_TOPIC, "b", { peer: "b" }));
    connected.delete("b");
    membership.peerDisconnected("b");
    await clock.tickAsync(20_000);
    connected.add("b");
    membership.peerConnected("b");
    await clock.tickAsync(60_000);
    assert.deepEqual(leaves(), []);

    // Disconnected from a, but its status still arrives through other agents: the clock starts again.
    connected.delete("b");
    membership.peerDisconnected("b");
    await clock.tickAsync(20_000);
    membership.observe(membershipEvent(STATUS_TOPIC, "b", { peer: "b" }));
    await clock.tickAsync(20_000);
    assert.deepEqual(leaves(), []);
    await clock.tickAsync(10_000);
    assert.equal(leaves().length, 1, "silent for leave_after since it was last heard of");

    // A peer never heard of (a `hark send --direct`, a rogue) is no member.
    membership.peerDisconnected("stranger");
    await clock.tickAsync(60_000);
    assert.equal(leaves().length, 1);
    // Nor is one that said goodbye.
    connected.add("e");
    membership.observe(membershipEvent(JOIN_TOPIC, "e", { peer: "e" }));
    membership.observe(membershipEvent(LEAVE_TOPIC, "e", { peer: "e", reason: "stopped" }));
    connected.delete("e");
    membership.peerDisconnected("e");
    await clock.tickAsync(60_000);
    assert.equal(leaves().length, 1);
    await membership.stop();
  }),
);

Deno.test("an agent that never joined leaves without a word", async () => {
  const { membership, published } = harness("b");
  membership.start();
  await membership.stop();
  assert.deepEqual(published, []);
});

Deno.test("receivers accept membership claims only from the agent they are about", async (t) => {
  const cases: { name: string; event: HarkEvent; refused?: RegExp }[] = [
    { name: "own join", event: membershipEvent(JOIN_TOPIC, "a", { peer: "a" }) },
    { name: "own status", event: membershipEvent(STATUS_TOPIC, "a", { peer: "a" }) },
    { name: "own leave", event: membershipEvent(LEAVE_TOPIC, "a", { peer: "a", reason: "stopped" }) },
    { name: "another's departure", event: membershipEvent(LEAVE_TOPIC, "a", { peer: "b", reason: "unreachable" }) },
    { name: "join for another", event: membershipEvent(JOIN_TOPIC, "a", { peer: "b" }), refused: /about another/ },
    {
      name: "status for another",
      event: membershipEvent(STATUS_TOPIC, "a", { peer: "b" }),
      refused: /about another/,
    },
    {
      name: "stopping another",
      event: membershipEvent(LEAVE_TOPIC, "a", { peer: "b", reason: "stopped" }),
      refused: /about another/,
    },
    {
      name: "itself unreachable",
      event: membershipEvent(LEAVE_TOPIC, "a", { peer: "a", reason: "unreachable" }),
      refused: /itself/,
    },
    { name: "no data", event: { ...membershipEvent(JOIN_TOPIC, "a", {}), data: undefined }, refused: /data.peer/ },
    { name: "unused reserved topic", event: membershipEvent("hark.other", "a", { peer: "a" }), refused: /reserved/ },
    { name: "other topics are not its business", event: membershipEvent("builds", "a", { peer: "b" }) },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const verdict = checkMembershipEvent(c.event);
      if (!c.refused) return assert.equal(verdict, undefined);
      assert.equal(verdict?.reason, "unauthorized");
      assert.match(verdict!.detail, c.refused);
    });
  }
});

Deno.test("a report that another agent is unreachable is believed only when this agent's view agrees", async (t) => {
  let now = 1_000_000;
  const { membership, connected } = harness("a", { now: () => now });
  const report = (about: string) => membershipEvent(LEAVE_TOPIC, "r", { peer: about, reason: "unreachable" });
  await t.step("not about an agent this one is connected to", () => {
    connected.add("x");
    assert.match(membership.checkReport(report("x"))?.detail ?? "", /connected to it/);
    connected.delete("x");
  });
  await t.step("not about an agent heard from within leave_after", () => {
    membership.heardFrom("x");
    now += 20_000;
    const verdict = membership.checkReport(report("x"));
    assert.equal(verdict?.reason, "disputed");
    assert.match(verdict!.detail, /heard from it 20 s ago/);
  });
  await t.step("believed once the agent has been silent leave_after, less the allowance for delays", () => {
    now += 8_000;
    assert.equal(membership.checkReport(report("x")), undefined);
  });
  await t.step("believed about an agent never heard from", () => {
    assert.equal(membership.checkReport(report("y")), undefined);
  });
  await t.step("never about this agent itself", () => {
    assert.match(membership.checkReport(report("a"))?.detail ?? "", /this agent/);
  });
  await t.step("other membership events are not its business", () => {
    connected.add("x");
    const stopped = membershipEvent(LEAVE_TOPIC, "x", { peer: "x", reason: "stopped" });
    assert.equal(membership.checkReport(stopped), undefined);
    assert.equal(membership.checkReport(membershipEvent(STATUS_TOPIC, "x", { peer: "x" })), undefined);
  });
});

Deno.test("rankedBefore() counts connected agents with a lower peer id, announced or not", async () => {
  const { membership, connected } = harness("c");
  membership.start();
  // b announced itself and is connected; a is connected but its join has not come
  // (a restarted agent waits a status_interval for it); z ranks after; y is gone.
  membership.observe(membershipEvent(JOIN_TOPIC, "b", { peer: "b" }));
  membership.observe(membershipEvent(JOIN_TOPIC, "y", { peer: "y" }));
  for (const peer of ["a", "b", "z"]) connected.add(peer);
  assert.equal(membership.rankedBefore(), 2);
  connected.delete("a");
  assert.equal(membership.rankedBefore(), 1);
  await membership.stop();
});

Deno.test("followersOf() and follows() name the members that said they follow a topic, with at most 8 of the addresses they gave", () => {
  const { membership } = harness("a");
  const many = Array.from({ length: 20 }, (_, i) => `/ip4/198.18.0.${i}/tcp/4001/p2p/b`);
  membership.observe(membershipEvent(JOIN_TOPIC, "b", { peer: "b", topics: ["builds"], addresses: many }));
  membership.observe(membershipEvent(JOIN_TOPIC, "c", { peer: "c", topics: ["deploys"] }));
  // Not strings, or absurdly long: left out.
  const odd = { peer: "d", topics: ["builds", 7, "x".repeat(300)], addresses: [null, "/ip4/198.18.0.9/tcp/1/p2p/d"] };
  membership.observe(membershipEvent(STATUS_TOPIC, "d", odd as unknown as Partial<MemberFacts>));
  assert.deepEqual(membership.followersOf("builds"), [
    { peer: "b", addresses: many.slice(0, 8) },
    { peer: "d", addresses: ["/ip4/198.18.0.9/tcp/1/p2p/d"] },
  ]);
  assert.deepEqual(membership.followersOf("deploys"), [{ peer: "c", addresses: [] }]);
  assert.equal(membership.follows("d", "builds"), true);
  assert.equal(membership.follows("c", "builds"), false);
  assert.equal(membership.follows("nobody", "builds"), false);
  // A later status without the lists keeps what the join said.
  membership.observe(membershipEvent(STATUS_TOPIC, "b", { peer: "b" }));
  assert.equal(membership.followersOf("builds")[0].addresses.length, 8);
});
