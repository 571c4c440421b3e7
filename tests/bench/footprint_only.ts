/**
 * Just the idle footprint of three agents on loopback, each with the other
 * two as peers (the agent issue 32 measures), for trying a change quickly:
 *
 *   deno run -A tests/bench/footprint_only.ts [WINDOW_S]
 *
 * Prints, once the mesh has settled, the medians and each agent's RSS,
 * anonymous memory (RssAnon) and the agent's own view of its V8 heap.
 */
import { startHarkAgents } from "./clusters.ts";
import { anonymousMb, measureIdle, rssMb, settle } from "./footprint.ts";
import { FIRST_TRIM_MS } from "../../lib/heap_trim.ts";

const windowMs = Number(Deno.args[0] ?? 10) * 1000;
/** lib/heap_trim.ts gives start-up's heap back 30 s after an agent starts: an idle agent is measured after that. */
const TRIMMED_AFTER_MS = FIRST_TRIM_MS + 2000;
const agents = await startHarkAgents(3);
const lastStarted = performance.now();
try {
  const pids = agents.map((agent) => agent.child.pid);
  const settledMs = await settle(pids, { deadlineMs: 60_000 });
  const untilTrimmed = lastStarted + TRIMMED_AFTER_MS - performance.now();
  if (untilTrimmed > 0) await new Promise((resolve) => setTimeout(resolve, untilTrimmed));
  const idle = await measureIdle(pids, windowMs);
  const each = await Promise.all(agents.map(async (agent) => ({
    rssMb: await rssMb(agent.child.pid),
    anonymousMb: await anonymousMb(agent.child.pid),
    // heap_mb is V8's heap as committed; external_mb the buffers V8 tracks outside it.
    ...((await agent.request({ op: "status" })).status as { memory: Record<string, number> }).memory,
  })));
  console.log(JSON.stringify({ settledMs: settledMs && Math.round(settledMs), ...idle, each }));
} finally {
  await Promise.all(agents.map((agent) => agent[Symbol.asyncDispose]()));
}
