/** Writes one readable line per event to the agent's standard output. */

import type { HarkEvent } from "../lib/event.ts";
import type { Sink } from "./mod.ts";
import { formatEventLine } from "./format.ts";
import { writeAll } from "../lib/write_all.ts";

const encoder = new TextEncoder();

export class StdoutSink implements Sink {
  readonly name = "stdout";

  async deliver(event: HarkEvent): Promise<void> {
    await writeAll(Deno.stdout, encoder.encode(formatEventLine(event) + "\n"));
  }

  async close(): Promise<void> {}
}
