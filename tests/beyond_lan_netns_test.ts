/**
 * One mesh across a simulated internet (tests/helpers/internet.ts): two
 * office LANs behind a router whose firewall lets nothing in from the WAN,
 * a relay on the WAN, and a home worker behind a masquerading NAT.
 *
 * In order, on the same agents:
 * 1. B hosts configured with only a1 reach all of LAN A, and end up
 *    connected to more than one A host through peer exchange.
 * 2. The NAT host, configured with only the relay, takes a relay slot; its
 *    events reach everyone and everyone's reach it, over relayed
 *    connections.
 * 3. a1's link goes down and comes back with another address; a1 rejoins
 *    from remembered peers within 30 s, without a restart.
 * 4. Everything restarts with no configured peers and no mDNS: every agent
 *    reconnects from remembered peers alone.
 */

import assert from "node:assert/strict";
import { type AgentProcess, startAgent } from "./helpers/hark.ts";
import { firewallAvailable, Internet } from "./helpers/internet.ts";
import { netnsAvailable } from "./helpers/netns.ts";
import { waitFor } from "./helpers/wait.ts";
import type { MeshPeer } from "../lib/mesh/mesh.ts";

const available = await netnsAvailable("beyond_lan_netns_test") && firewallAvailable("beyond_lan_netns_test");

const PORT = 4001;

interface Member {
  name: string;
  netns: string;
  agent?: AgentProcess;
  stateDir?: string;
}

function config(peers: string[], options: { mdns?: boolean; relay?: boolean } = {}): string {
  return `[network]
listen = ["/ip4/0.0.0.0/tcp/${PORT}"]
mdns = ${options.mdns ?? true}
relay = ${options.relay ?? false}
peers = ${JSON.stringify(peers)}
`;
}

async function peersOf(agent: AgentProcess): Promise<MeshPeer[]> {
  return (await agent.request({ op: "peers" })).peers as MeshPeer[];
}

/** Publishes one event from each sender and waits until every member has all of them. */
async function everyoneGets(senders: Member[], members: Member[], timeoutMs: number, label: string): Promise<void> {
  const ids: string[] = [];
  for (const sender of senders) ids.push(await sender.agent!.send(["-t", "default", `${label} from ${sender.name}`]));
  const deadline = Date.now() + timeoutMs;
  for (const member of members) {
    await member.agent!.waitForEvents(ids, Math.max(deadline - Date.now(), 1)).catch(async (error) => {
      const have = new Set((await member.agent!.events()).map((event) => event.id));
      const missing = senders.filter((_, i) => !have.has(ids[i])).map((sender) => sender.name);
      throw new Error(`${label}: ${member.name} lacks the events of ${missing.join(", ")}: ${error.message}`);
    });
  }
}

Deno.test({
  name: "one mesh across subnets, a firewall and a NAT: peer exchange, relays, a moved laptop, a restart from memory",
  ignore: !available,
  async fn() {
    await using internet = await Internet.create();
    const [a1, a2, a3] = internet.a.map((host, i) => ({ name: `a${i + 1}`, netns: host.name }) as Member);
    const [b1, b2] = internet.b.map((host, i) => ({ name: `b${i + 1}`, netns: host.name }) as Member);
    const relay: Member = { name: "relay", netns: internet.relay.name };
    const c: Member = { name: "c", netns: internet.c.name };
    const everyone = [a1, a2, a3, b1, b2, relay, c];
    const relayAddress = `/ip4/${internet.relay.address}/tcp/${PORT}`;
    const a1Address = `/ip4/${internet.a[0].address}/tcp/${PORT}`;
    const start = async (member: Member, text: string) => {
      member.agent = await startAgent({
        config: text,
        netns: member.netns,
        args: ["--host", member.name],
        ...(member.stateDir ? { stateDir: member.stateDir, removeStateDir: true } : {}),
      });
      member.stateDir = member.agent.stateDir;
    };
    try {
      await start(relay, config([], { mdns: false, relay: true }));
      await start(a1, config([relayAddress]));
      await start(a2, config([]));
      await start(a3, config([]));
      await start(b1, config([a1Address]));
      await start(b2, config([a1Address]));
      await start(c, config([relayAddress]));

      // 1. Across the router: B knows a1 only, and gets to know A.
      await everyoneGets([b1, a2], everyone, 30_000, "across subnets");
      for (const b of [b1, b2]) {
        await waitFor(async () => {
          const hosts = (await peersOf(b.agent!)).map((peer) => peer.host);
          return hosts.filter((host) => host?.startsWith("a")).length > 1;
        }, { timeoutMs: 30_000, intervalMs: 250, message: `${b.name} to connect to more than one A host` });
      }

      // 2. Behind the NAT: a relay slot, relayed connections, events both ways.
      await waitFor(
        async () =>
          ((await c.agent!.request({ op: "status" })).status as { reachability: string }).reachability ===
            "unreachable",
        {
          timeoutMs: 30_000,
          intervalMs: 250,
          message: "c to learn that the relay cannot dial it",
        },
      );
      assert.match(
        (await c.agent!.cli(["status"])).stdout,
        /^reach: +relays cannot dial this agent; it takes a relay slot;/m,
      );
      assert.match((await relay.agent!.cli(["status"])).stdout, /^reach: .*serving as a relay/m);
      const cId = await c.agent!.cli(["id"]);
      assert.match(cId.stdout, /\/p2p-circuit\/p2p\//, "c advertises a relayed address");
      assert.doesNotMatch(cId.stdout, /\/ip4\/127\./, "loopback is not dialable from elsewhere");
      await waitFor(async () => {
        const peers = await peersOf(c.agent!);
        return peers.some((peer) => peer.connection === "relayed" && peer.host !== "relay");
      }, { timeoutMs: 60_000, intervalMs: 250, message: "c to have a relayed connection to an office host" });
      await everyoneGets([c, a3, b2], everyone, 30_000, "through the relay");
      const table = await c.agent!.cli(["peers"]);
      assert.match(table.stdout, /relayed via …\S+ +(exchange|inbound|remembered)/);
      console.log(`hark peers on c:\n${table.stdout}`);

      // 3. a1 moves: same LAN, new address, no restart.
      await internet.changeAddress(internet.a[0], "198.18.1.21");
      const moved = Date.now();
      await everyoneGets([a1, b1, c], everyone, 30_000 - (Date.now() - moved), "after a1 moved");
      await waitFor(async () => {
        const peers = await peersOf(a1.agent!);
        const b = peers.filter((peer) => peer.host === "b1" || peer.host === "b2");
        return b.length === 2 && b.some((peer) => peer.origin === "remembered");
      }, {
        timeoutMs: Math.max(30_000 - (Date.now() - moved), 1),
        intervalMs: 250,
        message: "a1 to redial the B hosts it remembers",
      });

      // 4. Everything restarts with no configured peers and no mDNS.
      for (const member of everyone) await member.agent!.stop();
      for (const member of everyone) await start(member, config([], { mdns: false, relay: member === relay }));
      await everyoneGets(everyone, everyone, 60_000, "after a restart from memory");
    } finally {
      for (const member of everyone) await member.agent?.[Symbol.asyncDispose]();
    }
  },
});
