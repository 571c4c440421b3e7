/**
 * Throughput: one publisher sends as fast as it is allowed for a fixed time
 * to four receivers; then count what each receiver got, lost and doubled.
 */

import { MosquittoCluster, startHarkAgents } from "./clusters.ts";
import { settle } from "./footprint.ts";
import { ControlClient } from "../../lib/control/client.ts";
import { SequenceCounter } from "./sequence_counter.ts";

export interface Throughput {
  sent: number;
  /** Events per second that reached every receiver. */
  perSecond: number;
  lost: number[];
  duplicated: number[];
}

const RECEIVERS = 4;
/** Requests in flight on the control socket at once. */
const WINDOW = 64;
/** Receivers' files are read this often: watching every append would cost the bench more than the agents. */
const POLL_MS = 50;
/** How long stragglers may take after the last send. */
const DRAIN_MS = 20_000;

async function tally(counter: SequenceCounter, sent: number, start: number): Promise<Throughput> {
  await counter.until(sent, DRAIN_MS);
  await counter.stop();
  const lost = counter.counts.map((count) => sent - count.unique);
  const duplicated = counter.counts.map((count) => count.lines - count.unique);
  const last = Math.max(...counter.counts.map((count) => count.lastAt));
  const delivered = sent - Math.max(...lost);
  return { sent, perSecond: delivered / ((last - start) / 1000), lost, duplicated };
}

export async function harkThroughput(durationMs: number): Promise<Throughput> {
  const agents = await startHarkAgents(1 + RECEIVERS);
  try {
    // Steady use, not a mesh that is still exchanging history and peers.
    await settle(agents.map((agent) => agent.child.pid));
    const counter = new SequenceCounter(agents.slice(1).map((agent) => `${agent.stateDir}/events.jsonl`));
    for (const count of counter.counts) await Deno.writeTextFile(count.file, "", { append: true });
    counter.start(POLL_MS);
    const client = await ControlClient.connect(agents[0].stateDir);
    let sent = 0;
    const start = performance.now();
    try {
      let inFlight = 0;
      // Pipelined: keep WINDOW requests outstanding; the agent answers in order.
      while (performance.now() - start < durationMs) {
        while (inFlight < WINDOW) {
          await client.send({ op: "send", event: { body: `t${sent++}` } });
          inFlight++;
        }
        await client.next();
        inFlight--;
      }
      while (inFlight-- > 0) await client.next();
    } finally {
      client.close();
    }
    return await tally(counter, sent, start);
  } finally {
    await Promise.all(agents.map((agent) => agent[Symbol.asyncDispose]()));
  }
}

export async function mosquittoThroughput(durationMs: number): Promise<Throughput> {
  const cluster = await MosquittoCluster.start(RECEIVERS, "throughput");
  try {
    const publish = (message: string) =>
      new Deno.Command("mosquitto_pub", {
        args: ["-h", "127.0.0.1", "-p", String(cluster.port), "-t", "throughput", "-m", message],
      }).output();
    // Probe until every subscriber is connected, then start clean files.
    const ready = new SequenceCounter(cluster.files);
    for (let probe = 0;; probe++) {
      await publish(`t${probe}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await ready.stop();
      if (ready.counts.every((count) => count.unique > 0)) break;
      if (probe > 50) throw new Error("mosquitto subscribers never connected");
    }
    const offsets = await Promise.all(cluster.files.map((file) => Deno.stat(file).then((info) => info.size)));
    const counter = new SequenceCounter(cluster.files);
    counter.counts.forEach((count, i) => count.offset = offsets[i]);
    counter.start(POLL_MS);
    // mosquitto_pub -l sends one message per stdin line, as fast as it reads them.
    const publisher = new Deno.Command("mosquitto_pub", {
      args: ["-h", "127.0.0.1", "-p", String(cluster.port), "-t", "throughput", "-l"],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const writer = publisher.stdin.getWriter();
    const encoder = new TextEncoder();
    const start = performance.now();
    let sent = 0;
    while (performance.now() - start < durationMs) {
      let batch = "";
      for (let i = 0; i < 1000; i++) batch += `t${sent++}\n`;
      await writer.write(encoder.encode(batch));
    }
    await writer.close();
    await publisher.status;
    return await tally(counter, sent, start);
  } finally {
    await cluster.stop();
  }
}
