/**
 * Sinks with effects outside the agent (a script, a webhook) across kill -9:
 * after each crash only what was in flight runs again, and every such repeat
 * is marked, so a receiver can drop it by the event id.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { burst } from "./helpers/burst.ts";
import { waitFor } from "./helpers/wait.ts";
import { saveNetwork } from "../lib/mesh/network.ts";

/** Per event id: the repeat marks its runs or posts carried, in order. */
function byId(records: { id: string; repeat: boolean }[]): Map<string, boolean[]> {
  const runs = new Map<string, boolean[]>();
  for (const { id, repeat } of records) runs.set(id, [...(runs.get(id) ?? []), repeat]);
  return runs;
}

/** Checks what a crash may repeat; returns how many runs or posts were repeats. */
function checkRepeats(what: string, sent: string[], records: { id: string; repeat: boolean }[], bound: number): number {
  const runs = byId(records);
  assert.deepEqual([...runs.keys()].toSorted(), sent.toSorted(), `${what}: every event, none lost`);
  let repeats = 0;
  for (const [id, marks] of runs) {
    repeats += marks.length - 1;
    // Only the first run may be unmarked: each one after it came after a crash, marked.
    assert.ok(marks.filter((repeat) => !repeat).length <= 1, `${what}: an unmarked repeat of ${id}: ${marks}`);
  }
  assert.ok(repeats <= bound, `${what}: ${repeats} repeats, more than the ${bound} that could be in flight`);
  return repeats;
}

Deno.test("exec and webhook sinks repeat after kill -9 only what was in flight, marked", async () => {
  const kills = 3;
  const concurrency = 4;
  const fast = "publisher_rate = 100000\npublisher_burst = 100000";
  await using sender = await startAgent({ config: loopbackConfig([], "", fast) });

  const posts: { id: string; repeat: boolean; key: string | null }[] = [];
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const event = await request.json();
    posts.push({
      id: event.id,
      repeat: request.headers.get("X-Hark-Repeat") === "1",
      key: request.headers.get("Idempotency-Key"),
    });
    return new Response("ok");
  });

  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  await saveNetwork(stateDir, TEST_NETWORK);
  const runs = `${stateDir}/runs.log`;
  const script = `${stateDir}/on-event.sh`;
  // The line is written first, so a run killed with the agent (or not) has counted; the sleep keeps runs in flight.
  await Deno.writeTextFile(script, `#!/bin/sh\necho "$HARK_ID $HARK_REPEAT" >> "${runs}"\nsleep 0.05\n`);
  await Deno.chmod(script, 0o755);
  const config = loopbackConfig(
    sender.addresses,
    `[[sink]]
type = "exec"
command = ["${script}"]
concurrency = ${concurrency}

[[sink]]
type = "webhook"
url = "http://127.0.0.1:${server.addr.port}/hook"
`,
    fast,
  );
  let victim = await startAgent({ stateDir, config });
  try {
    await sender.waitForPeers([victim.peerId]);
    let killed = 0;
    const sent = await burst(sender, {
      count: 600,
      perSecond: 100,
      body: (i) => `e${i}`,
      between: async (count) => {
        if (count % 150 !== 0 || killed >= kills) return;
        killed++;
        victim.child.kill("SIGKILL");
        await victim.exited;
        victim = await startAgent({ stateDir, config });
      },
    });
    assert.equal(killed, kills);

    const ran = async () =>
      (await Deno.readTextFile(runs).catch(() => "")).split("\n").filter(Boolean).map((line) => {
        const [id, repeat] = line.split(" ");
        return { id, repeat: repeat === "1" };
      });
    await waitFor(async () => {
      const ids = new Set((await ran()).map((run) => run.id));
      const posted = new Set(posts.map((post) => post.id));
      return sent.every((id) => ids.has(id) && posted.has(id));
    }, { timeoutMs: 60_000, intervalMs: 200, message: "every event run and posted" });
    // The runs still going finish, so none is counted twice nor missed.
    await victim.stop();

    const execRepeats = checkRepeats("exec", sent, await ran(), kills * concurrency);
    // Runs take longer than events come, so some are always going at a kill: the marks were put to the test.
    assert.ok(execRepeats > 0, "some exec runs were in flight at a kill");
    // A webhook sink posts one event at a time.
    checkRepeats("webhook", sent, posts, kills);
    for (const post of posts) assert.equal(post.key, post.id, "Idempotency-Key is the event id");
  } finally {
    await victim[Symbol.asyncDispose]();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
});
