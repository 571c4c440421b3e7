/**
 * A simulated internet made of network namespaces, addressed from
 * 198.18.0.0/15 (reserved for benchmarks, never routed). Needs root, iproute2
 * and nft or iptables; check `netnsAvailable()` from ./netns.ts first.
 *
 *   a1 a2 a3 (198.18.1.0/24)      b1 b2 (198.18.2.0/24)
 *        \ | /                        \ /
 *        [lana]------- router -------[lanb]      office: A <-> B open,
 *                        |                        WAN -> office only replies
 *                      [wan] 198.18.0.0/24
 *                      /    \
 *      relay 198.18.0.10    nat 198.18.0.20 (masquerade, no inbound)
 *                             |
 *                           c1 198.18.3.11 (198.18.3.0/24, unknown to router)
 *
 * Every link lives inside a namespace (the bridges inside the router's), so
 * nothing is created in the root namespace and deleting the namespaces
 * removes everything.
 */

import type { Host } from "./netns.ts";
import { onPath, unavailable } from "./tools.ts";

export type { Host };

export interface InternetOptions {
  /** Reject new connections from the WAN into LAN A and LAN B. @default true */
  officeFirewall?: boolean;
  /** Which packet filter to program. @default "nft" when installed, else "iptables" */
  firewall?: "nft" | "iptables";
}

const decoder = new TextDecoder();

