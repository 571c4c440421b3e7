import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import type { Libp2p } from "@libp2p/interface";
import { PeerKeeper } from "./peer_keeper.ts";
import { generateKeyPair, peerIdFromPrivateKey } from "../mesh/libp2p.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { seededRandom } from "../../tests/sim/delivery.ts";

const GONE = "12D3KooWLbL5gddDdiQqdDw4fEDsYAuWHNJawpfUezYCdU8ZkYgw";

/** A node on which every dial fails at once, as to a host that is gone. */
function unreachableNode() {
  const dials: string[] = [];
  const node = {
    peerId: { toString: () => "self" },
    addEventListener() {},
    removeEventListener() {},
    getConnections: () => [],
    dial(target: unknown) {
      dials.push(String(target));
      return Promise.reject(new Error("connection refused"));
    },
  } as unknown as Libp2p;
  return { node, dials };
}

Deno.test("a remembered peer that stays unreachable is redialed with backoff, then given up until the host's addresses change", async () => {
  const { node, dials } = unreachableNode();
  let now = 0;
  const keeper = new PeerKeeper(node, [], [GONE], {
    minBackoffMs: 1,
    maxBackoffMs: 2,
    giveUpAfterMs: 60_000,
    now: () => now,
  });
  keeper.start();
  try {
    await waitFor(() => dials.length >= 3, { message: "redials with backoff" });
    assert.ok(dials.every((dial) => dial === GONE));
    now = 60_000;
    const before = dials.length;
    await waitFor(() => keeper.waiting.remembered === 0 && dials.length > before, { message: "the keeper to give up" });
    const given = dials.length;
    keeper.redialNow();
    await waitFor(() => dials.length > given, { message: "a new address to bring one more try" });
  } finally {
    keeper.stop();
  }
  assert.equal(keeper.waiting.remembered, 0, "a stopped keeper leaves no timer");
});

Deno.test("a configured peer is redialed for as long as the agent runs", async () => {
  const { node, dials } = unreachableNode();
  let now = 0;
  const keeper = new PeerKeeper(node, ["/ip4/198.18.0.10/tcp/4001"], [], {
    minBackoffMs: 1,
    maxBackoffMs: 2,
    giveUpAfterMs: 10,
    now: () => now,
  });
  keeper.start();
  try {
    await waitFor(() => dials.length >= 2, { message: "first redials" });
    now = 1_000_000;
    const before = dials.length;
    // Past the time a remembered peer is given up on, it is still tried.
    await waitFor(() => dials.length >= before + 3 && keeper.waiting.configured === 1, {
      message: "redials past the remembered give-up time",
    });
  } finally {
    keeper.stop();
  }
});

/** A libp2p node with no connections whose dials all fail, on which tests raise `peer:connect`. */
function refusingNode(connections: { remotePeer: { toString(): string } }[] = []) {
  const dials: { target: string; at: number }[] = [];
  const listeners = new Map<string, (event: CustomEvent<unknown>) => void>();
  const node = {
    peerId: { toString: () => "self" },
    addEventListener(type: string, listener: (event: CustomEvent<unknown>) => void) {
      listeners.set(type, listener);
    },
    removeEventListener(type: string) {
      listeners.delete(type);
    },
    getConnections: () => connections,
    dial(target: unknown) {
      dials.push({ target: String(target), at: Date.now() });
      return Promise.reject(new Error("dial timed out"));
    },
  } as unknown as Libp2p;
  const connect = (peer: string) => listeners.get("peer:connect")?.(new CustomEvent("peer:connect", { detail: peer }));
  return { node, dials, connect };
}

function withClock(test: (clock: ReturnType<typeof FakeTimers.install>) => Promise<void>): () => Promise<void> {
  return async () => {
    const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      await test(clock);
    } finally {
      clock.uninstall();
    }
  };
}

const RELAY = "/ip4/198.18.0.10/tcp/4001/p2p/12D3KooWLbL5gddDdiQqdDw4fEDsYAuWHNJawpfUezYCdU8ZkYgw";

Deno.test(
  "an unreachable configured peer is dialed at once, then after waits drawn from windows that double from 1 s to 25 s",
  withClock(async (clock) => {
    const { node, dials } = refusingNode();
    const keeper = new PeerKeeper(node, [RELAY], [], { random: () => 0.5 });
    keeper.start();
    try {
      await clock.tickAsync(0);
      assert.deepEqual(dials.map(({ at }) => at), [0], "the first dial is not delayed");
      await clock.tickAsync(120_000);
      const gaps = dials.slice(1).map(({ at }, i) => at - dials[i].at);
      // Half of each window: 1, 2, 4, 8, 16 s, then 25 s from then on.
      assert.deepEqual(gaps.slice(0, 8), [500, 1000, 2000, 4000, 8000, 12_500, 12_500, 12_500]);
    } finally {
      keeper.stop();
    }
  }),
);

