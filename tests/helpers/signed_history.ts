/**
 * Stores that already hold history, for catch-up tests that need thousands
 * of events in two agents' stores: events signed by publishers made here
 * (real Ed25519 keys and gossipsub signatures, which responders check before
 * serving and requesters after receiving), written straight into real event
 * stores before the agents start. Sending each through an agent would take
 * minutes and could not leave one store a chosen few events short.
 */

import type { PrivateKey } from "@libp2p/interface";
import { createEvent, encodeEvent, type HarkEvent } from "../../lib/event/event.ts";
import { signRecord } from "../../lib/event/signed_record.ts";
import { monotonicUlid } from "../../lib/event/ulid.ts";
import { fingerprint } from "../../lib/mesh/validator.ts";
import { saveNetwork } from "../../lib/mesh/network.ts";
import { type Arrival, EventStore } from "../../lib/store/store.ts";
import { generateKeyPair, peerIdFromPrivateKey } from "../../lib/mesh/libp2p.ts";
import { TEST_NETWORK } from "./hark.ts";

/** One event as its publisher signed it, ready to store. */
export interface SignedEvent {
  event: HarkEvent;
  fingerprint: number;
  arrival: Arrival;
}

/** A publisher made for a test: its key and peer id. */
export interface Publisher {
  key: PrivateKey;
  peer: string;
}

export async function makePublishers(count: number): Promise<Publisher[]> {
  return await Promise.all(Array.from({ length: count }, async () => {
    const key = await generateKeyPair("Ed25519");
    return { key, peer: peerIdFromPrivateKey(key).toString() };
  }));
}

/**
 * `perPair` events of each publisher on each topic, published over the last
 * hour (a publisher's ids grow with its publish times), as that publisher
 * signed them.
 */
export async function signedEvents(
  publishers: Publisher[],
  topics: string[],
  perPair: number,
): Promise<SignedEvent[]> {
  const out: SignedEvent[] = [];
  const start = Date.now() - 3_600_000;
  for (const publisher of publishers) {
    let now = start;
    const nextId = monotonicUlid(() => now);
    for (let i = 0; i < perPair; i++) {
      for (const topic of topics) {
        now = start + i * 100;
        const event = createEvent({ topic, body: `${topic} ${i}` }, {
          id: nextId(),
          now,
          host: "seed",
          peer: publisher.peer,
        });
        const data = encodeEvent(event);
        const { seqno, signature } = await signRecord(publisher.key, topic, data);
        out.push({ event, fingerprint: fingerprint(data), arrival: { data, signed: { seqno, signature } } });
      }
    }
  }
  return out;
}

/** A new state dir in the test network whose store holds `events`, as an agent that received them would. */
export async function stateDirHolding(events: SignedEvent[]): Promise<string> {
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  await saveNetwork(stateDir, TEST_NETWORK);
  const store = EventStore.open(stateDir);
  try {
    for (const { event, fingerprint, arrival } of events) store.append(event, fingerprint, arrival);
    store.commit();
  } finally {
    store.close();
  }
  return stateDir;
}
