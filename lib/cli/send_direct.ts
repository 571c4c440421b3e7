/**
 * `hark send --direct`: for a CI job or a container with no agent. Joins
 * the network for one event with the state dir's key and identity, dials
 * the bootstrap peers (and mDNS, when on), publishes once a peer on the
 * topic is connected, and leaves. Without a reachable peer it fails, so
 * the caller knows the event went nowhere.
 */

import type { EventDraft, HarkEvent } from "../event/event.ts";
import { createEvent, DEFAULT_TOPIC } from "../event/event.ts";
import { HarkError } from "../errors.ts";
import type { HarkConfig } from "../config/config.ts";
import { loadNetwork } from "../mesh/network.ts";
import { loadIdentity } from "../mesh/identity.ts";
import { Mesh } from "../mesh/mesh.ts";
import { monotonicUlid } from "../event/ulid.ts";
import { VERSION } from "../version.ts";
import { ControlClient } from "../control/client.ts";
import { peerHas } from "../history/has.ts";
import { delay } from "../util/delay.ts";

export interface DirectSend {
  config: HarkConfig;
  stateDir: string;
  draft: EventDraft;
  /** How long to look for a peer before giving up. */
  timeoutMs: number;
}

export async function sendDirect({ config, stateDir, draft, timeoutMs }: DirectSend): Promise<HarkEvent> {
  if (await agentAnswers(stateDir)) {
    throw new HarkError(`an agent is running on ${stateDir}; send through it: drop --direct`);
  }
  const network = await loadNetwork(stateDir);
  if (!network) {
    throw new HarkError(
      `no network in ${stateDir}: run \`hark network join TOKEN --state-dir ${stateDir}\` first (the token comes from \`hark network show\` on a member)`,
    );
  }
  const peers = [...new Set([...config.network.peers, ...network.peers])];
  if (peers.length === 0 && !config.network.mdns) {
    throw new HarkError("no peers to reach: set network.peers (or HARK_PEERS), or join with a token that lists some");
  }
  const topic = draft.topic ?? DEFAULT_TOPIC;
  const mesh = new Mesh({
    privateKey: await loadIdentity(stateDir),
    network,
    publishers: new Map(
      Object.entries(config.topic).filter(([, rules]) => rules.publishers)
        .map(([name, rules]) => [name, new Set(rules.publishers)]),
    ),
    rate: { rate: config.network.publisher_rate, burst: config.network.publisher_burst },
    // Dials out only: a one-shot sender needs no port of its own.
    listen: [],
    peers,
    mdns: config.network.mdns,
    topics: [topic],
    limits: { maxEventBytes: config.agent.max_event_bytes },
    host: config.agent.host,
    version: VERSION,
    onEvent: () => {},
  });
  await mesh.start();
  try {
    if (!mesh.mayPublish(topic)) {
      throw new HarkError(
        `this identity (${mesh.peerId}) may not publish on "${topic}": see topic.${topic}.publishers`,
      );
    }
    await untilSubscribed(mesh, topic, timeoutMs, peers);
    const event = createEvent(
      draft,
      { id: monotonicUlid()(), now: Date.now(), host: config.agent.host, peer: mesh.peerId },
      { maxEventBytes: config.agent.max_event_bytes },
    );
    const { recipients } = await mesh.publish(event);
    if (recipients === 0) throw new HarkError(`no peer took the event on "${topic}"; nothing was delivered`);
    // Done when any peer on the topic says it holds the event (it answers once stored, or no after 3 s).
    const subscribers = mesh.subscribers(topic);
    const answers = await Promise.all(subscribers.map((peer) => peerHas(mesh, peer, mesh.peerId, event.id)));
    if (!answers.includes(true)) {
      throw new HarkError(`the event was sent to ${recipients} peer(s) but none confirmed it; it may be lost`);
    }
    return event;
  } finally {
    // A graceful stop closes each stream after what is queued on it has been written.
    await mesh.stop();
  }
}

/** Whether an agent owns this state dir: two nodes with one identity would fight over it. */
async function agentAnswers(stateDir: string): Promise<boolean> {
  try {
    const client = await ControlClient.connect(stateDir);
    client.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until a connected peer subscribes to `topic` and gossipsub has its
 * stream to that peer open: it only sends to those, and seeing the
 * subscription alone raced the stream (issue #29: 2 sends in 30 reached nobody).
 */
async function untilSubscribed(mesh: Mesh, topic: string, timeoutMs: number, peers: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (mesh.reachableSubscribers(topic).length === 0) {
    if (Date.now() >= deadline) {
      const tried = peers.length > 0 ? peers.join(", ") : "mDNS only";
      throw new HarkError(
        `no peer on "${topic}" reachable within ${
          timeoutMs / 1000
        } s (tried ${tried}); check that an agent runs there and shares this network`,
      );
    }
    await delay(50);
  }
}
