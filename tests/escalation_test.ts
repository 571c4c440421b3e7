/**
 * `[[escalate]]` across three real agents: an urgent event nobody
 * acknowledges is escalated to `oncall` exactly once mesh-wide, by the
 * lowest live agent, which the escalated event names; an ack before the
 * deadline prevents it; and when the would-be firer is killed (kill -9)
 * just before its deadline, another agent fires it, still once.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { MIN_DELAY_ENV } from "../lib/event/due.ts";
import { byPeerId, escalationConfig, escalations, type EscalationStats, oncall } from "./helpers/escalation.ts";

const AFTER_MS = 5_000;

function config(host: string, peers: string[] = []): string {
  // Members learn of each other within a second, whichever joined first.
  return escalationConfig(host, peers, AFTER_MS).replace(
    "[network]",
    `[membership]\nstatus_interval = "1s"\n\n[network]`,
  );
}

async function members(agent: AgentProcess): Promise<number> {
  const { status } = await agent.request({ op: "status" });
  return (status as { members: unknown[] }).members.length;
}

/** Three agents in a full mesh, each knowing the other two as members. */
async function startThree(): Promise<AgentProcess[]> {
  const agents: AgentProcess[] = [];
  try {
    agents.push(await startAgent({ config: config("host-a") }));
    agents.push(await startAgent({ config: config("host-b", agents[0].addresses) }));
    agents.push(await startAgent({ config: config("host-c", [...agents[0].addresses, ...agents[1].addresses]) }));
    for (const agent of agents) {
      await agent.waitForPeers(agents.filter((other) => other !== agent).map((other) => other.peerId), "alerts");
      await waitFor(async () => (await members(agent)) === 2, { timeoutMs: 20_000, message: "members known" });
    }
    return agents;
  } catch (error) {
    for (const agent of agents) await agent[Symbol.asyncDispose]();
    throw error;
  }
}

/** Until no agent has an escalation waiting: nothing can fire any more. */
async function settled(agents: AgentProcess[]): Promise<EscalationStats[]> {
  return await waitFor(async () => {
    const stats = await Promise.all(agents.map(escalations));
    return stats.every((s) => s.pending === 0) && stats;
  }, { timeoutMs: AFTER_MS + 15_000, message: "escalation timers to settle" });
}

Deno.test("an unacknowledged urgent event is escalated exactly once among three agents, by the lowest live one", async () => {
  const agents = await startThree();
  await using _a = agents[0];
  await using _b = agents[1];
  await using c = agents[2];
  const id = await c.send(["-t", "alerts", "-p", "urgent", "--title", "disk full", "db01 at 99%"]);
  for (const agent of agents) {
    await waitFor(async () => (await oncall(agent)).length > 0, { timeoutMs: AFTER_MS + 15_000, message: "oncall" });
  }
  const stats = await settled(agents);
  assert.equal(stats.reduce((sum, s) => sum + s.fired_here, 0), 1, JSON.stringify(stats));
  const lowest = byPeerId(agents)[0];
  for (const agent of agents) {
    const escalated = await oncall(agent);
    assert.equal(escalated.length, 1, "one escalated event on every agent");
    const [event] = escalated;
    assert.equal(event.sequence, `esc-${id}`);
    assert.equal(event.priority, 5);
    assert.match(event.title, /Escalated: disk full/);
    const data = event.data as { escalated: { id: string }; taken_by: { peer: string; host: string } };
    assert.equal(data.escalated.id, id);
    // The lowest live peer id takes it, and the event says so.
    assert.equal(data.taken_by.peer, lowest.peerId);
    assert.equal(event.source.peer, lowest.peerId);
    const s = await escalations(agent);
    assert.equal(s.fired_here + s.taken_by_others, 1);
  }
  const status = await c.cli(["status"]);
  assert.match(status.stdout, /escalate: .*last: .* taken by host-/);
});

