/**
 * One JSON value per length-prefixed frame: the wire format of hark's small
 * request/answer protocols (has, peers, reach, clock). The frame size limit
 * is the stream's (`lpStream(stream, { maxDataLength })`).
 */

import type { lpStream } from "@libp2p/utils";

export type FrameStream = ReturnType<typeof lpStream>;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export async function writeJsonFrame(lp: FrameStream, value: unknown, signal: AbortSignal): Promise<void> {
  await lp.write(encoder.encode(JSON.stringify(value)), { signal });
}

/** The next frame's JSON value; rejects on a frame that is not UTF-8 JSON. */
export async function readJsonFrame(lp: FrameStream, signal: AbortSignal): Promise<unknown> {
  return JSON.parse(decoder.decode((await lp.read({ signal })).subarray()));
}
