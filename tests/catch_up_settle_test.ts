/**
 * What a peer publishes in the first moments of a connection reaches nobody
 * by gossip (neither side has opened its own stream or heard the other's
 * subscriptions yet), and the catch-up session that runs the moment the peer
 * is identified may come before it was stored. A second session once the
 * link has settled picks it up, seconds later instead of at the next
 * anti-entropy round a minute on.
 */

import assert from "node:assert/strict";
import { lpStream } from "@libp2p/utils";
import { loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { Rogue } from "./helpers/rogue.ts";
import { waitFor } from "./helpers/wait.ts";
import { signRecord } from "../lib/event/signed_record.ts";
import { decodeRequest, decodeWant, encodeEvents, encodeKeys, HISTORY_PROTOCOL } from "../lib/history/wire.ts";

// The peer runs libp2p inside the test process; see security_test.ts.
const inProcessLibp2p = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "an event a peer stored just after the first catch-up session reaches the agent within seconds",
  ...inProcessLibp2p,
  async fn() {
    await using agent = await startAgent({ config: loopbackConfig() });
    const peer = await Rogue.start(TEST_NETWORK);
    try {
      // The peer's store: empty for the first session, then holding the event it published to nobody.
      const late = peer.event({ title: "published in the first moments" });
      const lateId = JSON.parse(new TextDecoder().decode(late)).id as string;
      let sessions = 0;
      await peer.node.handle(HISTORY_PROTOCOL, async (stream) => {
        const wire = lpStream(stream);
        try {
          decodeRequest((await wire.read()).subarray());
          const first = ++sessions === 1;
          const keys = first ? [] : [{ publisher: peer.peerId, id: lateId }];
          await wire.write(encodeKeys({ keys, upto: first ? 0 : 1, store: "peer-store", end: true }));
          if (!first) {
            const wanted = decodeWant((await wire.read()).subarray());
            const events = wanted.length > 0 ? [await signRecord(peer.key, "default", late)] : [];
            await wire.write(encodeEvents({ events, last: true }));
          }
          await stream.close();
        } catch {
          // The agent hung up.
        }
      });
      await peer.dial(agent.addresses[0]);
      await peer.join("default", agent.peerId);
      await waitFor(() => sessions >= 1, { message: "the agent's first session, as it identified the peer" });
      // Well before the anti-entropy round (every 60 s), so only the settle session can bring it.
      await agent.waitForEvents([lateId], 15_000);
      assert.ok(sessions >= 2, `${sessions} sessions`);
    } finally {
      await peer[Symbol.asyncDispose]();
    }
  },
});
