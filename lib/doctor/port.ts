/**
 * Whether the agent could listen where its config says. Skipped for ports
 * the running agent already holds, and for port 0 (any free port).
 */

import type { Finding } from "./finding.ts";
import { tcpEndpoint } from "./endpoint.ts";

const CHECK = "listen port";

export function checkListen(listen: string[], agentRunning: boolean): Finding[] {
  return listen.map((text) => {
    const endpoint = tcpEndpoint(text);
    if (!endpoint) {
      return {
        check: CHECK,
        verdict: "fail" as const,
        detail: `${text} is not a multiaddr`,
        fix: "fix network.listen",
      };
    }
    const { host, kind, port } = endpoint;
    if (host === undefined || port === undefined || !kind?.startsWith("ip")) {
      return { check: CHECK, verdict: "warn" as const, detail: `${text}: not an IP and TCP address; nothing to check` };
    }
    if (port === 0) return { check: CHECK, verdict: "ok" as const, detail: `${text}: any free port` };
    if (agentRunning) return { check: CHECK, verdict: "ok" as const, detail: `${text}: held by the running agent` };
    return probe(text, host, port);
  });
}

function probe(text: string, hostname: string, port: number): Finding {
  try {
    Deno.listen({ hostname, port, transport: "tcp" }).close();
    return { check: CHECK, verdict: "ok", detail: `${text} is free` };
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      return {
        check: CHECK,
        verdict: "fail",
        detail: `${text}: port ${port} is taken by another program`,
        fix:
          `find it with \`ss -ltnp 'sport = :${port}'\` (lsof -i :${port} on macOS), stop it, or pick another port with network.listen or --listen`,
      };
    }
    if (error instanceof Deno.errors.AddrNotAvailable) {
      return {
        check: CHECK,
        verdict: "fail",
        detail: `${text}: ${hostname} is not an address of this host`,
        fix: "listen on 0.0.0.0 or on one of this host's addresses (network.listen)",
      };
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      return {
        check: CHECK,
        verdict: "fail",
        detail: `${text}: not allowed to listen on port ${port}`,
        fix: "use a port above 1023 (network.listen)",
      };
    }
    return { check: CHECK, verdict: "fail", detail: `${text}: ${(error as Error).message}` };
  }
}
