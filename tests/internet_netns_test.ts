/**
 * The simulated internet of tests/helpers/internet.ts behaves as its diagram
 * says, checked with real TCP connections (and one multicast datagram) from
 * small Deno programs run inside the namespaces.
 */

import assert from "node:assert/strict";
import { firewallAvailable, type Host, Internet } from "./helpers/internet.ts";
import { netnsAvailable } from "./helpers/netns.ts";
import { waitFor } from "./helpers/wait.ts";
import { haveTools } from "./helpers/tools.ts";

const available = await netnsAvailable("internet_netns_test") && firewallAvailable("internet_netns_test");
// nft is the firewall when installed, iptables otherwise; the fallback test needs iptables.
if (available) haveTools("internet_netns_test with nft", ["nft"]);
const iptables = available && haveTools("internet_netns_test iptables fallback", ["iptables-restore"]);

const PORT = 4001;
/** A connection that must fail has this long to do so before counting as a hang. */
const DIAL_TIMEOUT_MS = 3_000;
/** "Fails quickly": a reject (TCP reset or ICMP error), not a timeout. */
const FAST_FAILURE_MS = 1_000;

/** A Deno program running in `host`'s namespace; prints lines we can wait for. */
class Program {
  readonly lines: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #reading: Promise<void>;

  constructor(host: Host, code: string, flags: string[] = []) {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", host.name, Deno.execPath(), "eval", ...flags, code],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#child = child;
    this.#reading = (async () => {
      let buffered = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        this.lines.push(...lines);
      }
    })();
  }

  waitForLine(match: (line: string) => boolean, message: string): Promise<string> {
    return waitFor(() => this.lines.find(match), { timeoutMs: 15_000, message });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill();
    } catch {
      // Already exited.
    }
    await this.#child.status;
    await this.#reading;
  }
}

/** Accepts TCP connections on PORT and prints each peer's address. */
async function listen(host: Host): Promise<Program> {
  const program = new Program(
    host,
    `const listener = Deno.listen({ hostname: "0.0.0.0", port: ${PORT} });
    console.log("ready");
    for await (const conn of listener) {
      console.log("from " + conn.remoteAddr.hostname);
      conn.close();
    }`,
  );
  await program.waitForLine((line) => line === "ready", `listener in ${host.name} to start`);
  return program;
}

interface Dial {
  ok: boolean;
  /** What happened, for assertion messages. */
  outcome: string;
  /** Time the connect took inside the dialing namespace. */
  ms: number;
}

