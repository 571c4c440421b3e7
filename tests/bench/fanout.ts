/**
 * Fan-out latency: the clock starts just before the publishing command
 * starts and stops when the event is in every receiver's file.
 */

import { Arrivals } from "./arrivals.ts";
import type { Cluster, HarkCluster } from "./clusters.ts";
import { ControlClient } from "../../lib/control/client.ts";
import { type Latency, summarize } from "./stats.ts";
import { settle } from "./footprint.ts";

export interface FanoutOptions {
  events: number;
  spacingMs: number;
  /** After the last send, how long to wait for stragglers. */
  deadlineMs: number;
}

async function spawnSend(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const child = new Deno.Command(command, { args, stdin: "null", stdout: "null", stderr: "piped" }).spawn();
  const { success, stderr } = await child.output();
  if (!success) throw new Error(`${argv.join(" ")} failed: ${new TextDecoder().decode(stderr)}`);
}

/** Sends a few events first so connections and caches are warm, as in steady use. */
async function warmUp(cluster: Cluster, arrivals: Arrivals): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const marker = `warmup-${crypto.randomUUID()}`;
    const deadline = Date.now() + 30_000;
    // mosquitto_sub may still be connecting: repeat until a probe reaches everyone.
    while (true) {
      await spawnSend(cluster.sendArgv(marker));
      if (await arrivals.until(() => arrivals.completedAt(marker) !== undefined, 2000)) break;
      if (Date.now() > deadline) throw new Error(`${cluster.name}: warm-up event never reached every receiver`);
    }
  }
}

/** Measures steady use, not a mesh still starting; says so when it never calms down. */
async function settleOrSay(cluster: Cluster): Promise<void> {
  const tookMs = await settle(cluster.pids());
  console.error(
    tookMs === undefined
      ? `[bench] ${cluster.name}: still busy after 120 s; measuring anyway`
      : `[bench] ${cluster.name}: settled in ${(tookMs / 1000).toFixed(1)} s`,
  );
}

export async function measureFanout(cluster: Cluster, options: FanoutOptions): Promise<Latency> {
  const arrivals = new Arrivals(cluster.files, cluster.markerOf);
  await arrivals.start();
  try {
    await warmUp(cluster, arrivals);
    await settleOrSay(cluster);
    const sentAt = new Map<string, number>();
    const sends: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < options.events; i++) {
      const due = start + i * options.spacingMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const marker = `m${i}-${crypto.randomUUID().slice(0, 8)}`;
      sentAt.set(marker, performance.now());
      sends.push(spawnSend(cluster.sendArgv(marker)));
    }
    await Promise.all(sends);
    const all = () => [...sentAt.keys()].every((marker) => arrivals.completedAt(marker) !== undefined);
    await arrivals.until(all, options.deadlineMs);
    const latencies: number[] = [];
    let lost = 0;
    for (const [marker, sent] of sentAt) {
      const done = arrivals.completedAt(marker);
      if (done === undefined) lost++;
      else latencies.push(done - sent);
    }
    return summarize(latencies, lost);
  } finally {
    await arrivals.stop();
  }
}

/**
 * The same measurement with the publish sent over an already open control
 * socket: the mesh's own latency, without the cost of starting a process.
 */
export async function measureFanoutOverSocket(cluster: HarkCluster, options: FanoutOptions): Promise<Latency> {
  const arrivals = new Arrivals(cluster.files, cluster.markerOf);
  await arrivals.start();
  const client = await ControlClient.connect(cluster.agents[0].stateDir);
  try {
    const latencies: number[] = [];
    let lost = 0;
    for (let i = 0; i < options.events; i++) {
      const marker = `s${i}-${crypto.randomUUID().slice(0, 8)}`;
      const sent = performance.now();
      await client.request({ op: "send", event: { body: marker } });
      const arrived = await arrivals.until(() => arrivals.completedAt(marker) !== undefined, options.deadlineMs);
      if (arrived) latencies.push(arrivals.completedAt(marker)! - sent);
      else lost++;
      const wait = sent + options.spacingMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    return summarize(latencies, lost);
  } finally {
    client.close();
    await arrivals.stop();
  }
}
