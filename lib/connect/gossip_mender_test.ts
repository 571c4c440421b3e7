/**
 * Gossipsub opens its stream to a peer on the first connection only; when
 * that connection closes while another stays open, it would stop sending to
 * the peer. The mender reopens the stream on the remaining connection.
 */

import assert from "node:assert/strict";
import type { IdentifyResult } from "@libp2p/interface";
import { startMesh, type TestMesh } from "../../tests/helpers/mesh.ts";
import { createEvent, type HarkEvent } from "../event/event.ts";
import { monotonicUlid } from "../event/ulid.ts";

const newUlid = monotonicUlid();
import { waitFor } from "../../tests/helpers/wait.ts";

function mesh(received: HarkEvent[], peers: string[] = []): Promise<TestMesh> {
  return startMesh({ peers, onEvent: (event) => received.push(event) });
}

function event(body: string, peer: string): HarkEvent {
  return createEvent({ body }, { id: newUlid(), now: Date.now(), host: "test", peer });
}

/** Publishes an event every 100 ms until `arrived`, for at most 5 s. */
async function publishUntil(from: TestMesh, arrived: () => boolean, message: string): Promise<void> {
  for (let i = 0; i < 50 && !arrived(); i++) {
    await from.publish(event(`attempt ${i}`, from.peerId));
    await waitFor(arrived, { timeoutMs: 100, message }).catch(() => {});
  }
  assert.ok(arrived(), message);
}

Deno.test("gossip keeps flowing when the connection it ran on closes and another stays", async () => {
  const atA: HarkEvent[] = [];
  const atB: HarkEvent[] = [];
  const a = await mesh(atA);
  const b = await mesh(atB, a.listenAddresses());
  try {
    const subscribed = () =>
      a.node.services.pubsub.getSubscribers("hark/default").some((p) => p.toString() === b.peerId);
    await waitFor(subscribed, { message: "a to see b subscribe" });
    const first = a.node.getConnections()[0];
    // A second connection beside the first, as a dial-back or a hole punch makes.
    const identified = new Set<string>();
    const onIdentify = (e: CustomEvent<IdentifyResult>) => identified.add(e.detail.connection.id);
    a.node.addEventListener("peer:identify", onIdentify);
    b.node.addEventListener("peer:identify", onIdentify);
    await b.node.dial(a.node.getMultiaddrs()[0], { force: true, signal: AbortSignal.timeout(5000) });
    // Both ends have finished with the second connection (gossipsub has seen it) before the first goes.
    await waitFor(() => a.node.getConnections().length === 2 && identified.size === 2, {
      message: "both ends to identify the second connection",
    });
    await first.close();
    await waitFor(() => a.node.getConnections().length === 1, { message: "the first connection to close" });

    // Events published in the moment before the stream is reopened are for
    // catch-up to bring; after that, gossip must flow again.
    await publishUntil(a, () => atB.length > 0, "b to get a's events over the second connection");
    await publishUntil(b, () => atA.length > 0, "a to get b's events");
  } finally {
    await b.stop();
    await a.stop();
  }
});
