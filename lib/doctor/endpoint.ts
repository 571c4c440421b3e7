import { multiaddr } from "../mesh/libp2p.ts";

export interface TcpEndpoint {
  /** An address or a DNS name. */
  host?: string;
  /** Which: ip4, ip6, dns, dns4 or dns6. */
  kind?: string;
  port?: number;
}

const HOST_KINDS = ["ip4", "ip6", "dns", "dns4", "dns6"];

/** The host and TCP port a multiaddr names; undefined when it is not a multiaddr. */
export function tcpEndpoint(text: string): TcpEndpoint | undefined {
  try {
    const components = multiaddr(text).getComponents();
    const host = components.find((c) => HOST_KINDS.includes(c.name));
    const tcp = components.find((c) => c.name === "tcp")?.value;
    return { host: host?.value, kind: host?.name, port: tcp === undefined ? undefined : Number(tcp) };
  } catch {
    return undefined;
  }
}
