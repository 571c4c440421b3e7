/**
 * What the running agent says: whether it answers, whether its configured
 * peers are connected, and how far peers' clocks are from this one. Without
 * a running agent, configured peers are probed with a plain TCP connect.
 */

import type { Finding } from "./finding.ts";
import { requestAgent } from "../control/client.ts";
import { multiaddr } from "../mesh/libp2p.ts";
import { tcpEndpoint } from "./endpoint.ts";
import type { MeshPeer } from "../mesh/mesh.ts";
import type { ClockReading } from "../connect/clock.ts";

/** Beyond this, event times and `--since` mislead; catch-up itself never depends on clocks. */
export const CLOCK_SKEW_WARN_MS = 2000;
const CONNECT_TIMEOUT_MS = 3000;

export interface AgentView {
  finding: Finding;
  /** Connected peers, when an agent answered. */
  peers?: MeshPeer[];
  /** Addresses of peers the agent met lately that hold another network key. */
  keyMismatches?: string[];
}

/** What doctor suggests once a peer failed the private-network handshake. */
export function keyMismatchFix(addresses: string[]): string {
  return `the peer at ${addresses.join(", ")} failed the private-network handshake: it holds another network key. ` +
    "Compare `hark network show` on both machines; where they differ, join the same network there with " +
    "`hark network join TOKEN` (the token from `hark network show` on a member)";
}

/**
 * `startFix` is what to do when no agent runs; where there can be no
 * service (a container, WSL without systemd) it must not suggest one.
 */
export async function checkAgent(
  stateDir: string,
  startFix = "start it with `hark run` (or `hark service install`)",
): Promise<AgentView> {
  try {
    const reply = await requestAgent(stateDir, { op: "peers" });
    const peers = reply.peers as MeshPeer[];
    const status = (await requestAgent(stateDir, { op: "status" })).status as {
      key_mismatches?: { address: string }[];
    };
    const keyMismatches = (status.key_mismatches ?? []).map((seen) => seen.address);
    return {
      peers,
      keyMismatches,
      finding: {
        check: "agent",
        verdict: peers.length > 0 ? "ok" : "warn",
        detail: `running in ${stateDir}, ${peers.length} peer${peers.length === 1 ? "" : "s"} connected`,
        fix: peers.length > 0
          ? undefined
          : keyMismatches.length > 0
          ? keyMismatchFix(keyMismatches)
          : "add a peer with network.peers or join with `hark network join TOKEN` on this machine",
      },
    };
  } catch (error) {
    return {
      finding: {
        check: "agent",
        verdict: "warn",
        detail: (error as Error).message,
        fix: startFix,
      },
    };
  }
}

/** Configured bootstrap peers: connected (agent running) or reachable over TCP (agent stopped). */
export async function checkPeers(
  configured: string[],
  connected: MeshPeer[] | undefined,
  keyMismatches: string[] = [],
): Promise<Finding> {
  const check = "peers";
  if (configured.length === 0) {
    return { check, verdict: "ok", detail: "none configured; peers come from mDNS, peer exchange and memory" };
  }
  const missing: string[] = [];
  for (const address of configured) {
    const reachable = connected ? isConnected(address, connected) : await tcpReachable(address);
    if (!reachable) missing.push(address);
  }
  const how = connected ? "connected" : "reachable over TCP";
  if (missing.length === 0) {
    return { check, verdict: "ok", detail: `all ${configured.length} configured peer(s) ${how}` };
  }
  return {
    check,
    verdict: missing.length === configured.length ? "fail" : "warn",
    detail: `${configured.length - missing.length} of ${configured.length} configured peer(s) ${how}; not: ${
      missing.join(", ")
    }`,
    fix: keyMismatches.length > 0
      ? keyMismatchFix(keyMismatches)
      : "check that those hosts run an agent on that port and that no firewall blocks it (`nc -vz HOST PORT`); " +
        "if the port answers, compare network keys with `hark network show` on both machines; behind NAT, add a relay (docs/networks.md)",
  };
}

/** Clock skew against up to five connected peers, as the agent measures it. */
export async function checkClock(stateDir: string, agentRunning: boolean): Promise<Finding> {
  const check = "clock";
  if (!agentRunning) return { check, verdict: "ok", detail: "not compared: no agent running" };
  let readings: ClockReading[];
  try {
    readings = (await requestAgent(stateDir, { op: "clock" })).clocks as ClockReading[];
  } catch (error) {
    return { check, verdict: "warn", detail: `cannot ask the agent: ${(error as Error).message}` };
  }
  if (readings.length === 0) return { check, verdict: "ok", detail: "not compared: no peer answered" };
  const worst = readings.reduce((a, b) => Math.abs(b.skewMs) > Math.abs(a.skewMs) ? b : a);
  const summary = `${readings.length} peer(s) compared; largest difference ${describe(worst.skewMs)} (${worst.peer})`;
  if (Math.abs(worst.skewMs) <= CLOCK_SKEW_WARN_MS + worst.rttMs / 2) return { check, verdict: "ok", detail: summary };
  return {
    check,
    verdict: "warn",
    detail: summary,
    fix:
      "keep clocks in sync with NTP on every host (`timedatectl set-ntp true`); nothing is lost, but event times and `--since` mislead",
  };
}

function describe(skewMs: number): string {
  const seconds = Math.abs(skewMs) / 1000;
  return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s ${skewMs >= 0 ? "ahead" : "behind"}`;
}

function isConnected(address: string, peers: MeshPeer[]): boolean {
  const id = peerIdIn(address);
  if (id) return peers.some((peer) => peer.peer === id);
  const { host, port } = tcpEndpoint(address) ?? {};
  return peers.some((peer) => peer.addresses.some((remote) => remote.includes(`/${host}/tcp/${port}`)));
}

async function tcpReachable(address: string): Promise<boolean> {
  const { host, port } = tcpEndpoint(address) ?? {};
  if (!host || !port) return false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const connecting = Deno.connect({ hostname: host, port });
  try {
    const connection = await Promise.race([
      connecting,
      new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error("timeout")), CONNECT_TIMEOUT_MS)),
    ]);
    connection.close();
    return true;
  } catch {
    // A connect still under way is closed when it completes.
    connecting.then((connection) => connection.close(), () => {});
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function peerIdIn(address: string): string | undefined {
  try {
    return multiaddr(address).getComponents().findLast((c) => c.name === "p2p")?.value;
  } catch {
    return undefined;
  }
}
