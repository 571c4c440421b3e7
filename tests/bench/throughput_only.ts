/** Just the throughput scenario, for trying a change quickly: deno run -A tests/bench/throughput_only.ts [MS] */
import { harkThroughput } from "./throughput.ts";

const result = await harkThroughput(Number(Deno.args[0] ?? 5000));
console.log(JSON.stringify({ ...result, perSecond: Math.round(result.perSecond) }));
