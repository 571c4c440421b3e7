/**
 * Where an event's CPU goes: one publisher and four receivers as in the
 * throughput scenario, the publisher and one receiver under V8's CPU
 * profiler, events sent at a fixed rate for a fixed time. Prints the
 * heaviest functions (self time) of each profile, grouped by package.
 *
 *   deno run -A tests/bench/profile.ts [--rate 400] [--seconds 10] [--receivers 4] [--out DIR]
 *
 * `--rate 10 --receivers 29` is the fan-out scenario at N = 30: one event
 * per gossip message, each reaching many agents.
 */

import { parseArgs } from "node:util";
import { benchConfig } from "./clusters.ts";
import { type AgentProcess, startAgent } from "../helpers/hark.ts";
import { ControlClient } from "../../lib/control/client.ts";
import { SequenceCounter } from "./sequence_counter.ts";
import { cpuSeconds, cpuTimes } from "./footprint.ts";
import { median } from "./stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rate: { type: "string" },
    seconds: { type: "string" },
    receivers: { type: "string" },
    out: { type: "string" },
  },
});
const RATE = Number(values.rate ?? 400);
const SECONDS = Number(values.seconds ?? 10);
const OUT = values.out ?? await Deno.makeTempDir({ prefix: "hark-profile-" });
const RECEIVERS = Number(values.receivers ?? 4);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time per function and per package, in ms, of the samples taken in
 * the sending window. The window is placed by its distance from the
 * profile's start (the process start, within a few milliseconds), since
 * the profiler's clock is not ours.
 */
