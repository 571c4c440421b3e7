/** Membership events between real agents: joins, a goodbye, and a machine killed with -9. */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { STORE_FILE } from "../lib/store/store.ts";
import type { HarkEvent } from "../lib/event/event.ts";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { Rogue } from "./helpers/rogue.ts";
import { waitFor } from "./helpers/wait.ts";

/** An agent whose exec sink appends every membership event's JSON (from stdin) to `file`. */
function memberConfig(peers: string[], file: string): string {
  return loopbackConfig(
    peers,
    `[membership]
leave_after = "1s"
status_interval = "1s"

[[sink]]
type = "exec"
topics = ["hark.node.*"]
concurrency = 1
command = ["sh", "-c", "cat >> '${file}'; echo >> '${file}'"]

[[sink]]
type = "file"
path = "${file}.all"
`,
  );
}

async function seen(file: string): Promise<HarkEvent[]> {
  const text = await Deno.readTextFile(file).catch(() => "");
  return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
}

const about = (event: HarkEvent) => (event.data as { peer: string }).peer;

/** Status rows per publisher in an agent's store, read beside the running agent. */
function storedStatuses(stateDir: string): { peer: string; rows: number }[] {
  const db = new DatabaseSync(`${stateDir}/${STORE_FILE}`, { readOnly: true });
  try {
    return (db.prepare(
      "SELECT publisher, COUNT(*) AS rows FROM events WHERE topic = 'hark.node.status' GROUP BY publisher ORDER BY publisher",
    ).all() as { publisher: string; rows: number }[]).map(({ publisher, rows }) => ({
      peer: publisher,
      rows: Number(rows),
    }));
  } finally {
    db.close();
  }
}

