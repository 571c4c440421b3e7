/**
 * Whether mDNS can work here: an interface with an IPv4 address besides
 * loopback, on which this host can join the mDNS group and send to it. A
 * missing multicast route, a firewall or a container without multicast make
 * the send fail, and agents on the LAN would never find this one.
 */

import dgram from "node:dgram";
import type { Finding } from "./finding.ts";

const CHECK = "mDNS";
const GROUP = "224.0.0.251";
const PORT = 5353;

export async function checkMdns(enabled: boolean): Promise<Finding> {
  if (!enabled) {
    return {
      check: CHECK,
      verdict: "ok",
      detail: "off (network.mdns = false); peers come from network.peers and memory",
    };
  }
  const candidates = Deno.networkInterfaces().filter((i) => i.family === "IPv4" && !i.address.startsWith("127."));
  if (candidates.length === 0) {
    return {
      check: CHECK,
      verdict: "warn",
      detail: "no network interface with an IPv4 address besides loopback",
      fix: "connect to a LAN, or list peers in network.peers",
    };
  }
  const failures: string[] = [];
  for (const candidate of candidates) {
    const error = await trySend(candidate.address);
    if (!error) return { check: CHECK, verdict: "ok", detail: `possible on ${candidate.name} (${candidate.address})` };
    failures.push(`${candidate.name} (${candidate.address}): ${error}`);
  }
  return {
    check: CHECK,
    verdict: "warn",
    detail: `cannot send to the mDNS group on any interface: ${failures.join("; ")}`,
    fix: "allow UDP 5353 to and from 224.0.0.251 (firewall, a multicast route), or list peers in network.peers",
  };
}

/** Joins the group on `address` and sends one query; resolves with an error message, or undefined on success. */
function trySend(address: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket({ type: "udp4", reuseAddr: true });
    const done = (error?: Error) => {
      try {
        socket.close();
      } catch {
        // Already closed.
      }
      resolve(error?.message);
    };
    const timer = setTimeout(() => done(new Error("no answer from the network stack within 2 s")), 2000);
    socket.once("error", (error) => {
      clearTimeout(timer);
      done(error);
    });
    socket.bind(PORT, () => {
      try {
        socket.addMembership(GROUP, address);
        socket.setMulticastInterface(address);
      } catch (error) {
        clearTimeout(timer);
        return done(error as Error);
      }
      socket.send(query(), PORT, GROUP, (error) => {
        clearTimeout(timer);
        done(error ?? undefined);
      });
    });
  });
}

/** A one-question mDNS query (PTR _hark-doctor._udp.local): harmless, and nobody answers it. */
function query(): Uint8Array {
  const labels = ["_hark-doctor", "_udp", "local"];
  const name = labels.flatMap((label) => [label.length, ...new TextEncoder().encode(label)]);
  return new Uint8Array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...name, 0, 0, 12, 0, 1]);
}