function summarise(profile: Profile, window: { fromMs: number; toMs: number }, top = 25): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    const sinceStartMs = (at - profile.startTime) / 1000;
    if (sinceStartMs < window.fromMs || sinceStartMs > window.toMs) continue;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
    const pkg = packageOf(frame.url);
    if (pkg === "(idle)") continue;
    total += ms;
    const name = `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
  }
  const rows = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([name, ms]) => `${ms.toFixed(0).padStart(7)} ms ${(100 * ms / total).toFixed(1).padStart(5)}%  ${name}`);
  return [`busy: ${total.toFixed(0)} ms`, "by package:", ...rows(byPackage), "by function:", ...rows(byFunction)]
    .join("\n");
}

function packageOf(url: string): string {
  if (url === "") return "(idle)";
  const npm = /node_modules\/(?:\.deno\/)?((?:@[^/+]+[+/])?[^/@]+)/.exec(url) ??
    /npm\/[^/]+\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (npm) return npm[1].replace("+", "/");
  if (url.startsWith("ext:")) return url.split("/").slice(0, 2).join("/");
  if (url.includes("/lib/") || url.includes("/sinks/")) return "hark " + shortUrl(url);
  return url;
}

function shortUrl(url: string): string {
  return url.replace(/^.*\/node_modules\/(\.deno\/)?/, "").replace(/^file:\/\/.*?\/(lib|sinks)\//, "$1/");
}

async function newestProfile(dir: string): Promise<Profile> {
  const files = [];
  for await (const entry of Deno.readDir(dir)) if (entry.name.endsWith(".cpuprofile")) files.push(entry.name);
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  return JSON.parse(await Deno.readTextFile(`${dir}/${files.sort().at(-1)}`));
}

const agents: AgentProcess[] = [];
let windowStart = 0;
let windowEnd = 0;
/** performance.now() when each profiled agent was spawned: the start of its profile. */
const spawnedAt: number[] = [];
try {
  for (let i = 0; i <= RECEIVERS; i++) {
    const profiled = i <= 1;
    await Deno.mkdir(`${OUT}/agent${i}`, { recursive: true });
    if (profiled) spawnedAt[i] = performance.now();
    agents.push(
      await startAgent({
        config: benchConfig(agents.flatMap((agent) => agent.addresses)),
        denoFlags: profiled
          ? ["--v8-flags=--prof-sampling-interval=200", `--cpu-prof-dir=${OUT}/agent${i}`, "--cpu-prof"]
          : [],
      }),
    );
  }
  const ids = agents.map((agent) => agent.peerId);
  await Promise.all(agents.map((agent) => agent.waitForPeers(ids.filter((id) => id !== agent.peerId), "default")));
  const counter = new SequenceCounter(agents.slice(1).map((agent) => `${agent.stateDir}/events.jsonl`));
  for (const count of counter.counts) await Deno.writeTextFile(count.file, "", { append: true });
  counter.start(100);
  const client = await ControlClient.connect(agents[0].stateDir);
  // Receivers outside the profiler, measured over the sending window only
  // (start-up and mesh forming excluded): what one event costs each agent.
  const unprofiled = agents.slice(2).map((agent) => agent.child.pid);
  const IDLE_MS = 5000;
  const idleBefore = await Promise.all(unprofiled.map(cpuSeconds));
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const cpuBefore = await Promise.all(unprofiled.map(cpuSeconds));
  const timesBefore = await Promise.all(unprofiled.map(cpuTimes));
  const idleMsPerSecond = median(cpuBefore.map((after, i) => (after - idleBefore[i]) * 1e6 / IDLE_MS));
  windowStart = performance.now();
  const total = RATE * SECONDS;
  const start = performance.now();
  let inFlight = 0;
  for (let sent = 0; sent < total; sent++) {
    // Paced: event n leaves no earlier than n / RATE seconds after the start.
    const due = start + (sent * 1000) / RATE;
    const wait = due - performance.now();
    while (inFlight > 0 && (wait > 0 || inFlight >= 64)) {
      await client.next();
      inFlight--;
      if (due - performance.now() <= 0 && inFlight < 64) break;
    }
    const still = due - performance.now();
    if (still > 1) await new Promise((resolve) => setTimeout(resolve, still));
    await client.send({ op: "send", event: { body: `t${sent}` } });
    inFlight++;
  }
  while (inFlight-- > 0) await client.next();
  client.close();
  const sendMs = performance.now() - start;
  await counter.until(total, 30_000).catch(() => {});
  const cpuAfter = await Promise.all(unprofiled.map(cpuSeconds));
  const timesAfter = await Promise.all(unprofiled.map(cpuTimes));
  windowEnd = performance.now();
  const windowMs = windowEnd - windowStart;
  await counter.stop();
  console.log(
    `sent ${total} in ${(sendMs / 1000).toFixed(1)} s (${(total / sendMs * 1000).toFixed(0)}/s); received ${
      counter.counts.map((count) => count.unique).join(", ")
    }`,
  );
  if (unprofiled.length > 0) {
    const perEventMs = median(cpuAfter.map((after, i) => (after - cpuBefore[i]) * 1000 / total));
    const idlePerEventMs = idleMsPerSecond * windowMs / 1000 / total;
    console.log(
      `CPU on each unprofiled receiver (median of ${unprofiled.length}): idle ${idleMsPerSecond.toFixed(1)} ms/s; ` +
        `${perEventMs.toFixed(2)} ms per event sent, of which ${
          (perEventMs - idlePerEventMs).toFixed(2)
        } ms above idle`,
    );
    const systemShare = median(timesAfter.map((after, i) => {
      const system = after.system - timesBefore[i].system;
      return system / (system + after.user - timesBefore[i].user);
    }));
    console.log(`  in the kernel: ${(100 * systemShare).toFixed(0)}%`);
  }
} finally {
  for (const agent of agents) await agent.stop("SIGTERM").catch(() => {});
  for (const agent of agents) await agent[Symbol.asyncDispose]();
}
for (const [index, role] of [[0, "publisher"], [1, "receiver"]] as const) {
  console.log(`\n== ${role} (${OUT}/agent${index})`);
  const window = { fromMs: windowStart - spawnedAt[index], toMs: windowEnd - spawnedAt[index] };
  console.log(summarise(await newestProfile(`${OUT}/agent${index}`), window));
}