Deno.test(
  "300 agents that cannot reach their relay spread their redials out instead of retrying together, each at least every 25 s",
  withClock(async (clock) => {
    const random = seededRandom(7);
    const fleet = Array.from({ length: 300 }, () => refusingNode());
    const keepers = fleet.map(({ node }) => new PeerKeeper(node, [RELAY], [], { random }));
    for (const keeper of keepers) keeper.start();
    try {
      await clock.tickAsync(0);
      assert.equal(fleet.filter(({ dials }) => dials[0]?.at === 0).length, 300, "every agent dials at start");
      await clock.tickAsync(180_000);
      // From the first minute on, every window is at its widest: the busiest second sees a small share of the fleet.
      const perSecond = new Map<number, number>();
      for (const { dials } of fleet) {
        for (const { at } of dials) {
          if (at >= 60_000) perSecond.set(Math.floor(at / 1000), (perSecond.get(Math.floor(at / 1000)) ?? 0) + 1);
        }
      }
      const redials = [...perSecond.values()].reduce((sum, count) => sum + count, 0);
      // Waits average half the 25 s window: 300 agents make 24 redials a second (every 5 s they made 60).
      assert.ok(redials / 120 <= 30, `${(redials / 120).toFixed(1)} redials a second`);
      const busiest = Math.max(...perSecond.values());
      assert.ok(busiest <= 60, `the busiest second saw ${busiest} of 300 agents redial`);
      for (const { dials } of fleet) {
        const gaps = dials.slice(1).map(({ at }, i) => at - dials[i].at);
        assert.ok(Math.max(...gaps) < 25_000, `an agent waited ${Math.max(...gaps)} ms between dials`);
      }
    } finally {
      for (const keeper of keepers) keeper.stop();
    }
  }),
);

Deno.test(
  "a peer getting through brings a waiting redial forward into the first window, once per widest window, keeping the backoff",
  withClock(async (clock) => {
    const { node, dials, connect } = refusingNode();
    const keeper = new PeerKeeper(node, [RELAY], [], { random: () => 0.5 });
    keeper.start();
    try {
      await clock.tickAsync(40_000);
      // The windows have reached 25 s: the next dial is due 12.5 s after the last one.
      const before = dials.length;
      const at = clock.now;
      connect("another");
      await clock.tickAsync(500);
      assert.equal(dials.length, before + 1, "the network may be back: the redial comes within the first, 1 s window");
      assert.equal(dials.at(-1)!.at, at + 500);
      connect("yet another");
      await clock.tickAsync(12_499);
      assert.equal(dials.length, before + 1, "a busy agent's next connections do not send it out again");
      await clock.tickAsync(1);
      assert.equal(dials.length, before + 2, "the failed dial kept its wide window (12.5 s), not the first one");
      await clock.tickAsync(at + 25_000 - clock.now);
      connect("one more");
      await clock.tickAsync(500);
      assert.equal(dials.length, before + 3, "a widest window later a connection hurries it again");
    } finally {
      keeper.stop();
    }
  }),
);

Deno.test("agents that remember the same peers in the same order do not all dial the same ones first", async () => {
  const members = await Promise.all(
    Array.from({ length: 20 }, async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")).toString()),
  );
  const random = seededRandom(11);
  // Room for 4: each agent dials 4 of the 20 it remembers and skips the rest.
  const policy = { room: () => 4, mayDial: () => true, parted: () => false };
  const fleet = Array.from({ length: 50 }, () => unreachableNode());
  const keepers = fleet.map(({ node }) => new PeerKeeper(node, [], members, { random, policy }));
  for (const keeper of keepers) keeper.start();
  for (const keeper of keepers) keeper.stop();
  const firstDials = new Map<string, number>();
  for (const { dials } of fleet) {
    assert.equal(dials.length, 4);
    for (const dial of dials) firstDials.set(dial, (firstDials.get(dial) ?? 0) + 1);
  }
  // In the order remembered, the first 4 members would take all 50 agents' dials; spread, about 10 each.
  const busiest = Math.max(...firstDials.values());
  assert.ok(busiest <= 25, `one member was dialed first by ${busiest} of 50 agents`);
  assert.ok(firstDials.size >= 15, `only ${firstDials.size} of 20 members were dialed`);
});
