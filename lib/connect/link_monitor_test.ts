/**
 * The link monitor against a real agent process: a live link is measured
 * and kept; a frozen agent (SIGSTOP: its TCP connections stay open, it
 * answers nothing) is dropped once a ping goes unanswered.
 */

import assert from "node:assert/strict";
import type { Connection } from "@libp2p/interface";
import { LinkMonitor, muxerPing, pingConnection } from "./link_monitor.ts";
import { loopbackConfig, startAgent } from "../../tests/helpers/hark.ts";
import { Rogue } from "../../tests/helpers/rogue.ts";
import { waitFor } from "../../tests/helpers/wait.ts";

const inProcessLibp2p = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "the link monitor measures live links with Yamux pings and drops a frozen peer's",
  inProcessLibp2p,
  async () => {
    await using agent = await startAgent({ config: loopbackConfig() });
    await using peer = await Rogue.beside(agent);
    const [connection] = peer.node.getConnections();
    assert.ok(muxerPing(connection), "a Yamux connection pings with a frame, not a stream");
    assert.ok(await pingConnection(connection, AbortSignal.timeout(5000)) >= 0);

    const monitor = new LinkMonitor(peer.node, { intervalMs: 100, timeoutMs: 1000, tickMs: 20 });
    monitor.start();
    monitor.start(); // idempotent
    try {
      connection.rtt = -1;
      await waitFor(() => (connection.rtt ?? -1) >= 0, { message: "a ping to set the round-trip time" });
      // Several ping rounds later the live link is still there.
      for (let round = 0; round < 3; round++) {
        connection.rtt = -1;
        await waitFor(() => (connection.rtt ?? -1) >= 0, { message: `ping round ${round}` });
      }
      assert.equal(connection.status, "open");

      agent.child.kill("SIGSTOP");
      try {
        await waitFor(() => connection.status !== "open", {
          timeoutMs: 5000,
          message: "the frozen peer's connection to be aborted",
        });
      } finally {
        agent.child.kill("SIGCONT");
      }
    } finally {
      monitor.stop();
      monitor.stop();
    }
  },
);

Deno.test("a connection whose muxer cannot ping is pinged over a ping stream", inProcessLibp2p, async () => {
  await using agent = await startAgent({ config: loopbackConfig() });
  await using peer = await Rogue.beside(agent);
  const [connection] = peer.node.getConnections();
  // The same connection seen without its muxer: only newStream is left.
  const withoutMuxer = {
    newStream: (...args: Parameters<Connection["newStream"]>) => connection.newStream(...args),
  } as unknown as Connection;
  assert.equal(muxerPing(withoutMuxer), undefined);
  assert.ok(await pingConnection(withoutMuxer, AbortSignal.timeout(5000)) >= 0);
  agent.child.kill("SIGSTOP");
  try {
    await assert.rejects(pingConnection(withoutMuxer, AbortSignal.timeout(500)));
  } finally {
    agent.child.kill("SIGCONT");
  }
});
