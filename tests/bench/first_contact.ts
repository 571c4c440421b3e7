/**
 * What catching up costs the first time two agents meet, when both already
 * hold the same events: the responder offers the keys of everything it
 * stores on the topics (it does not know what the requester has), and the
 * requester looks each one up. Later sessions with the same peer start from
 * the point reached, so this is paid once per pair of agents, and it is what
 * a fleet pays for every new connection.
 *
 *   deno run -A tests/bench/first_contact.ts [--events N]
 *
 * Prints the wall time of the first session and the CPU both agents spent
 * on it (one process, so the sum of both sides). Bounded: one session, a
 * deadline of two minutes.
 */

import { parseArgs } from "node:util";
import { DatabaseSync } from "node:sqlite";
import { cpuUsage } from "node:process";
import { Agent } from "../../lib/agent.ts";
import { parseConfig, resolveConfig } from "../../lib/config/config.ts";
import { newNetwork, saveNetwork } from "../../lib/mesh/network.ts";
import { EventStore } from "../../lib/store/store.ts";
import { createEvent } from "../../lib/event/event.ts";
import { monotonicUlid } from "../../lib/event/ulid.ts";
import { waitFor } from "../helpers/wait.ts";

const { values } = parseArgs({ args: Deno.args, options: { events: { type: "string", default: "100000" } } });
const count = Number(values.events);
if (!Number.isInteger(count) || count < 1) {
  console.error(`first_contact: --events must be a whole number of at least 1, not "${values.events}"`);
  Deno.exit(2);
}

const TOPIC = "bench";
// A publisher neither agent is: the rows only need a key to offer and look up.
const PUBLISHER = "12D3KooWBenchPublisherNotARealPeerxxxxxxxxxxxxxxxx";
const root = await Deno.makeTempDir({ prefix: "hark-first-contact-" });
const network = newNetwork("bench");

function configText(name: string, peers: string[]): string {
  return `[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
mdns = false
peers = ${JSON.stringify(peers)}

[agent]
host = "${name}"
topics = ["${TOPIC}"]
`;
}

async function prepare(name: string, events: ReturnType<typeof createEvent>[]): Promise<string> {
  const stateDir = `${root}/${name}`;
  await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
  await saveNetwork(stateDir, network);
  const store = EventStore.open(stateDir, { maxEvents: count * 2, maxEventsPerPublisher: count * 2 });
  try {
    for (const event of events) store.append(event, 0);
    store.commit();
  } finally {
    store.close();
  }
  return stateDir;
}

async function start(name: string, stateDir: string, peers: string[]): Promise<Agent> {
  const config = resolveConfig(parseConfig(configText(name, peers), name), { host: name, stateDir });
  const agent = new Agent({ config, stateDir, drainMs: 200 });
  await agent.start();
  return agent;
}

const now = Date.now();
const ulid = monotonicUlid();
const events = Array.from(
  { length: count },
  (_, i) =>
    createEvent({ topic: TOPIC, body: `event ${i}` }, { id: ulid(), now: now - 1000, host: "x", peer: PUBLISHER }),
);
const dirA = await prepare("a", events);
const dirB = await prepare("b", events);
const agents: Agent[] = [];
try {
  const a = await start("a", dirA, []);
  agents.push(a);
  const topSeq =
    (new DatabaseSync(`${dirA}/events.db`, { readOnly: true }).prepare("SELECT max(seq) AS seq FROM events")
      .get() as { seq: number }).seq;
  const cpuBefore = cpuUsage();
  const started = performance.now();
  const b = await start("b", dirB, a.addresses);
  agents.push(b);
  const syncs = new DatabaseSync(`${dirB}/events.db`, { readOnly: true });
  const reached = () =>
    (syncs.prepare("SELECT seq FROM syncs WHERE peer LIKE ?").get(`${a.peerId} %`) as { seq: number } | undefined)
      ?.seq ?? 0;
  await waitFor(() => reached() >= topSeq, { message: "the first session to cover everything", timeoutMs: 120_000 });
  const wallMs = performance.now() - started;
  const cpu = cpuUsage(cpuBefore);
  syncs.close();
  console.log(
    `first contact with ${count} events on both sides: ${Math.round(wallMs)} ms wall, ` +
      `${Math.round((cpu.user + cpu.system) / 1000)} ms CPU for both agents (start-up of the second included)`,
  );
} finally {
  await Promise.all(agents.map((agent) => agent.stop()));
  await Deno.remove(root, { recursive: true });
}
