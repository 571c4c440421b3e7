/**
 * `deno task sim`: a simulated fleet of real hark agents (lib/agent.ts's
 * Agent with its store, file sink, control socket and libp2p on loopback
 * TCP), spread over `--procs` processes, joined as a fleet joins,
 * publishing events from random agents. Prints one table; its last line
 * sums up delivery.
 *
 *   deno task sim [--agents N] [--events E] [--topology lan|subnets|relay] [--topics T] [--follow config|ntfy]
 *                 [--procs P] [--spacing MS] [--idle S] [--status-interval S] [--seed N]
 *                 [--ping-timeout S] [--inspect-port P] [--settle S]
 *
 * `--follow ntfy` leaves the topics out of the agents' config: an ntfy
 * client subscribes to each agent's topic over its http source instead, so
 * the agents follow them on the fly, as for phones.
 *
 * `--procs` defaults to the number of cores; `--procs 1` runs every agent in
 * this process.
 *
 * Idle figures are measured over `--idle` seconds (default: two status rounds) after one round
 * of `--status-interval` (default 20 s; 0 for no statuses, and a minute) has passed.
 *
 * `--ping-timeout` (default 60 s) is how long an agent's ping may go
 * unanswered before it drops the link. An agent on a host of its own waits
 * 10 s; here one thread runs a process's share of the fleet, and under load it
 * stalls for longer than one agent's host would, so with 10 s the agents drop
 * live links because the simulator is slow, not the network.
 *
 * `--settle S` waits, after the warm-up and for at most S seconds, until the
 * fleet is quiet (SETTLED) before it publishes: a large fleet is still
 * connecting and catching up when its first event has gone round, and
 * events published then measure that, not a settled fleet.
 *
 * `--inspect-port P` lets a debugger attach to child process i at port
 * P + i, to take a CPU profile of a running fleet.
 *
 * Every phase has a deadline and the run stops on its own.
 */

import { parseArgs } from "node:util";
import { Cluster } from "./cluster.ts";
import { FOLLOW_MODES, type FollowMode } from "./fleet.ts";
import { type Published, seededRandom, tally } from "./delivery.ts";
import { distances } from "./graph.ts";
import { relayReach } from "./relay_reach.ts";
import { meanStoreRows } from "./store_rows.ts";
import { renderTable, type Row } from "./table.ts";
import { TOPOLOGIES, type Topology } from "./topology.ts";
import { quantile } from "../bench/stats.ts";
import { waitFor } from "../helpers/wait.ts";
import { MAX_EVENTS_DEFAULT, STATUS_INTERVAL_DEFAULT_MS } from "../../lib/config/config.ts";
import { delay } from "../../lib/util/delay.ts";
import { setupLogging } from "../../lib/log.ts";
import { guardProcess } from "../../lib/uncaught.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    agents: { type: "string", default: "30" },
    events: { type: "string", default: "100" },
    topology: { type: "string", default: "lan" },
    topics: { type: "string", default: "1" },
    follow: { type: "string", default: "config" },
    spacing: { type: "string", default: "50" },
    idle: { type: "string" },
    "status-interval": { type: "string", default: "20" },
    seed: { type: "string", default: "1" },
    procs: { type: "string", default: String(navigator.hardwareConcurrency || 1) },
    "ping-timeout": { type: "string", default: "60" },
    "inspect-port": { type: "string" },
    settle: { type: "string", default: "0" },
  },
});

function count(name: string, min: number): number {
  const value = Number(values[name as keyof typeof values]);
  if (!Number.isInteger(value) || value < min) {
    console.error(
      `sim: --${name} must be a whole number of at least ${min}, not "${values[name as keyof typeof values]}"`,
    );
    Deno.exit(2);
  }
  return value;
}

const agents = count("agents", 2);
const events = count("events", 1);
const topics = count("topics", 1);
const spacingMs = count("spacing", 0);
// 0 for none: an idle fleet without messages, to measure what connections alone cost.
const statusIntervalMs = count("status-interval", 0) * 1000;
// Two status rounds by default, so every agent's status shows in the idle figures (a minute without statuses).
const idleMs = values.idle !== undefined
  ? count("idle", 1) * 1000
  : statusIntervalMs > 0
  ? 2 * statusIntervalMs
  : 60_000;
const random = seededRandom(count("seed", 0));
const procs = Math.min(count("procs", 1), agents);
const linkTimeoutMs = count("ping-timeout", 1) * 1000;
const follow = values.follow as FollowMode;
if (!FOLLOW_MODES.includes(follow)) {
  console.error(`sim: --follow must be one of ${FOLLOW_MODES.join(", ")}, not "${follow}"`);
  Deno.exit(2);
}
const topology = values.topology as Topology;
if (!TOPOLOGIES.includes(topology)) {
  console.error(`sim: --topology must be one of ${TOPOLOGIES.join(", ")}, not "${topology}"`);
  Deno.exit(2);
}
/**
 * Longest wait for the first event of each topic to reach every follower.
 * Every agent receives every other's join as the fleet starts, so the
 * simulator's work before it settles grows with the square of the agents:
 * 1,000 agents do not settle within 1,000 s on 2 cores (docs/scale.md).
 */
