/**
 * `/hark/clock/1.0.0`: "what time is it there?" The peer answers with its
 * clock in one frame; the asker halves the round trip to estimate how far
 * the peer's clock is from its own. Catch-up never depends on clocks, but
 * event times, `--since` and sinks' `max_age` do, so `hark doctor` reports
 * skew against peers.
 */

import type { Libp2p, PeerId } from "@libp2p/interface";
import { lpStream } from "../mesh/libp2p.ts";
import { readJsonFrame, writeJsonFrame } from "../mesh/json_frame.ts";

export const CLOCK_PROTOCOL = "/hark/clock/1.0.0";
const MAX_FRAME_BYTES = 64;
const TIMEOUT_MS = 3000;

export interface ClockReading {
  peer: string;
  /** The peer's clock minus this agent's, in ms (positive: the peer is ahead). */
  skewMs: number;
  /** The round trip the estimate rests on; the skew is exact to within half of it. */
  rttMs: number;
}

export async function serveClock(node: Libp2p): Promise<void> {
  await node.handle(CLOCK_PROTOCOL, async (stream) => {
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
      await writeJsonFrame(lp, Date.now(), AbortSignal.timeout(TIMEOUT_MS));
      await stream.close({ signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (error) {
      stream.abort(error as Error);
    }
  }, { maxInboundStreams: 2, runOnLimitedConnection: true });
}

/** Reads `peer`'s clock; rejects when it does not answer in time or answers nonsense. */
export async function readClock(node: Libp2p, peer: PeerId, now: () => number = Date.now): Promise<ClockReading> {
  const signal = AbortSignal.timeout(TIMEOUT_MS);
  const sent = now();
  const stream = await node.dialProtocol(peer, CLOCK_PROTOCOL, { signal, runOnLimitedConnection: true });
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
    const theirs = await readJsonFrame(lp, signal);
    const received = now();
    await stream.close({ signal }).catch(() => {});
    if (typeof theirs !== "number" || !Number.isSafeInteger(theirs) || theirs <= 0) {
      throw new Error(`${peer} sent a clock reading that is not a time`);
    }
    const rttMs = received - sent;
    return { peer: peer.toString(), skewMs: Math.round(theirs - (sent + rttMs / 2)), rttMs };
  } catch (error) {
    stream.abort(error as Error);
    throw error;
  }
}