/** Connects from `from` to `address`:PORT, giving up after DIAL_TIMEOUT_MS. */
async function dial(from: Host, address: string): Promise<Dial> {
  const code = `const start = performance.now();
    const report = (outcome) => {
      console.log(JSON.stringify({ ok: outcome === "connected", outcome, ms: Math.round(performance.now() - start) }));
      Deno.exit(0);
    };
    setTimeout(() => report("no answer within ${DIAL_TIMEOUT_MS} ms"), ${DIAL_TIMEOUT_MS});
    try {
      (await Deno.connect({ hostname: "${address}", port: ${PORT} })).close();
      report("connected");
    } catch (error) {
      report(error.name + ": " + error.message);
    }`;
  const output = await new Deno.Command("ip", {
    args: ["netns", "exec", from.name, Deno.execPath(), "eval", code],
    stdout: "piped",
    stderr: "piped",
    // A bound on the whole probe, Deno's startup included.
    signal: AbortSignal.timeout(DIAL_TIMEOUT_MS + 15_000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  if (!output.success || !stdout) {
    throw new Error(`probe in ${from.name} failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return JSON.parse(stdout);
}

async function assertConnects(from: Host, address: string, why: string): Promise<void> {
  const result = await dial(from, address);
  assert.ok(result.ok, `${from.name} -> ${address}:${PORT} should connect (${why}); got ${result.outcome}`);
}

async function assertRefused(from: Host, address: string, why: string): Promise<void> {
  const result = await dial(from, address);
  assert.ok(!result.ok, `${from.name} -> ${address}:${PORT} should fail (${why}); it connected`);
  assert.ok(
    result.ms < FAST_FAILURE_MS,
    `${from.name} -> ${address}:${PORT} should be rejected within ${FAST_FAILURE_MS} ms (${why}); ` +
      `got ${result.outcome} after ${result.ms} ms`,
  );
}

Deno.test({
  name: "simulated internet: routed office LANs, firewall, NAT and address changes",
  ignore: !available,
  async fn(t) {
    await using net = await Internet.create();
    const [a1, a2] = net.a;
    const [b1] = net.b;
    const { relay, c } = net;

    await t.step("the router joins LAN A and LAN B both ways", async () => {
      await using _b1 = await listen(b1);
      await using _a2 = await listen(a2);
      await assertConnects(a1, b1.address, "LAN A -> LAN B is routed");
      await assertConnects(b1, a2.address, "LAN B -> LAN A is routed");
    });

    await t.step("the office and the NATed host reach the relay; the NAT masquerades", async () => {
      await using relayListener = await listen(relay);
      await assertConnects(a1, relay.address, "the office may open connections to the WAN");
      await relayListener.waitForLine((line) => line === `from ${a1.address}`, "the relay to see a1 by its address");
      await assertConnects(c, relay.address, "c1 may open connections through its NAT");
      await relayListener.waitForLine(
        (line) => line === "from 198.18.0.20",
        "the relay to see c1's connection coming from the NAT's outside address 198.18.0.20",
      );
      assert.ok(!relayListener.lines.includes(`from ${c.address}`), "c1's own address leaked past the NAT");
    });

    await t.step("nobody on the WAN can dial into the office or behind the NAT", async () => {
      // Listeners everywhere, so a refusal comes from the network, not from
      // a closed port.
      await using _a1 = await listen(a1);
      await using _c = await listen(c);
      await using _nat = await listen({ name: net.nat, address: "198.18.0.20" });
      await assertRefused(relay, a1.address, "the office firewall rejects new connections from the WAN");
      await assertRefused(c, a1.address, "the office firewall rejects c1, which arrives from the WAN");
      await assertRefused(relay, c.address, "the router has no route to 198.18.3.0/24");
      await assertRefused(relay, "198.18.0.20", "the NAT box rejects new connections from outside");
    });

    await t.step("a host that changes address answers on the new one only", async () => {
      await using _a1 = await listen(a1);
      await using _relay = await listen(relay);
      await assertConnects(b1, "198.18.1.11", "a1 before the change");
      await net.changeAddress(a1, "198.18.1.21");
      assert.equal(a1.address, "198.18.1.21");
      await assertConnects(b1, "198.18.1.21", "a1's new address");
      await assertConnects(a1, relay.address, "a1's routes are back after the change");
      const old = await dial(b1, "198.18.1.11");
      assert.ok(!old.ok, `a1's old address 198.18.1.11 should no longer answer; got ${old.outcome}`);
    });

    await t.step("a host whose link is down is unreachable until it comes back", async () => {
      await using _a2 = await listen(a2);
      await net.linkDown(a2);
      const down = await dial(b1, a2.address);
      assert.ok(!down.ok, `a2 should not answer while its link is down; got ${down.outcome}`);
      await net.linkUp(a2);
      await assertConnects(b1, a2.address, "a2's link is back up");
    });

    await t.step("multicast stays on its LAN: a1's mDNS datagram reaches a2, not b1", async () => {
      // Receivers join 224.0.0.251 and print every datagram they get.
      const receive = (host: Host) =>
        new Program(
          host,
          `const conn = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 5353 });
          await conn.joinMulticastV4("224.0.0.251", "${host.address}");
          console.log("ready");
          for await (const [data] of conn) console.log(new TextDecoder().decode(data));`,
          ["--unstable-net"],
        );
      await using onA2 = receive(a2);
      await using onB1 = receive(b1);
      await onA2.waitForLine((line) => line === "ready", "a2 to join the group");
      await onB1.waitForLine((line) => line === "ready", "b1 to join the group");
      // Datagrams can be lost, so senders repeat until the test has seen one.
      const send = (from: Host, target: string, payload: string) =>
        new Program(
          from,
          `const conn = Deno.listenDatagram({ transport: "udp", hostname: "${from.address}", port: 0 });
          const target = { transport: "udp", hostname: "${target}", port: 5353 };
          const payload = new TextEncoder().encode("${payload}");
          await conn.send(payload, target);
          setInterval(() => conn.send(payload, target), 100);`,
          ["--unstable-net"],
        );
      {
        await using _multicast = send(a1, "224.0.0.251", "mdns");
        await onA2.waitForLine((line) => line === "mdns", "a2 to receive a1's multicast datagram");
      }
      {
        // b1 does hear multicast from its own LAN, so silence below means
        // the router, not a deaf receiver.
        await using _multicast = send(net.b[1], "224.0.0.251", "mdns from b2");
        await onB1.waitForLine((line) => line === "mdns from b2", "b1 to receive b2's multicast datagram");
      }
      // A unicast datagram sent after the multicast ones goes through the
      // router like a forwarded multicast one would: once b1 has it, b1 would
      // have had the multicast ones too.
      await using _unicast = send(a1, b1.address, "end");
      await onB1.waitForLine((line) => line === "end", "b1 to receive a1's unicast datagram through the router");
      assert.ok(!onB1.lines.includes("mdns"), "a1's multicast datagram crossed the router into LAN B");
    });
  },
});

Deno.test({
  name: "simulated internet: without the office firewall the WAN can dial into the office",
  ignore: !available,
  async fn() {
    await using net = await Internet.create({ officeFirewall: false });
    const [a1] = net.a;
    await using _a1 = await listen(a1);
    await assertConnects(net.relay, a1.address, "officeFirewall: false");
    await assertConnects(net.c, a1.address, "officeFirewall: false, c1 through its NAT");
    await assertRefused(net.relay, net.c.address, "the router still has no route to 198.18.3.0/24");
  },
});

Deno.test({
  name: "simulated internet: the iptables fallback filters like nft",
  ignore: !iptables,
  async fn() {
    await using net = await Internet.create({ firewall: "iptables" });
    const [a1] = net.a;
    await using _a1 = await listen(a1);
    await using _nat = await listen({ name: net.nat, address: "198.18.0.20" });
    await using relayListener = await listen(net.relay);
    await assertRefused(net.relay, a1.address, "the office firewall, in iptables");
    await assertConnects(a1, net.relay.address, "the office may open connections to the WAN");
    await assertConnects(net.c, net.relay.address, "c1 may open connections through its NAT");
    await relayListener.waitForLine((line) => line === "from 198.18.0.20", "the relay to see c1 as 198.18.0.20");
    await assertRefused(net.relay, "198.18.0.20", "the NAT box, in iptables, rejects new connections from outside");
  },
});