const WARM_UP_MS = Math.max(60_000, agents * 300, agents * agents);
const settleLimitMs = count("settle", 0) * 1000;
/**
 * Quiet, per agent and minute over a window (a minute, or a quarter of a
 * shorter `--settle`): hardly a new connection, and catch-up no busier than
 * its round of one session a minute (an idle fleet's figure).
 */
const SETTLED = { windowMs: Math.min(60_000, settleLimitMs / 4), connects: 0.05, sessions: 1.5 };
const isQuiet = (rates: { connects: number; sessions: number }) =>
  rates.connects <= SETTLED.connects && rates.sessions <= SETTLED.sessions;
/** Longest wait for the measured events after the last one left. */
const DELIVERY_DEADLINE_MS = 30_000;

// As `hark run` does, for the agents of `--procs 1` (shard_process.ts does the same in each child).
setupLogging("error");
guardProcess();

const began = performance.now();
function say(message: string): void {
  console.error(`[sim ${((performance.now() - began) / 1000).toFixed(1).padStart(6)} s] ${message}`);
}

/** Waits for a window as quiet as SETTLED, at most `limitMs`; says how quiet the last window was. */
async function settle(limitMs: number): Promise<string> {
  const since = performance.now();
  let rates = { connects: Infinity, sessions: Infinity };
  while (true) {
    const before = await fleet.counters();
    const windowMs = Math.min(SETTLED.windowMs, limitMs - (performance.now() - since));
    if (windowMs <= 0) break;
    await delay(windowMs);
    const after = await fleet.counters();
    const perAgentMin = (key: "connects" | "sessions") => (after[key] - before[key]) / agents / (windowMs / 60_000);
    rates = { connects: perAgentMin("connects"), sessions: perAgentMin("sessions") };
    if (isQuiet(rates)) break;
  }
  const outcome = `${isQuiet(rates) ? "settled" : "not settled"} after ${
    ((performance.now() - since) / 1000).toFixed(0)
  } s`;
  say(
    `${outcome}: ${rates.connects.toFixed(2)} new connections and ${
      rates.sessions.toFixed(2)
    } catch-up sessions per agent a minute`,
  );
  return outcome;
}

say(
  `starting ${agents} agents in ${procs} process(es), topology ${topology}, ${topics} topic(s)${
    follow === "ntfy" ? " followed by ntfy clients" : ""
  }`,
);
let reported = 0;
await using fleet = await Cluster.start(
  {
    count: agents,
    topology,
    topics,
    statusIntervalMs,
    linkTimeoutMs,
    procs,
    follow,
    inspectPort: values["inspect-port"] === undefined ? undefined : count("inspect-port", 1),
  },
  (up) => {
    if (up - reported < 50 && up !== agents) return;
    reported = up;
    say(`${up} agents up`);
  },
);
const startSeconds = (performance.now() - began) / 1000;
const memoryBefore = fleet.baseline!;
await fleet.follow();

// The first event of each topic, from its first agent: the mesh has formed once every follower has it.
const warmUp: Published[] = [];
for (let topic = 0; topic < Math.min(topics, agents); topic++) {
  const published = await fleet.publish(topic, "warm-up");
  if (published) warmUp.push(published);
}
const warmedUp = await waitFor(() => fleet.allDelivered(warmUp), { timeoutMs: WARM_UP_MS, intervalMs: 250 })
  .then(() => true, () => false);
if (warmedUp) say("mesh formed: warm-up delivered");
else {
  const { delivered, expected } = await fleet.reached(warmUp);
  say(`warm-up reached ${delivered}/${expected} followers in ${WARM_UP_MS / 1000} s; measuring anyway`);
}
const warmReach = relayReach(await fleet.graph(), agents, topology);
if (warmReach) {
  say(
    `after warm-up ${warmReach.connected}/${warmReach.agents} agents reach a relay; relays hold ${
      warmReach.relayPeers.join(", ")
    } peers`,
  );
}
const settled = settleLimitMs > 0 ? await settle(settleLimitMs) : undefined;
const memoryAfter = await fleet.meters();

