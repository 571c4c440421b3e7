/**
 * The fleet simulator end to end at a size a test can afford: five real
 * agents in one process, every event delivered once to every follower,
 * and the table's last line in the form docs/scale.md quotes.
 */

import assert from "node:assert/strict";

const SIM = new URL("./sim/main.ts", import.meta.url).pathname;

Deno.test("deno task sim --agents 5 delivers every event once and ends with its summary line", async (t) => {
  for (const topology of ["lan", "subnets", "relay"]) {
    await t.step(topology, async () => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          SIM,
          "--agents",
          "5",
          "--events",
          "10",
          "--topology",
          topology,
          "--idle",
          "2",
          "--status-interval",
          "2",
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(90_000),
      }).output();
      const stdout = new TextDecoder().decode(output.stdout);
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      const last = stdout.trimEnd().split("\n").at(-1)!;
      const match = last.match(
        /^sim: 5 agents, 10 events, delivered (\d+)\/(\d+), duplicates (\d+), p50 (\d+) ms, p99 (\d+) ms$/,
      );
      assert.ok(match, `last line: ${last}`);
      const [, delivered, expected, duplicates, p50, p99] = match.map(Number);
      // Ten events, each to the four agents besides its publisher.
      assert.equal(expected, 40);
      assert.equal(delivered, 40);
      assert.equal(duplicates, 0);
      assert.ok(p50 <= p99);
      assert.match(stdout, /\| connections per agent, mean +\| \d/);
    });
  }
});
