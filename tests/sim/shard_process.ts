/**
 * A child process of the simulator: runs one Shard, taking one JSON request
 * a line on stdin (`{ id, op, args }`) and writing one JSON reply a line on
 * stdout (`{ id, result }` or `{ id, error }`). Logs go to stderr. It exits
 * once its agents have stopped and stdin has closed, or when stdin closes
 * early (the coordinator has gone), stopping its agents first.
 */

import { lines } from "./json_lines.ts";
import { Shard, type ShardOps } from "./shard.ts";
import { setupLogging } from "../../lib/log.ts";
import { guardProcess } from "../../lib/uncaught.ts";

// As `hark run` does: a stray rejection or exception is logged and counted, and the agents keep running.
setupLogging("error");
guardProcess();

const shard = new Shard();
const encoder = new TextEncoder();
let writes = Promise.resolve();

function reply(message: unknown): void {
  const line = encoder.encode(JSON.stringify(message) + "\n");
  // One write after another, so lines never interleave.
  writes = writes.then(() => Deno.stdout.write(line)).then(() => {});
}

async function handle(line: string): Promise<void> {
  const { id, op, args } = JSON.parse(line) as { id: number; op: keyof ShardOps; args: unknown[] };
  try {
    if (typeof shard[op] !== "function") throw new Error(`unknown shard operation "${op}"`);
    // deno-lint-ignore no-explicit-any
    const result = await (shard[op] as (...args: any[]) => Promise<unknown>)(...args);
    reply({ id, result: result ?? null });
  } catch (error) {
    reply({ id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  }
}

const pending = new Set<Promise<void>>();
for await (const line of lines(Deno.stdin.readable)) {
  if (line.trim() === "") continue;
  const handled = handle(line).finally(() => pending.delete(handled));
  pending.add(handled);
}
await Promise.all(pending);
await shard.stop();
await writes;