say(`publishing ${events} events, one per ${spacingMs} ms`);
const publishBefore = await fleet.meters();
const countersBefore = await fleet.counters();
const published: Published[] = [];
let failed = 0;
for (let i = 0; i < events; i++) {
  const event = await fleet.publish(Math.floor(random() * agents), `event ${i}`);
  if (event) published.push(event);
  else failed++;
  // Pacing, as a fleet's events come: not a wait for anything.
  if (spacingMs > 0) await delay(spacingMs);
}
await waitFor(() => fleet.allDelivered(published), { timeoutMs: DELIVERY_DEADLINE_MS, intervalMs: 100 })
  .catch(() => say(`not every event delivered within ${DELIVERY_DEADLINE_MS / 1000} s`));
const publishAfter = await fleet.meters();
const countersAfter = await fleet.counters();
const closedWhilePublishing = (key: "closed" | "unanswered" | "trimmed") => countersAfter[key] - countersBefore[key];
const publishBytes = publishAfter.wireBytes - publishBefore.wireBytes;
const publishCpu = publishAfter.cpuMs - publishBefore.cpuMs;
const delivery = tally(await fleet.arrivals(published), published, failed);
say(`delivered ${delivery.delivered}/${delivery.expected}`);

const graph = await fleet.graph();
const connections = [...graph.values()].map((peers) => peers.size);
const reach = relayReach(graph, agents, topology);
const hops: number[] = [];
for (const event of published) {
  const away = distances(graph, event.publisher);
  for (const follower of event.followers) hops.push(away.get(follower) ?? Infinity);
}
const eventBytes =
  new TextEncoder().encode(JSON.stringify(published.length ? await fleet.firstEvent(published[0]) : {})).byteLength;

// One status round first: every agent has announced itself once, so what follows is the steady rate.
// A status round first, or a minute without statuses: the start's catch-up sessions and joins are over by then.
const settleMs = statusIntervalMs > 0 ? statusIntervalMs : 60_000;
say(`idle for ${(settleMs + idleMs) / 1000} s, measuring the last ${idleMs / 1000} s`);
await delay(settleMs);
const idleStatus = await fleet.counters();
const idleRows = meanStoreRows(await fleet.storeRows());
const idleBefore = await fleet.meters();
await delay(idleMs);
const idleAfter = await fleet.meters();
const idleMinutes = idleMs / 60_000;
const idleBytesPerAgentMin = (idleAfter.wireBytes - idleBefore.wireBytes) / agents / idleMinutes;
const idleCpuPerAgentMin = (idleAfter.cpuMs - idleBefore.cpuMs) / agents / idleMinutes;
const afterIdle = await fleet.counters();
const rows = meanStoreRows(await fleet.storeRows());

// The fleet runs status_interval at `statusIntervalMs` to see status traffic in a short window; a
// deployment's default is STATUS_INTERVAL_DEFAULT_MS, so per-minute membership figures scale by their ratio.
const toDefaultInterval = statusIntervalMs / STATUS_INTERVAL_DEFAULT_MS;
const membershipPerAgentMin = (afterIdle.membership - idleStatus.membership) / agents / idleMinutes;
const catchUpPerAgentMin = (afterIdle.sessions - idleStatus.sessions) / agents / idleMinutes;
const connectsPerAgentMin = (afterIdle.connects - idleStatus.connects) / agents / idleMinutes;
const trimmedPerAgentMin = (afterIdle.trimmed - idleStatus.trimmed) / agents / idleMinutes;
const membershipRowsPerHour = (rows.membership - idleRows.membership) / idleMinutes * 60 * toDefaultInterval;
const userRows = rows.total - rows.membership;
const capDays = membershipRowsPerHour > 0.5 ? MAX_EVENTS_DEFAULT / (membershipRowsPerHour * 24) : Infinity;
const mb = (bytes: number) => bytes / 1024 / 1024;
const defaultMinutes = STATUS_INTERVAL_DEFAULT_MS / 60_000;

