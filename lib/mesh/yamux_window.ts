/**
 * Yamux window updates once half a window is used, as Go's yamux and the
 * yamux spec's reference implementation do, instead of after every frame.
 *
 * js-yamux answers each data frame it reads with a window update frame. On a
 * gossip connection nearly every frame is one small message, so every
 * message received cost a second frame sent back: a Noise encryption, a pnet
 * encryption and a socket write, a tenth of a receiver's CPU at 30 agents.
 * Updating only when less than half the window is left lets the sender go on
 * (it has the other half) and keeps js-yamux's window auto-tuning, which
 * runs when an update is sent.
 *
 * This replaces one method of `YamuxStream`; `applied` says whether the
 * class still looks as expected, and a test fails when an upgrade changes it.
 */

import { StreamState, YamuxStream } from "./libp2p.ts";

/** The private fields read here; checked at load so a changed class is noticed, not misread. */
interface WindowFields {
  state: StreamState;
  recvWindow: number;
  recvWindowCapacity: number;
}

const prototype = YamuxStream.prototype as unknown as { sendWindowUpdate(this: WindowFields): void };
const eager = prototype.sendWindowUpdate;

export const applied: boolean = typeof eager === "function" && StreamState.Established !== undefined;

if (applied) {
  prototype.sendWindowUpdate = function sendWindowUpdate(this: WindowFields): void {
    // Opening and closing streams carry flags on the update: never held back.
    const steady = this.state === StreamState.Established && typeof this.recvWindowCapacity === "number";
    if (steady && this.recvWindowCapacity >= this.recvWindow / 2) return;
    eager.call(this);
  };
}
