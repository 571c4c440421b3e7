import assert from "node:assert/strict";
import type { Libp2p } from "@libp2p/interface";
import { PeerKeeper } from "./peer_keeper.ts";
import { waitFor } from "../../tests/helpers/wait.ts";

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
    maxRememberedBackoffMs: 2,
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
