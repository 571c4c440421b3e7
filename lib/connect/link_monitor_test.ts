/**
 * The link monitor against a real agent process: a live link is measured
 * and kept; a frozen agent (SIGSTOP: its TCP connections stay open, it
 * answers nothing) is dropped once a ping goes unanswered.
 */

import assert from "node:assert/strict";
import type { Connection } from "@libp2p/interface";
import { LinkMonitor, muxerPing, pingConnection } from "./link_monitor.ts";
import { loopbackConfig, startAgent, TEST_NETWORK } from "../../tests/helpers/hark.ts";
import { Rogue } from "../../tests/helpers/rogue.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { delay } from "../util/delay.ts";

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

/** Two in-process nodes with one connection between them, seen from each end. */
async function linkedPair(): Promise<{ a: Rogue; b: Rogue; atA: Connection; atB: Connection } & AsyncDisposable> {
  const a = await Rogue.start(TEST_NETWORK);
  const b = await Rogue.start(TEST_NETWORK);
  await b.dial(a.node.getMultiaddrs()[0].toString());
  const atB = b.node.getConnections()[0];
  const atA = await waitFor(() => a.node.getConnections()[0], { message: "the inbound connection at a" });
  return {
    a,
    b,
    atA,
    atB,
    async [Symbol.asyncDispose]() {
      await Promise.all([a[Symbol.asyncDispose](), b[Symbol.asyncDispose]()]);
    },
  };
}

/** Counts the ping frames `connection`'s end sends. */
function countPings(connection: Connection): { sent: number } {
  const muxer = muxerPing(connection)!;
  const ping = muxer.ping.bind(muxer);
  const count = { sent: 0 };
  muxer.ping = (options) => {
    count.sent++;
    return ping(options);
  };
  return count;
}

/** Sends ping frames from `connection`'s end every `everyMs` until `rounds` have gone; answers are not awaited. */
async function chatter(connection: Connection, rounds: number, everyMs: number): Promise<void> {
  const muxer = muxerPing(connection)!;
  for (let round = 0; round < rounds; round++) {
    muxer.ping({ signal: AbortSignal.timeout(everyMs) }).catch(() => {});
    await delay(everyMs); // Pacing the traffic, not waiting for anything.
  }
}

Deno.test(
  "a connection that is heard from is not pinged, and is pinged again once quiet",
  inProcessLibp2p,
  async () => {
    await using pair = await linkedPair();
    const pings = countPings(pair.atA);
    const monitor = new LinkMonitor(pair.a.node, { intervalMs: 200, timeoutMs: 1000, tickMs: 10 });
    monitor.start();
    try {
      // One ping to measure the round-trip time, whatever else arrives.
      await waitFor(() => pair.atA.rtt !== undefined, { message: "the first ping's round-trip time" });
      assert.equal(pings.sent, 1);
      // Ten intervals of traffic from b: a hears it and sends no ping.
      await chatter(pair.atB, 40, 50);
      assert.equal(pings.sent, 1, "pinged a connection that was heard from");
      // Quiet again: a pings.
      await waitFor(() => pings.sent >= 2, { message: "a ping once the connection is quiet" });
      assert.equal(pair.atA.status, "open");
    } finally {
      monitor.stop();
    }
    assert.equal(monitor.watched, 0, "stop lets go of every connection");
  },
);

Deno.test("of two ends that monitor one link, about one pings per interval", inProcessLibp2p, async () => {
  await using pair = await linkedPair();
  const fromA = countPings(pair.atA);
  const fromB = countPings(pair.atB);
  const monitors = [pair.a, pair.b].map((end) =>
    // Ticks short against the tenth of an interval by which the ends' silences differ, so they seldom ping together.
    new LinkMonitor(end.node, { intervalMs: 200, timeoutMs: 1000, tickMs: 2 })
  );
  for (const monitor of monitors) monitor.start();
  try {
    // Both measure the round-trip time once; after that each ping is heard at the other end.
    await waitFor(() => pair.atA.rtt !== undefined && pair.atB.rtt !== undefined, { message: "both ends measured" });
    const first = fromA.sent + fromB.sent;
    const started = performance.now();
    await waitFor(() => fromA.sent + fromB.sent - first >= 20, { timeoutMs: 20_000, message: "twenty more pings" });
    const intervals = (performance.now() - started) / 200;
    // Both ends pinging every interval would send 20 pings in 10 intervals.
    assert.ok(intervals > 14, `20 pings in ${intervals.toFixed(1)} intervals`);
  } finally {
    for (const monitor of monitors) monitor.stop();
  }
});

Deno.test("an unanswered ping does not drop a link that other data arrives on", inProcessLibp2p, async () => {
  await using pair = await linkedPair();
  // b stops answering pings (its own frames still go out): a busy process whose answers wait.
  const muxerAtB = (pair.atB as unknown as { muxer: { handlePing(header: unknown): void } }).muxer;
  muxerAtB.handlePing = () => {};
  const pings = countPings(pair.atA);
  const monitor = new LinkMonitor(pair.a.node, { intervalMs: 100, timeoutMs: 150, tickMs: 10 });
  monitor.start();
  try {
    await chatter(pair.atB, 30, 50);
    assert.ok(pings.sent >= 2, `a pinged ${pings.sent} times`);
    assert.equal(pair.atA.status, "open", "dropped a link that data kept arriving on");
    assert.equal(monitor.dropped, 0);
    // Nothing arrives any more: the next unanswered ping drops it.
    await waitFor(() => pair.atA.status !== "open", { message: "the silent link to be dropped" });
    assert.equal(monitor.dropped, 1, "the drop is counted");
  } finally {
    monitor.stop();
  }
});
