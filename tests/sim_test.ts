/**
 * The fleet simulator end to end at a size a test can afford: five real
 * agents in one process in each topology, six spread over two processes,
 * every event delivered once to every follower, and the table's last line
 * in the form docs/scale.md quotes.
 */

import assert from "node:assert/strict";

const SIM = new URL("./sim/main.ts", import.meta.url).pathname;

async function sim(agents: number, options: string[]): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      SIM,
      "--agents",
      String(agents),
      "--events",
      "10",
      // One-second status rounds and idling: the idle figures exist, and the run stays short.
      "--idle",
      "1",
      ...(options.includes("--status-interval") ? [] : ["--status-interval", "1"]),
      ...options,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(90_000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return stdout;
}

/** Checks the summary line: ten events, each delivered once to the agents besides its publisher. */
function assertEveryEventOnce(stdout: string, agents: number): void {
  const last = stdout.trimEnd().split("\n").at(-1)!;
  const match = last.match(
    new RegExp(
      `^sim: ${agents} agents, 10 events, delivered (\\d+)/(\\d+), duplicates (\\d+), p50 (\\d+) ms, p99 (\\d+) ms$`,
    ),
  );
  assert.ok(match, `last line: ${last}`);
  const [, delivered, expected, duplicates, p50, p99] = match.map(Number);
  assert.equal(expected, 10 * (agents - 1));
  assert.equal(delivered, expected);
  assert.equal(duplicates, 0);
  assert.ok(p50 <= p99);
  assert.match(stdout, /\| connections per agent, mean +\| \d/);
}

Deno.test("deno task sim --agents 5 --procs 1 delivers every event once and ends with its summary line", async (t) => {
  for (const topology of ["lan", "subnets", "relay"]) {
    await t.step(topology, async () => {
      assertEveryEventOnce(await sim(5, ["--procs", "1", "--topology", topology]), 5);
    });
  }
});

Deno.test("deno task sim --agents 6 --procs 2 runs the agents in two processes and gathers one table", async () => {
  const stdout = await sim(6, ["--procs", "2", "--topology", "subnets"]);
  assertEveryEventOnce(stdout, 6);
  assert.match(stdout, /\| agents up +\| 6 +\| agents +\| subnets, 2 process\(es\)/);
  // Bytes and CPU are summed over the child processes: the parent runs no agent and would show none.
  const bytes = stdout.match(/\| bytes sent per agent per event +\| (\d+)/);
  assert.ok(bytes && Number(bytes[1]) > 0, stdout);
});

Deno.test("deno task sim --settle waits for a quiet fleet before it publishes, and says how long that took", async () => {
  // Windows of a quarter of 20 s: the first has the start's catch-up sessions, a later one none.
  const stdout = await sim(5, ["--procs", "1", "--settle", "20"]);
  assertEveryEventOnce(stdout, 5);
  const settled = stdout.match(/published once settled after (\d+) s/);
  assert.ok(settled, stdout);
  assert.ok(Number(settled[1]) >= 5 && Number(settled[1]) < 20, settled[0]);
});

Deno.test("deno task sim --topics 8: followers of each topic find each other, and every event reaches every follower", async () => {
  // 40 agents in subnets of 10, each following one of 8 topics: a subnet's agents follow different topics, and
  // neither mDNS nor peer exchange looks at topics. Without lib/connect/topic_peers.ts 107 of 160 arrived.
  const stdout = await sim(40, ["--procs", "1", "--topology", "subnets", "--topics", "8", "--status-interval", "20"]);
  const last = stdout.trimEnd().split("\n").at(-1)!;
  const match = last.match(/^sim: 40 agents, 10 events, delivered (\d+)\/(\d+), duplicates 0, /);
  assert.ok(match, `last line: ${last}`);
  // Each event reaches the other 4 followers of its topic.
  assert.equal(Number(match[2]), 10 * 4);
  assert.equal(match[1], match[2], stdout);
});

Deno.test("deno task sim --topics 8 --follow ntfy: topics followed on the fly are announced, and their followers find each other", async () => {
  // As above, but no agent names its topic in its config: an ntfy client subscribes to it on the agent's http source.
  // The agents announce the topics they take up in a status (Membership.factsChanged); without it their joins name
  // only "default", no follower learns of another, and events reach only the followers that happen to be connected.
  const stdout = await sim(40, [
    "--procs",
    "1",
    "--topology",
    "subnets",
    "--topics",
    "8",
    "--follow",
    "ntfy",
    "--status-interval",
    "20",
  ]);
  const last = stdout.trimEnd().split("\n").at(-1)!;
  const match = last.match(/^sim: 40 agents, 10 events, delivered (\d+)\/(\d+), duplicates 0, /);
  assert.ok(match, `last line: ${last}`);
  assert.equal(Number(match[2]), 10 * 4);
  assert.equal(match[1], match[2], stdout);
});
