/**
 * `[[escalate]]` across restarts, with the default membership intervals
 * (a status every 5 minutes), so no agent learns of the others from a
 * timely status: an agent killed (kill -9) and restarted before its deadline
 * fires from what its store holds, and an agent restarted just before a
 * deadline ranks itself among the agents it is connected to, even those it
 * has not heard announce themselves yet. Each time exactly one escalation
 * mesh-wide.
 */

import assert from "node:assert/strict";
import { type AgentProcess, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { byPeerId, escalationConfig, escalations, type EscalationStats, oncall } from "./helpers/escalation.ts";

/** Long enough for a restart on a busy machine to finish before the deadline. */
const AFTER_MS = 20_000;

function config(host: string, peers: string[] = []): string {
  return escalationConfig(host, peers, AFTER_MS);
}

/** Three agents in a full mesh, each seeing the other two on `alerts`. */
async function startThree(agents: AgentProcess[]): Promise<void> {
  agents.push(await startAgent({ config: config("host-a") }));
  agents.push(await startAgent({ config: config("host-b", agents[0].addresses) }));
  agents.push(await startAgent({ config: config("host-c", [...agents[0].addresses, ...agents[1].addresses]) }));
  await meshed(agents);
}

async function meshed(agents: AgentProcess[]): Promise<void> {
  for (const agent of agents) {
    await agent.waitForPeers(agents.filter((other) => other !== agent).map((other) => other.peerId), "alerts", 30_000);
  }
}

/** Kills `agent` without a word and starts it again on its state dir, dialing `others`. */
async function killAndRestart(agent: AgentProcess, others: AgentProcess[], host: string): Promise<AgentProcess> {
  await agent.stop("SIGKILL");
  const restarted = await startAgent({
    stateDir: agent.stateDir,
    config: config(host, others.flatMap((other) => other.addresses)),
  });
  assert.equal(restarted.peerId, agent.peerId, "the same agent again");
  return restarted;
}

/** Until no live agent has an escalation waiting; then the total fired mesh-wide. */
async function firedMeshWide(agents: AgentProcess[]): Promise<EscalationStats[]> {
  return await waitFor(async () => {
    const stats = await Promise.all(agents.map(escalations));
    return stats.every((s) => s.pending === 0) && stats;
  }, { timeoutMs: AFTER_MS + 20_000, message: "escalation timers to settle" });
}

async function disposeAll(agents: AgentProcess[]): Promise<void> {
  // Newest first: a restarted agent stops before its killed predecessor removes their state dir.
  for (const agent of [...agents].reverse()) await agent[Symbol.asyncDispose]();
}

Deno.test("the agent that would escalate, killed (kill -9) and restarted before its deadline, escalates once from its store", async () => {
  const agents: AgentProcess[] = [];
  try {
    await startThree(agents);
    const [lowest, ...rest] = byPeerId(agents);
    const id = await rest[0].send(["-t", "alerts", "-p", "urgent", "--title", "disk full", "db04 at 99%"]);
    const [sent] = (await lowest.waitForEvents([id])).filter((event) => event.id === id);
    const deadline = Date.parse(sent.time) + AFTER_MS;

    const restarted = await killAndRestart(lowest, rest, "host-lowest");
    agents.push(restarted);
    const live = [restarted, ...rest];
    await meshed(live);
    assert.ok(Date.now() < deadline - 2_000, "restarted and meshed well before the deadline");
    // The timer came back from the store, before any event arrived again.
    assert.equal((await escalations(restarted)).pending, 1, "the restarted agent waits for the deadline");

    await Promise.all(live.map((agent) =>
      waitFor(async () => (await oncall(agent)).length > 0, {
        timeoutMs: AFTER_MS + 20_000,
        message: "oncall",
      })
    ));
    const stats = await firedMeshWide(live);
    assert.deepEqual(stats.map((s) => s.fired_here), [1, 0, 0], JSON.stringify(stats));
    for (const agent of live) {
      const escalated = await oncall(agent);
      assert.equal(escalated.length, 1, "one escalated event on every agent");
      assert.equal((escalated[0].data as { escalated: { id: string } }).escalated.id, id);
      assert.equal(escalated[0].source.peer, lowest.peerId);
    }
  } finally {
    await disposeAll(agents);
  }
});

Deno.test("an agent restarted just before a deadline ranks itself among the agents it is connected to: one escalation", async () => {
  const agents: AgentProcess[] = [];
  try {
    await startThree(agents);
    const [lowest, middle, highest] = byPeerId(agents);
    const id = await lowest.send(["-t", "alerts", "-p", "urgent", "--title", "disk full", "db05 at 99%"]);
    const [sent] = (await highest.waitForEvents([id])).filter((event) => event.id === id);
    const deadline = Date.parse(sent.time) + AFTER_MS;

    // Back with no member announced to it: the others' joins are already in its
    // store, and their next status is 5 minutes away.
    const restarted = await killAndRestart(highest, [lowest, middle], "host-highest");
    agents.push(restarted);
    const live = [lowest, middle, restarted];
    await meshed(live);
    assert.ok(Date.now() < deadline - 2_000, "restarted and meshed well before the deadline");

    const stats = await firedMeshWide(live);
    assert.deepEqual(stats.map((s) => s.fired_here), [1, 0, 0], JSON.stringify(stats));
    for (const agent of live) {
      await waitFor(async () => (await oncall(agent)).length > 0, { timeoutMs: 10_000, message: "oncall" });
      assert.equal((await oncall(agent)).length, 1, "one escalated event on every agent");
    }
  } finally {
    await disposeAll(agents);
  }
});
