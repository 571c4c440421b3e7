/**
 * `source.host` is a claim; this agent binds each host name to the peer
 * that claimed it first. A member re-signing another's events, or calling
 * itself by another's name, gets its events shown as `name?`, and filters
 * on `source.host` do not take them for the real host's, also after the
 * receiving agent restarts (issue #29).
 */

import assert from "node:assert/strict";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { type AgentProcess, loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { Rogue } from "./helpers/rogue.ts";
import { waitFor } from "./helpers/wait.ts";
import { saveNetwork } from "../lib/mesh/network.ts";
import { createEvent, encodeEvent, type HarkEvent } from "../lib/event/event.ts";

// The rogue runs libp2p inside the test process; see security_test.ts.
const inProcessLibp2p = { sanitizeOps: false, sanitizeResources: false };

/** A file sink for every event, and one for events from hosts named ci-*. */
function receiverConfig(stateDir: string): string {
  return loopbackConfig(
    [],
    `[[sink]]
type = "file"
path = "${stateDir}/events.jsonl"

[[sink]]
type = "file"
path = "${stateDir}/ci.jsonl"
when = 'source.host matches "ci-*"'
`,
  );
}

async function lines(path: string): Promise<HarkEvent[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

/** The rogue's copy of `event`, signed by the rogue: same id, host and text. */
function resigned(event: HarkEvent): Uint8Array {
  return encodeEvent(event);
}

Deno.test({
  name: "a member that re-signs another's events or takes its host name is shown as such, across restarts",
  ...inProcessLibp2p,
  async fn() {
    const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
    await saveNetwork(stateDir, TEST_NETWORK);
    const rogueKey = await generateKeyPair("Ed25519");
    let receiver: AgentProcess | undefined;
    try {
      receiver = await startAgent({ stateDir, config: receiverConfig(stateDir) });
      const ci = await startAgent({ config: loopbackConfig(receiver.addresses, `[agent]\nhost = "ci-01"`) });
      let copyId = "";
      try {
        await receiver.waitForPeers([ci.peerId]);
        const real = await ci.send(["--title", "Build #812 passed", "all green"]);
        const [original] = (await receiver.waitForEvents([real])).filter((event) => event.id === real);
        assert.equal(original.source.host, "ci-01");
        assert.equal(original.source.host_verified, undefined);

        // The rogue publishes the real event's bytes as its own.
        await using rogue = await Rogue.beside(receiver, rogueKey);
        await rogue.publish("default", resigned(original));
        copyId = original.id;
        const copy = await waitForCopy(receiver, rogue.peerId, copyId);
        assert.equal(copy.source.host, "ci-01?");
        assert.equal(copy.source.host_verified, false);
      } finally {
        await ci[Symbol.asyncDispose]();
      }

      // After a restart, with the real ci-01 gone, the name is still bound to it.
      await receiver.stop();
      receiver = await startAgent({ stateDir, config: receiverConfig(stateDir) });
      await using rogue = await Rogue.beside(receiver, rogueKey);
      const claimed = createEvent(
        { title: "Deploy approved", body: "trust me" },
        { id: rogue.nextId(), now: Date.now(), host: "ci-01", peer: rogue.peerId },
      );
      await rogue.publish("default", encodeEvent(claimed));
      const afterRestart = await waitForCopy(receiver, rogue.peerId, claimed.id);
      assert.equal(afterRestart.source.host, "ci-01?");

      const fromCi = (await lines(`${stateDir}/ci.jsonl`)).map((event) => `${event.source.host} ${event.source.peer}`);
      assert.ok(fromCi.length >= 1, "the real ci-01's event reached the ci-* sink");
      assert.ok(fromCi.every((line) => !line.includes(rogue.peerId)), `the ci-* sink got the rogue's: ${fromCi}`);
    } finally {
      await receiver?.[Symbol.asyncDispose]();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

/** Waits for the event `id` signed by `peer` in the receiver's all-events sink. */
async function waitForCopy(receiver: AgentProcess, peer: string, id: string): Promise<HarkEvent> {
  return await waitFor(
    async () => (await receiver.events()).find((event) => event.id === id && event.source.peer === peer),
    { timeoutMs: 15_000, message: `an event ${id} signed by ${peer} to arrive` },
  );
}