/** Runs `command`; the error names the command, so a broken step is obvious. */
async function run(command: string, args: string[], stdin?: string): Promise<void> {
  const child = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const output = await child.output();
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${decoder.decode(output.stderr).trim()}`);
  }
}

function ip(args: string[]): Promise<void> {
  return run("ip", args);
}

/** Runs `command` inside namespace `ns` (for tools without a `-n` flag). */
function inNetns(ns: string, command: string, args: string[], stdin?: string): Promise<void> {
  return run("ip", ["netns", "exec", ns, command, ...args], stdin);
}

/**
 * Whether a firewall tool the simulated internet can use (nft, else
 * iptables) is installed. When neither is, reports the tests named `what`
 * as unavailable (a failure under .ci/run, a loud skip elsewhere).
 */
export function firewallAvailable(what: string): boolean {
  if (onPath("nft") || onPath("iptables-restore")) return true;
  unavailable(what, "neither nft nor iptables-restore is installed (apt-get install nftables)");
  return false;
}

// Rejecting (TCP reset, ICMP admin-prohibited) rather than dropping makes
// dials that must fail fail at once instead of hanging until a timeout.
const OFFICE_NFT = `
table inet office {
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "wan" oifname { "lana", "lanb" } ct state established,related accept
    iifname "wan" oifname { "lana", "lanb" } meta l4proto tcp reject with tcp reset
    iifname "wan" oifname { "lana", "lanb" } reject with icmpx type admin-prohibited
  }
}
`;

const OFFICE_IPTABLES = `*filter
${
  ["lana", "lanb"].map((lan) =>
    [
      `-A FORWARD -i wan -o ${lan} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
      `-A FORWARD -i wan -o ${lan} -p tcp -j REJECT --reject-with tcp-reset`,
      `-A FORWARD -i wan -o ${lan} -j REJECT --reject-with icmp-admin-prohibited`,
    ].join("\n")
  ).join("\n")
}
COMMIT
`;

// The NAT box refuses anything new from outside, for itself (input) and for
// c1 behind it (forward); replies to c1's own connections get through.
const NAT_NFT = `
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" masquerade
  }
}
table inet inbound {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan0" ct state established,related accept
    iifname "wan0" meta l4proto tcp reject with tcp reset
    iifname "wan0" reject with icmpx type admin-prohibited
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "wan0" ct state established,related accept
    iifname "wan0" meta l4proto tcp reject with tcp reset
    iifname "wan0" reject with icmpx type admin-prohibited
  }
}
`;

const NAT_IPTABLES = `*nat
-A POSTROUTING -o wan0 -j MASQUERADE
COMMIT
*filter
${
  ["INPUT", "FORWARD"].map((chain) =>
    [
      `-A ${chain} -i wan0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
      `-A ${chain} -i wan0 -p tcp -j REJECT --reject-with tcp-reset`,
      `-A ${chain} -i wan0 -j REJECT --reject-with icmp-admin-prohibited`,
    ].join("\n")
  ).join("\n")
}
COMMIT
`;

function octets(address: string): number[] | undefined {
  const parts = address.split(".").map(Number);
  const valid = parts.length === 4 && parts.every((part) => Number.isInteger(part) && part >= 0 && part <= 255);
  return valid ? parts : undefined;
}

/** Counts instances so two internets in one process get different names. */
let instances = 0;

/**
 * Office LANs A and B behind a firewalled router, a relay on the WAN, and
 * host c1 behind a NAT; `await using` removes it all.
 */
export class Internet {
  readonly a: Host[];
  readonly b: Host[];
  readonly relay: Host;
  readonly c: Host;
  /** Namespace of the router, which also holds the three bridges. */
  readonly router: string;
  /** Namespace of the NAT box in front of c1. */
  readonly nat: string;
  /** Each host's default gateway, by namespace name. */
  readonly #gateways = new Map<string, string>();
  /** Namespaces actually created, so a half-built internet is cleaned up. */
  readonly #created: string[] = [];

  private constructor() {
    // Namespace names are not limited to 15 chars, but keep them short anyway;
    // the dash keeps pid 1234 instance 56 apart from pid 12345 instance 6.
    const tag = `hi${Deno.pid % 100000}-${instances++}`;
    this.router = `${tag}r`;
    this.nat = `${tag}nat`;
    const host = (name: string, address: string, gateway: string): Host => {
      this.#gateways.set(`${tag}${name}`, gateway);
      return { name: `${tag}${name}`, address };
    };
    this.a = [1, 2, 3].map((i) => host(`a${i}`, `198.18.1.${10 + i}`, "198.18.1.1"));
    this.b = [1, 2].map((i) => host(`b${i}`, `198.18.2.${10 + i}`, "198.18.2.1"));
    this.relay = host("relay", "198.18.0.10", "198.18.0.1");
    this.c = host("c1", "198.18.3.11", "198.18.3.1");
  }

  static async create(options: InternetOptions = {}): Promise<Internet> {
    const internet = new Internet();
    const firewall = options.firewall ?? (onPath("nft") ? "nft" : "iptables");
    try {
      await internet.#build(options.officeFirewall ?? true, firewall);
    } catch (error) {
      await internet[Symbol.asyncDispose]();
      throw error;
    }
    return internet;
  }

  async #build(officeFirewall: boolean, firewall: "nft" | "iptables"): Promise<void> {
    const router = this.router;
    await this.#addNamespace(router, true);
    for (const [bridge, address] of [["lana", "198.18.1.1"], ["lanb", "198.18.2.1"], ["wan", "198.18.0.1"]]) {
      await ip(["-n", router, "link", "add", bridge, "type", "bridge"]);
      await ip(["-n", router, "addr", "add", `${address}/24`, "dev", bridge]);
      await ip(["-n", router, "link", "set", bridge, "up"]);
    }
    // No multicast routing daemon and no mroute table: the kernel forwards
    // unicast only, so mDNS stays inside each LAN as on a real network.
    if (officeFirewall) await this.#filter(router, firewall, OFFICE_NFT, OFFICE_IPTABLES);

    // The router-side port is named after the host (a1, b2, relay): it lives
    // in the router namespace, so it cannot clash with other test processes.
    for (const [i, host] of this.a.entries()) await this.#addHost(host, `a${i + 1}`, "lana");
    for (const [i, host] of this.b.entries()) await this.#addHost(host, `b${i + 1}`, "lanb");
    await this.#addHost(this.relay, "relay", "wan");

    const nat = this.nat;
    await this.#addNamespace(nat, true);
    await ip(["-n", router, "link", "add", "nat", "type", "veth", "peer", "name", "wan0", "netns", nat]);
    await ip(["-n", router, "link", "set", "nat", "master", "wan", "up"]);
    await ip(["-n", nat, "addr", "add", "198.18.0.20/24", "dev", "wan0"]);
    await ip(["-n", nat, "link", "set", "wan0", "up"]);
    await ip(["-n", nat, "route", "add", "default", "via", "198.18.0.1"]);
    await this.#filter(nat, firewall, NAT_NFT, NAT_IPTABLES);

    // c1 hangs straight off the NAT box (no bridge): its LAN has one host.
    const c = this.c;
    await this.#addNamespace(c.name, false);
    await ip(["-n", nat, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", c.name]);
    await ip(["-n", nat, "addr", "add", "198.18.3.1/24", "dev", "lan0"]);
    await ip(["-n", nat, "link", "set", "lan0", "up"]);
    await ip(["-n", c.name, "addr", "add", `${c.address}/24`, "dev", "eth0"]);
    await this.linkUp(c);
  }

  async #addNamespace(name: string, forwarding: boolean): Promise<void> {
    await ip(["netns", "add", name]);
    this.#created.push(name);
    // IPv4 only: otherwise every interface gets an fe80:: address and sends
    // IPv6 chatter, and every address here is meant to be in 198.18.0.0/15.
    await inNetns(name, "sysctl", [
      "-qw",
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
      `net.ipv4.ip_forward=${forwarding ? 1 : 0}`,
    ]);
    await ip(["-n", name, "link", "set", "lo", "up"]);
  }

  /** A host namespace whose eth0 is plugged into `bridge` in the router. */
  async #addHost(host: Host, port: string, bridge: string): Promise<void> {
    await this.#addNamespace(host.name, false);
    await ip(["-n", this.router, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host.name]);
    await ip(["-n", this.router, "link", "set", port, "master", bridge, "up"]);
    await ip(["-n", host.name, "addr", "add", `${host.address}/24`, "dev", "eth0"]);
    await this.linkUp(host);
  }

  async #filter(ns: string, firewall: "nft" | "iptables", nft: string, iptables: string): Promise<void> {
    if (firewall === "nft") await inNetns(ns, "nft", ["-f", "-"], nft);
    else await inNetns(ns, "iptables-restore", [], iptables);
  }

  /** Routes a host needs; taking eth0 down or its address away removes them. */
  async #routes(host: Host): Promise<void> {
    await ip(["-n", host.name, "route", "replace", "default", "via", this.#gateway(host)]);
    // mDNS sends to 224.0.0.251; without a route for it the send fails.
    await ip(["-n", host.name, "route", "replace", "224.0.0.0/4", "dev", "eth0"]);
  }

  #gateway(host: Host): string {
    const gateway = this.#gateways.get(host.name);
    if (!gateway) throw new Error(`${host.name} is not a host of this internet`);
    return gateway;
  }

  /** Unplugs the host's cable; its address stays, its routes go. */
  async linkDown(host: Host): Promise<void> {
    this.#gateway(host);
    await ip(["-n", host.name, "link", "set", "eth0", "down"]);
  }

  /** Plugs the cable back in and restores the routes. */
  async linkUp(host: Host): Promise<void> {
    this.#gateway(host);
    await ip(["-n", host.name, "link", "set", "eth0", "up"]);
    await this.#routes(host);
  }

  /**
   * A laptop whose link drops and comes back with another address on the
   * same LAN (new DHCP lease): down, old address gone, up, new address.
   */
  async changeAddress(host: Host, newAddress: string): Promise<void> {
    const gateway = this.#gateway(host);
    const parts = octets(newAddress);
    const prefix = gateway.slice(0, gateway.lastIndexOf(".") + 1);
    if (!parts || !newAddress.startsWith(prefix) || parts[3] === 0 || parts[3] === 255 || newAddress === gateway) {
      throw new Error(`${newAddress} is not a free host address in ${prefix}0/24, the LAN of ${host.name}`);
    }
    const all = [...this.a, ...this.b, this.relay, this.c];
    const holder = all.find((other) => other !== host && other.address === newAddress);
    if (holder) throw new Error(`${newAddress} is already used by ${holder.name}`);

    await ip(["-n", host.name, "link", "set", "eth0", "down"]);
    await ip(["-n", host.name, "addr", "del", `${host.address}/24`, "dev", "eth0"]);
    await ip(["-n", host.name, "link", "set", "eth0", "up"]);
    await ip(["-n", host.name, "addr", "add", `${newAddress}/24`, "dev", "eth0"]);
    host.address = newAddress;
    await this.#routes(host);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // Deleting a namespace destroys its interfaces, bridges and rules with it.
    for (const name of this.#created.splice(0).reverse()) await ip(["netns", "del", name]).catch(() => {});
  }
}
