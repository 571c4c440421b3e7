/**
 * `/hark/reach/1.0.0`: "can you dial me?" The asker names its listening TCP
 * ports; the peer dials back a fresh connection to the address it sees the
 * asker connect from, on those ports, and says whether one got through.
 * Noise proves that whoever answered holds the asker's key.
 *
 * libp2p's AutoNAT does this job on the internet, but it never tests a
 * private address (10/8, 192.168/16, 198.18/15, …), so it cannot tell an
 * agent behind a NAT between two private networks (an office and a home
 * router, a VPN) that it cannot be dialed. This protocol can: peers are
 * members of the same private network, and the dial-back only ever goes to
 * the address the asker is already connected from, so nobody can use it to
 * make an agent dial a third party.
 */

import type { Connection, Libp2p, PeerId } from "@libp2p/interface";
import type { Multiaddr } from "@multiformats/multiaddr";
import { lpStream, multiaddr } from "../mesh/libp2p.ts";
import { readJsonFrame, writeJsonFrame } from "../mesh/json_frame.ts";
import { getLogger } from "@logtape/logtape";
import { TokenBuckets } from "../rate_limit.ts";

const log = getLogger(["hark", "reach"]);

export const REACH_PROTOCOL = "/hark/reach/1.0.0";
const MAX_FRAME_BYTES = 1024;
const MAX_PORTS = 4;
/** Per dial-back; the asker waits for all of them plus the exchange. */
const DIAL_BACK_TIMEOUT_MS = 4000;
const ANSWER_TIMEOUT_MS = MAX_PORTS * DIAL_BACK_TIMEOUT_MS + 3000;

/** Answers reach questions: one per peer every 10 s, two at once. */
export async function serveReach(node: Libp2p): Promise<void> {
  const asked = new TokenBuckets({ rate: 0.1, burst: 2 }, { capacity: 1000 });
  await node.handle(REACH_PROTOCOL, async (stream, connection) => {
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
    try {
      if (!asked.take(connection.remotePeer.toString())) throw new Error("asked too often");
      const question = await readJsonFrame(lp, AbortSignal.timeout(5000)) as { ports?: unknown } | null;
      const ports = question?.ports;
      if (!Array.isArray(ports) || ports.length > MAX_PORTS || !ports.every(isPort)) throw new Error("bad question");
      const reachable = await dialBack(node, connection, ports);
      await writeJsonFrame(lp, { reachable }, AbortSignal.timeout(5000));
      await stream.close({ signal: AbortSignal.timeout(5000) });
    } catch (error) {
      stream.abort(error as Error);
    }
  }, { maxInboundStreams: 2, runOnLimitedConnection: false });
}

/** The addresses, one per port, at which `connection`'s peer would be dialed back. */
export function dialBackAddresses(connection: Connection, ports: number[]): Multiaddr[] {
  const components = connection.remoteAddr.getComponents();
  // Over a relay the asker's own address is unknown: nothing to try.
  if (components.some((c) => c.name === "p2p-circuit")) return [];
  const ip = components.find((c) => c.name === "ip4" || c.name === "ip6");
  if (!ip?.value) return [];
  return ports.map((port) => multiaddr(`/${ip.name}/${ip.value}/tcp/${port}/p2p/${connection.remotePeer}`));
}

async function dialBack(node: Libp2p, connection: Connection, ports: number[]): Promise<boolean> {
  for (const address of dialBackAddresses(connection, ports)) {
    try {
      // A new connection, not the one the question came on.
      const back = await node.dial(address, { force: true, signal: AbortSignal.timeout(DIAL_BACK_TIMEOUT_MS) });
      await back.close().catch(() => {});
      return true;
    } catch (error) {
      log.debug("Dial-back to {address} failed: {error}", {
        address: address.toString(),
        error: (error as Error).message,
      });
    }
  }
  return false;
}

/** Asks `peer` whether it can dial this agent on `ports`; undefined when it would not say. */
export async function askReach(node: Libp2p, peer: PeerId, ports: number[], signal?: AbortSignal): Promise<
  boolean | undefined
> {
  const timeout = AbortSignal.timeout(ANSWER_TIMEOUT_MS);
  const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    const stream = await node.dialProtocol(peer, REACH_PROTOCOL, { signal: both });
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
    await writeJsonFrame(lp, { ports: ports.slice(0, MAX_PORTS) }, both);
    const answer = await readJsonFrame(lp, both) as { reachable?: unknown } | null;
    await stream.close({ signal: both }).catch(() => {});
    return typeof answer?.reachable === "boolean" ? answer.reachable : undefined;
  } catch (error) {
    log.debug("Cannot ask {peer} whether it can dial this agent: {error}", {
      peer: peer.toString(),
      error: (error as Error).message,
    });
    return undefined;
  }
}

/** TCP ports this agent listens on (relayed addresses aside). */
export function listeningPorts(node: Libp2p): number[] {
  const ports = new Set<number>();
  for (const address of node.getMultiaddrs()) {
    const components = address.getComponents();
    if (components.some((c) => c.name === "p2p-circuit")) continue;
    const tcp = components.find((c) => c.name === "tcp");
    if (tcp?.value) ports.add(Number(tcp.value));
  }
  return [...ports];
}

function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) > 0 && (value as number) < 65536;
}