Deno.test("exec sinks see agents join, say goodbye, and vanish when killed with -9", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark-membership-" });
  const agents: AgentProcess[] = [];
  try {
    const files = ["a", "b", "c"].map((name) => `${dir}/${name}.jsonl`);
    agents.push(await startAgent({ config: memberConfig([], files[0]) }));
    for (const file of files.slice(1)) {
      agents.push(await startAgent({ config: memberConfig(agents[0].addresses, file) }));
    }
    const [a, b, c] = agents;
    const ids = agents.map((agent) => agent.peerId);

    // Everyone hears of everyone: a join, or a status for what came before it.
    await waitFor(async () => {
      for (const file of files) {
        const peers = new Set((await seen(file)).filter((event) => event.topic !== "hark.node.leave").map(about));
        if (!ids.every((id) => peers.has(id))) return false;
      }
      return true;
    }, { timeoutMs: 30_000, message: "every agent to hear of every other" });
    for (const [i, file] of files.entries()) {
      const joins = (await seen(file)).filter((event) => event.topic === "hark.node.join");
      const own = joins.find((event) => about(event) === ids[i]);
      assert.ok(own, "an agent's own sinks see its join");
      assert.equal(own.source.peer, ids[i], "a join is signed by the agent it announces");
      assert.deepEqual((own.data as { topics: string[] }).topics, ["default"]);
    }

    // kill -9: no goodbye. a and b report c gone, once between them.
    const killedAt = Date.now();
    await c.stop("SIGKILL");
    const leavesOfC = async (file: string) =>
      (await seen(file)).filter((event) => event.topic === "hark.node.leave" && about(event) === ids[2]);
    const leave = await waitFor(async () => {
      const [atA, atB] = [await leavesOfC(files[0]), await leavesOfC(files[1])];
      return atA.length > 0 && atB.length > 0 && atA[0];
    }, { timeoutMs: 30_000, message: "a and b to see c leave" });
    assert.equal((leave.data as { reason: string }).reason, "unreachable");
    assert.match(leave.title, /is unreachable$/);
    assert.ok([ids[0], ids[1]].includes(leave.source.peer), "reported by an agent that was connected to it");
    // A second report would come within a stagger (1 s per agent ranked before); wait past it by the agents' clocks.
    const quietAfter = Date.parse(leave.time) + 2_500;
    await waitFor(async () => {
      const statuses = (await seen(files[0])).filter((event) => event.topic === "hark.node.status");
      return statuses.some((event) => about(event) === ids[1] && Date.parse(event.time) > quietAfter);
    }, { timeoutMs: 20_000, message: "a status from b after the stagger" });
    assert.equal((await leavesOfC(files[0])).length, 1, "one report of c's departure");
    assert.equal((await leavesOfC(files[1])).length, 1);
    assert.ok(Date.parse(leave.time) - killedAt < 15_000, "reported within leave_after and the stagger");

    // A clean stop says goodbye itself; nobody reports b unreachable.
    await b.stop();
    const goodbye = await waitFor(async () => {
      return (await seen(files[0])).find((event) => event.topic === "hark.node.leave" && about(event) === ids[1]);
    }, { timeoutMs: 15_000, message: "a to see b say goodbye" });
    assert.equal(goodbye.source.peer, ids[1]);
    assert.equal((goodbye.data as { reason: string }).reason, "stopped");
    const afterGoodbye = Date.parse(goodbye.time) + 2_500;
    await waitFor(async () => {
      const statuses = (await seen(files[0])).filter((event) => event.topic === "hark.node.status");
      return statuses.some((event) => about(event) === ids[0] && Date.parse(event.time) > afterGoodbye);
    }, { timeoutMs: 20_000, message: "a status from a after leave_after" });
    const leavesOfB = (await seen(files[0])).filter((event) =>
      event.topic === "hark.node.leave" && about(event) === ids[1]
    );
    assert.equal(leavesOfB.length, 1, "no unreachable report after a goodbye");

    // Sinks saw every status; the store keeps each agent's newest only, so a fleet's statuses never crowd it.
    const statusesOfA = (await seen(files[0])).filter((event) =>
      event.topic === "hark.node.status" && about(event) === ids[0]
    );
    assert.ok(statusesOfA.length >= 2, `${statusesOfA.length} statuses of a seen`);
    const stored = storedStatuses(a.stateDir);
    assert.ok(stored.every(({ rows }) => rows === 1), JSON.stringify(stored));
    assert.ok([ids[0], ids[1]].every((id) => stored.some(({ peer }) => peer === id)), JSON.stringify(stored));

    // A sink that names no topics gets none of it.
    const all = await seen(`${files[0]}.all`);
    assert.deepEqual(all.filter((event) => event.topic.startsWith("hark.")), []);
    assert.equal((await a.request({ op: "status" })).ok, true);
  } finally {
    for (const agent of agents) await agent[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("membership topics are the agents' own: hark send is refused and forgeries are rejected", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark-membership-" });
  try {
    await using agent = await startAgent({ config: memberConfig([], `${dir}/events.jsonl`) });
    const sent = await agent.cli(["send", "-t", "hark.node.join", "hello"]);
    assert.equal(sent.code, 1);
    assert.match(sent.stderr, /topics starting with "hark\." are reserved for the agents' own events/);

    await using rogue = await Rogue.beside(agent);
    await rogue.join("hark.node.join", agent.peerId);
    await rogue.join("hark.node.leave", agent.peerId);
    // A join in another agent's name, and a report of its own disappearance.
    await rogue.publish(
      "hark.node.join",
      rogue.event({ topic: "hark.node.join", title: "j", data: { peer: agent.peerId, host: "x" } }),
    );
    await rogue.publish(
      "hark.node.leave",
      rogue.event({
        topic: "hark.node.leave",
        title: "l",
        data: { peer: rogue.peerId, host: "x", reason: "unreachable" },
      }),
    );
    await waitFor(async () => {
      const status = (await agent.request({ op: "status" })).status as { events: { unauthorized: number } };
      return status.events.unauthorized === 2;
    }, { message: "both forgeries to be refused as unauthorized" });
    // Its honest join is accepted: the checks are about claims, not about who may speak.
    await rogue.publish(
      "hark.node.join",
      rogue.event({ topic: "hark.node.join", title: "j", data: { peer: rogue.peerId, host: "r" } }),
    );
    const events = await waitFor(async () => {
      const all = await seen(`${dir}/events.jsonl`);
      return all.some((event) => about(event) === rogue.peerId) && all;
    }, { message: "the rogue's own join to arrive" });
    assert.deepEqual(events.filter((event) => event.source.peer === rogue.peerId).map((event) => event.topic), [
      "hark.node.join",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a member cannot report an agent that is up as gone",
  // The rogue runs libp2p inside the test process; see security_test.ts.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "hark-membership-" });
    try {
      await using a = await startAgent({ config: memberConfig([], `${dir}/a.jsonl`) });
      await using x = await startAgent({ config: memberConfig(a.addresses, `${dir}/x.jsonl`) });
      const members = async () =>
        ((await a.request({ op: "status" })).status as { members: { peer: string }[] }).members;
      await waitFor(async () => (await members()).some((member) => member.peer === x.peerId), {
        timeoutMs: 20_000,
        message: "a to know x as a member",
      });

      await using rogue = await Rogue.beside(a);
      await rogue.join("hark.node.leave", a.peerId);
      await rogue.publish(
        "hark.node.leave",
        rogue.event({
          topic: "hark.node.leave",
          title: "x is unreachable",
          data: { peer: x.peerId, host: "x", reason: "unreachable" },
        }),
      );
      await waitFor(async () => {
        const status = (await a.request({ op: "status" })).status as { events: { disputed: number } };
        return status.events.disputed === 1;
      }, { message: "the forged report to be disputed" });
      assert.ok((await members()).some((member) => member.peer === x.peerId), "x is still a member");
      const leaves = (await seen(`${dir}/a.jsonl`)).filter((event) => event.topic === "hark.node.leave");
      assert.deepEqual(leaves, [], "no sink saw x leave");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
