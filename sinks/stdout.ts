/**
 * Writes one readable line per event to the agent's standard output. A
 * backlog of old events (after a restart) becomes one summary line.
 */

import type { HarkEvent } from "../lib/event/event.ts";
import type { Sink } from "./sink.ts";
import { formatEventLine, stripControls } from "./format.ts";
import { writeAll } from "../lib/util/write_all.ts";
import { AwayGate, type AwayInit } from "./away.ts";

const encoder = new TextEncoder();

export interface StdoutSinkInit extends AwayInit {
  /** Where lines go. @default standard output */
  write?: (text: string) => Promise<void>;
}

export class StdoutSink implements Sink {
  readonly name = "stdout";
  #gate: AwayGate;

  constructor(init: StdoutSinkInit) {
    const write = init.write ?? ((text: string) => writeAll(Deno.stdout, encoder.encode(text)));
    this.#gate = new AwayGate(init, {
      events: (events) => write(events.map((event) => formatEventLine(event) + "\n").join("")),
      summary: (text) => write(stripControls(text) + "\n"),
    });
  }

  async deliver(event: HarkEvent): Promise<void> {
    await this.#gate.offer(event);
  }

  async close(): Promise<void> {
    await this.#gate.flush();
  }
}