Deno.test("an ack before the deadline prevents the escalation on every agent", async () => {
  const agents = await startThree();
  await using a = agents[0];
  await using b = agents[1];
  await using _c = agents[2];
  const id = await a.send(["-t", "alerts", "-p", "urgent", "--title", "disk full", "db02 at 99%"]);
  await b.waitForEvents([id]);
  const ack = await b.cli(["ack", id]);
  assert.equal(ack.code, 0, ack.stderr);
  await Promise.all(agents.map((agent) => agent.waitForEvents([ack.stdout.trim()])));
  // Every timer has run out (past the deadline) and none fired.
  const stats = await settled(agents);
  assert.deepEqual(stats.map((s) => s.fired_here + s.taken_by_others), [0, 0, 0]);
  for (const agent of agents) assert.deepEqual(await oncall(agent), []);
});

Deno.test("the would-be firer killed (kill -9) just before its deadline: another agent escalates, still once", async () => {
  const agents = await startThree();
  await using _a = agents[0];
  await using _b = agents[1];
  await using _c = agents[2];
  const [lowest, ...rest] = byPeerId(agents);
  const id = await rest[0].send(["-t", "alerts", "-p", "urgent", "--title", "disk full", "db03 at 99%"]);
  const [sent] = (await rest[0].waitForEvents([id])).filter((event) => event.id === id);
  await lowest.waitForEvents([id]);
  // A second before its deadline, the agent that would take the escalation dies without a word.
  const killAt = Date.parse(sent.time) + AFTER_MS - 1_000;
  await waitFor(() => Date.now() >= killAt, { timeoutMs: AFTER_MS + 5_000, intervalMs: 10 });
  assert.equal((await escalations(lowest)).fired_here, 0, "killed before it fired");
  await lowest.stop("SIGKILL");

  for (const agent of rest) {
    await waitFor(async () => (await oncall(agent)).length > 0, { timeoutMs: 20_000, message: "oncall after kill" });
  }
  const stats = await settled(rest);
  assert.equal(stats.reduce((sum, s) => sum + s.fired_here, 0), 1, JSON.stringify(stats));
  for (const agent of rest) {
    const escalated = await oncall(agent);
    assert.equal(escalated.length, 1);
    const data = escalated[0].data as { taken_by: { peer: string } };
    assert.notEqual(data.taken_by.peer, lowest.peerId);
    assert.ok(rest.some((other) => other.peerId === data.taken_by.peer));
  }
});

Deno.test("a scheduled urgent event is escalated `after` its due time, not `after` it was published", async () => {
  // The test-only lower bound lets a 5 s delay stand in for one over the 10 s minimum.
  const env = { [MIN_DELAY_ENV]: "1000" };
  const rule = `[agent]\ntopics = ["alerts", "oncall"]\n\n[[escalate]]\ntopics = ["alerts"]\nafter = "2s"\n` +
    `publish = { topic = "oncall" }\n`;
  await using a = await startAgent({ config: loopbackConfig([], rule), env });
  // Due 5 s from now: counted from its publish time, its 2 s deadline would be 3 s past when it is delivered.
  const sent = await a.cli(["send", "-t", "alerts", "-p", "urgent", "--delay", "5s", "--title", "disk full", "x"], {
    env,
  });
  assert.equal(sent.code, 0, sent.stderr);
  const id = sent.stdout.trim();
  const [escalated] = await waitFor(async () => {
    const found = await oncall(a);
    return found.length > 0 && found;
  }, { timeoutMs: 20_000, message: "the scheduled event to be escalated" });
  const original = (await a.events()).find((event) => event.id === id)!;
  assert.equal((escalated.data as { escalated: { id: string } }).escalated.id, id);
  assert.ok(
    Date.parse(escalated.time) >= Date.parse(original.due!) + 2_000,
    `escalated at ${escalated.time}, before its due time ${original.due} plus after`,
  );
});