const table: Row[] = [
  {
    figure: "agents up",
    value: agents,
    unit: "agents",
    note: `${topology}, ${procs} process(es), started in ${startSeconds.toFixed(1)} s`,
  },
  {
    figure: "delivered",
    value: `${delivery.delivered}/${delivery.expected}`,
    unit: "deliveries",
    note: `${failed} publishes refused${settled ? `; published once ${settled}` : ""}`,
  },
  { figure: "duplicates at subscribers", value: delivery.duplicates, unit: "deliveries" },
  {
    figure: "latency p50",
    value: quantile(delivery.latencies, 0.5),
    unit: "ms",
    note: "publish to `hark tail` on each follower",
  },
  { figure: "latency p99", value: quantile(delivery.latencies, 0.99), unit: "ms" },
  { figure: "latency max", value: Math.max(...delivery.latencies), unit: "ms" },
  {
    figure: "hops, mean",
    value: mean(hops.filter(Number.isFinite)),
    unit: "hops",
    note: "distance in the connection graph (gossip carries no hop count)",
  },
  { figure: "hops, max", value: Math.max(...hops), unit: "hops" },
  {
    figure: "gossip copies per event per agent",
    value: publishBytes / Math.max(1, published.length) / agents / Math.max(1, eventBytes),
    unit: "copies",
    note: `≈ wire bytes ÷ event size (${eventBytes} B); includes IHAVE/IWANT and pings`,
  },
  {
    figure: "bytes sent per agent per event",
    value: publishBytes / Math.max(1, published.length) / agents,
    unit: "B",
    note: "all libp2p traffic while publishing",
  },
  {
    figure: "CPU per event",
    value: publishCpu / Math.max(1, published.length),
    unit: "ms",
    note: "every simulator process (every agent) while publishing",
  },
  { figure: "connections per agent, mean", value: mean(connections), unit: "connections" },
  { figure: "connections per agent, max", value: Math.max(...connections), unit: "connections" },
  {
    figure: "connections closed per agent while publishing",
    value: closedWhilePublishing("closed") / agents,
    unit: "closes",
    note: `each counted at both ends; of the fleet's ${closedWhilePublishing("closed")}, ${
      closedWhilePublishing("unanswered")
    } dropped for a ping unanswered in ${linkTimeoutMs / 1000} s and ${
      closedWhilePublishing("trimmed")
    } trimmed, at the end that closed them`,
  },
  ...(reach
    ? [{
      figure: "agents connected to a relay",
      value: `${reach.connected}/${reach.agents}`,
      unit: "agents",
      note: `after publishing (after warm-up: ${warmReach!.connected}); relays hold ${
        reach.relayPeers.join(", ")
      } peers`,
    }]
    : []),
  {
    figure: "idle traffic per agent",
    value: idleBytesPerAgentMin,
    unit: "B/min",
    note: `all libp2p bytes over ${idleMs / 1000} s idle, status every ${statusIntervalMs / 1000} s`,
  },
  { figure: "idle CPU per agent", value: idleCpuPerAgentMin, unit: "ms/min", note: "every process ÷ agents" },
  {
    figure: `membership events received per agent, status every ${defaultMinutes} min`,
    value: membershipPerAgentMin * toDefaultInterval,
    unit: "events/min",
    note: `measured at ${statusIntervalMs / 1000} s, scaled by ${toDefaultInterval.toPrecision(2)}`,
  },
  { figure: "catch-up sessions per agent, idle", value: catchUpPerAgentMin, unit: "sessions/min" },
  {
    figure: "new connections per agent, idle",
    value: connectsPerAgentMin,
    unit: "connects/min",
    note: `${trimmedPerAgentMin.toFixed(2)}/min closed by the connection limit`,
  },
  {
    figure: "store rows per agent now",
    value: rows.total,
    unit: "rows",
    note: `${userRows.toFixed(0)} user, ${rows.membership.toFixed(0)} membership`,
  },
  {
    figure: `membership rows per agent per hour, status every ${defaultMinutes} min`,
    value: membershipRowsPerHour,
    unit: "rows/h",
    note: "measured growth while idle, scaled (no fake clock: the Agent reads Date.now)",
  },
  {
    figure: "store rows per agent after an hour",
    value: rows.total + membershipRowsPerHour,
    unit: "rows",
    note: "now + an hour of that growth",
  },
  {
    figure: `days until membership alone fills ${MAX_EVENTS_DEFAULT} rows`,
    value: Number.isFinite(capDays) ? capDays : "never",
    unit: "days",
  },
  {
    figure: "memory per agent, resident",
    value: mb(memoryAfter.rss - memoryBefore.rss) / agents,
    unit: "MB",
    note: "processes' growth ÷ agents (code shared)",
  },
  { figure: "memory per agent, JS heap", value: mb(memoryAfter.heapUsed - memoryBefore.heapUsed) / agents, unit: "MB" },
];

function mean(list: number[]): number {
  return list.length === 0 ? NaN : list.reduce((sum, value) => sum + value, 0) / list.length;
}

const survived = idleAfter.uncaughtRejections + idleAfter.uncaughtExceptions;
if (survived > 0) {
  say(
    `the processes survived ${idleAfter.uncaughtRejections} unhandled rejections and ${idleAfter.uncaughtExceptions} uncaught exceptions: see the errors logged above`,
  );
}
say("stopping");
await fleet.stop();
const p = (q: number) => Math.round(quantile(delivery.latencies, q));
console.log(renderTable(table));
console.log(
  `sim: ${agents} agents, ${events} events, delivered ${delivery.delivered}/${delivery.expected}, duplicates ${delivery.duplicates}, p50 ${
    p(0.5)
  } ms, p99 ${p(0.99)} ms`,
);
