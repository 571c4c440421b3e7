/**
 * `/hark/has/1.0.0`: "do you have this event?" One frame asks with the
 * publisher and id; one frame answers once the event is stored, or says no
 * after a short wait. `hark send --direct` asks the peers it published to
 * before it leaves, so "sent" means a peer holds the event, not merely
 * that bytes left this process.
 */

import type { Libp2p, PeerId } from "@libp2p/interface";
import { lpStream } from "../mesh/libp2p.ts";
import { readJsonFrame, writeJsonFrame } from "../mesh/json_frame.ts";
import type { EventStore } from "../store/store.ts";
import type { Mesh } from "../mesh/mesh.ts";
import { delay } from "../util/delay.ts";

export const HAS_PROTOCOL = "/hark/has/1.0.0";
const MAX_FRAME_BYTES = 1024;

/** Answers "do you have it?", waiting up to `waitMs` for an event still on its way. */
export async function serveHas(node: Libp2p, store: EventStore, waitMs = 3000): Promise<void> {
  await node.handle(HAS_PROTOCOL, async (stream) => {
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
    try {
      const ask = await readJsonFrame(lp, AbortSignal.timeout(5000)) as { publisher?: unknown; id?: unknown } | null;
      if (typeof ask?.publisher !== "string" || typeof ask?.id !== "string") throw new Error("bad question");
      const deadline = Date.now() + waitMs;
      let has = store.has(ask.publisher, ask.id);
      while (!has && Date.now() < deadline) {
        await delay(50);
        has = store.has(ask.publisher, ask.id);
      }
      await writeJsonFrame(lp, { has }, AbortSignal.timeout(5000));
      await stream.close({ signal: AbortSignal.timeout(5000) });
    } catch (error) {
      stream.abort(error as Error);
    }
  }, { maxInboundStreams: 4, runOnLimitedConnection: true });
}

/** Whether `peer` holds the event; false when it says no or cannot be asked. */
export async function peerHas(
  mesh: Pick<Mesh, "dialProtocol">,
  peer: PeerId,
  publisher: string,
  id: string,
): Promise<boolean> {
  try {
    const signal = AbortSignal.timeout(8000);
    const stream = await mesh.dialProtocol(peer, HAS_PROTOCOL, signal);
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
    await writeJsonFrame(lp, { publisher, id }, signal);
    const answer = await readJsonFrame(lp, signal) as { has?: unknown } | null;
    await stream.close({ signal }).catch(() => {});
    return answer?.has === true;
  } catch {
    return false;
  }
}
