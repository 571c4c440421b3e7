/**
 * Throughput: one publisher sends as fast as it is allowed for a fixed time
 * to four receivers; then count what each receiver got, lost and doubled.
 */

import { Arrivals } from "./arrivals.ts";
import { MosquittoCluster, startHarkAgents } from "./clusters.ts";
import { ControlClient } from "../../lib/control_client.ts";

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

function tally(arrivals: Arrivals, files: string[], markers: string[], start: number): Throughput {
  const lost: number[] = [];
  const duplicated: number[] = [];
  let last = start;
  for (const file of files) {
    let unique = 0;
    for (const marker of markers) {
      const at = arrivals.times.get(marker)?.get(file);
      if (at === undefined) continue;
      unique++;
      last = Math.max(last, at);
    }
    lost.push(markers.length - unique);
    duplicated.push(arrivals.lines.get(file)! - unique);
  }
  const delivered = markers.length - Math.max(...lost);
  return { sent: markers.length, perSecond: delivered / ((last - start) / 1000), lost, duplicated };
}

export async function harkThroughput(durationMs: number): Promise<Throughput> {
  const agents = await startHarkAgents(1 + RECEIVERS);
  try {
    const files = agents.slice(1).map((agent) => `${agent.stateDir}/events.jsonl`);
    // Only the body is needed: a regular expression is cheaper than JSON.parse here.
    const arrivals = new Arrivals(files, (line) => /"body":"(t\d+)"/.exec(line)?.[1], { pollMs: POLL_MS });
    await arrivals.start();
    const markers: string[] = [];
    const client = await ControlClient.connect(agents[0].stateDir);
    const start = performance.now();
    try {
      let inFlight = 0;
      let next = 0;
      // Pipelined: keep WINDOW requests outstanding; the agent answers in order.
      while (performance.now() - start < durationMs) {
        while (inFlight < WINDOW) {
          const marker = `t${next++}`;
          markers.push(marker);
          await client.send({ op: "send", event: { body: marker } });
          inFlight++;
        }
        await client.next();
        inFlight--;
      }
      while (inFlight-- > 0) await client.next();
    } finally {
      client.close();
    }
    const complete = () => markers.every((marker) => arrivals.completedAt(marker) !== undefined);
    await arrivals.until(complete, 30_000);
    await arrivals.stop();
    return tally(arrivals, files, markers, start);
  } finally {
    await Promise.all(agents.map((agent) => agent[Symbol.asyncDispose]()));
  }
}

export async function mosquittoThroughput(durationMs: number): Promise<Throughput> {
  const cluster = await MosquittoCluster.start(RECEIVERS, "throughput");
  try {
    const arrivals = new Arrivals(cluster.files, (line) => line.trim() || undefined, { pollMs: POLL_MS });
    await arrivals.start();
    // Wait until every subscriber is connected, with probes.
    for (let probe = 0;; probe++) {
      await new Deno.Command("mosquitto_pub", {
        args: ["-h", "127.0.0.1", "-p", String(cluster.port), "-t", "throughput", "-m", `probe${probe}`],
      }).output();
      if (await arrivals.until(() => arrivals.completedAt(`probe${probe}`) !== undefined, 500)) break;
      if (probe > 40) throw new Error("mosquitto subscribers never connected");
    }
    // mosquitto_pub -l sends one message per stdin line, as fast as it can read them.
    const publisher = new Deno.Command("mosquitto_pub", {
      args: ["-h", "127.0.0.1", "-p", String(cluster.port), "-t", "throughput", "-l"],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const writer = publisher.stdin.getWriter();
    const markers: string[] = [];
    const encoder = new TextEncoder();
    const start = performance.now();
    let next = 0;
    while (performance.now() - start < durationMs) {
      const batch: string[] = [];
      for (let i = 0; i < 100; i++) batch.push(`t${next++}`);
      markers.push(...batch);
      await writer.write(encoder.encode(batch.join("\n") + "\n"));
    }
    await writer.close();
    await publisher.status;
    const complete = () => markers.every((marker) => arrivals.completedAt(marker) !== undefined);
    await arrivals.until(complete, 30_000);
    await arrivals.stop();
    const probes = [...arrivals.times.keys()].filter((marker) => marker.startsWith("probe"));
    for (const file of cluster.files) {
      arrivals.lines.set(
        file,
        arrivals.lines.get(file)! - probes.filter((p) => arrivals.times.get(p)?.has(file)).length,
      );
    }
    return tally(arrivals, cluster.files, markers, start);
  } finally {
    await cluster.stop();
  }
}
