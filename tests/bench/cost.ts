/** The cost of one publish command: wall time and peak RSS of the process. */

import { median } from "./stats.ts";

export interface SendCost {
  wallMs: number;
  rssMb: number;
}

/** Runs `argv` `runs` times under GNU time; medians of wall time and max RSS. */
export async function measureSendCost(argv: () => string[], runs: number): Promise<SendCost> {
  const walls: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const output = await new Deno.Command("/usr/bin/time", {
      args: ["-f", "%M", ...argv()],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    walls.push(performance.now() - start);
    const text = new TextDecoder().decode(output.stderr).trim().split("\n");
    if (!output.success) throw new Error(`${argv().join(" ")} failed: ${text.join(" ")}`);
    rss.push(Number(text.at(-1)) / 1024);
  }
  return { wallMs: median(walls), rssMb: median(rss) };
}
