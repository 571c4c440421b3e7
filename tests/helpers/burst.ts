/**
 * A bounded burst of events from one agent, published as fast as its control
 * socket takes them, with a hook that may kill and restart a receiver while
 * the burst runs. Tests of crash recovery share it.
 */

import assert from "node:assert/strict";
import { ControlClient } from "../../lib/control/client.ts";
import type { AgentProcess } from "./hark.ts";

export interface BurstOptions {
  count: number;
  /** The body of event `i`. */
  body: (i: number) => string;
  /** Requests in flight on the control socket. @default 32 */
  window?: number;
  /** Called after every `every` answers; may kill and restart a receiver. */
  between?: (sent: number) => Promise<void>;
  /** @default 50 */
  every?: number;
  /** Events a second at most; unlimited when undefined. */
  perSecond?: number;
}

/** Publishes `count` events from `sender`; returns their ids in order of the answers. */
export async function burst(sender: AgentProcess, options: BurstOptions): Promise<string[]> {
  await using client = await ControlClient.connect(sender.stateDir);
  const window = options.window ?? 32;
  const every = options.every ?? 50;
  const started = Date.now();
  const sent: string[] = [];
  let inFlight = 0;
  const collect = async () => {
    const reply = await client.next();
    assert.equal(reply.ok, true, String(reply.error));
    sent.push(reply.id as string);
    inFlight--;
    if (sent.length % every === 0) await options.between?.(sent.length);
  };
  for (let i = 0; i < options.count;) {
    while (inFlight < window && i < options.count) {
      if (options.perSecond !== undefined) {
        // Paced by the clock: event i goes no earlier than i / perSecond s after the start.
        const due = started + (i * 1000) / options.perSecond;
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      }
      await client.send({ op: "send", event: { body: options.body(i++) } });
      inFlight++;
    }
    await collect();
  }
  while (inFlight > 0) await collect();
  return sent;
}
