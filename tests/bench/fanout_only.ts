/**
 * Just hark's fan-out scenario at one size, for trying a change quickly:
 *
 *   deno run -A tests/bench/fanout_only.ts [N] [EVENTS]
 */
import { HarkCluster } from "./clusters.ts";
import { measureFanout } from "./fanout.ts";

const size = Number(Deno.args[0] ?? 30);
const events = Number(Deno.args[1] ?? 100);
const cluster = await HarkCluster.start(size);
try {
  const result = await measureFanout(cluster, { events, spacingMs: 100, deadlineMs: 15_000 });
  console.log(JSON.stringify({ size, ...result }));
} finally {
  await cluster.stop();
}
