/**
 * Two hosts on one LAN (network namespaces on a bridge) with no peers
 * configured find each other over mDNS and exchange an event.
 */

import assert from "node:assert/strict";
import { startAgent } from "./helpers/hark.ts";
import { Lan, netnsAvailable } from "./helpers/netns.ts";

const available = await netnsAvailable("mdns_netns_test");

Deno.test({
  name: "agents on one LAN find each other over mDNS and exchange an event",
  ignore: !available,
  async fn() {
    await using lan = await Lan.create(2);
    const [hostA, hostB] = lan.hosts;
    const config = `[network]\nlisten = ["/ip4/0.0.0.0/tcp/4001"]\nmdns = true\n`;
    await using a = await startAgent({ config, netns: hostA.name, args: ["--host", "host-a"] });
    await using b = await startAgent({ config, netns: hostB.name, args: ["--host", "host-b"] });
    await a.waitForPeers([b.peerId], "default", 30_000);
    await b.waitForPeers([a.peerId], "default", 30_000);

    const peers = JSON.parse((await a.cli(["peers", "--json"])).stdout);
    assert.equal(peers[0].host, "host-b");
    assert.match(peers[0].addresses[0], new RegExp(`^/ip4/${hostB.address.replaceAll(".", "\\.")}/tcp/`));

    const id = await a.send(["--title", "over mDNS", "hello LAN"]);
    const events = await b.waitForEvents([id]);
    const event = events.find((event) => event.id === id)!;
    assert.equal(event.source.host, "host-a");
    assert.equal(event.source.peer, a.peerId);
  },
});
