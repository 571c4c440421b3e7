/**
 * A real `hark run` process survives rejections nothing handled and
 * exceptions thrown out of callbacks: it logs each at error level, counts it
 * in `hark status` and `GET /metrics`, and goes on delivering. The faults are
 * injected from outside hark's code, by a module `deno run --preload`s
 * before main.ts (tests/helpers/stray_errors_preload.ts).
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";

const PRELOAD = new URL("./helpers/stray_errors_preload.ts", import.meta.url).pathname;

Deno.test("hark run survives an unhandled null rejection and an uncaught null, logs and counts them", async () => {
  const http = `[[sink]]\ntype = "file"\n\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`;
  await using agent = await startAgent({ config: loopbackConfig([], http), denoFlags: [`--preload=${PRELOAD}`] });

  agent.child.kill("SIGUSR2");
  type Uncaught = { rejections: number; exceptions: number };
  const uncaught = await waitFor(async () => {
    if (!agent.running) throw new Error(`the agent died:\n${agent.stderr}`);
    const reply = await agent.request({ op: "status" });
    const status = reply.status as { uncaught: Uncaught };
    return status.uncaught.rejections + status.uncaught.exceptions === 3 && status.uncaught;
  }, { message: `the agent to count three uncaught failures\n${agent.stderr}` });
  assert.deepEqual(uncaught, { rejections: 2, exceptions: 1 });

  // The log says what happened, with what there is: the Error's stack, or the value and that it has none.
  const errors = agent.stderr.split("\n").filter((line) => line.includes("[ERR] hark·process"));
  assert.equal(errors.length, 3, agent.stderr);
  assert.ok(
    errors.some((line) =>
      line.includes("A promise was rejected and nothing handled it: null (not an Error, so it carries no stack)")
    ),
    agent.stderr,
  );
  assert.ok(
    errors.some((line) =>
      /A promise was rejected and nothing handled it: TypeError: a stray rejection the test left unhandled.*at /
        .test(line)
    ),
    agent.stderr,
  );
  assert.ok(
    errors.some((line) =>
      line.includes("An exception escaped a callback: null (not an Error, so it carries no stack)")
    ),
    agent.stderr,
  );
  assert.ok(errors.every((line) => line.includes("The agent keeps running") && line.includes("please report it")));

  // Still an agent: it takes an event and delivers it, and its metrics and status show what it survived.
  const id = await agent.send(["after the stray errors"]);
  await agent.waitForEvents([id]);
  const reply = await agent.request({ op: "status" });
  const status = reply.status as { sources: { name: string; listen: string }[] };
  const listen = status.sources.find((source) => source.name === "http")!.listen;
  const metrics = await (await fetch(`http://${listen}/metrics`)).text();
  assert.match(metrics, /^hark_uncaught_errors_total\{kind="rejection"\} 2$/m);
  assert.match(metrics, /^hark_uncaught_errors_total\{kind="exception"\} 1$/m);
  const shown = await agent.cli(["status"]);
  assert.match(shown.stdout, /^uncaught: +2 unhandled rejections, 1 uncaught exceptions, survived/m);

  assert.equal((await agent.stop()).code, 0, agent.stderr);
});
