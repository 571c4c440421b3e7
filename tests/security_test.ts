/**
 * Tests that try to break SPEC's security promises with real agents and a
 * real hostile libp2p peer: membership by network key, join tokens,
 * publisher rules, rate limits under a flood, and malformed wire messages.
 */

import assert from "node:assert/strict";
import { AgentProcess, hark, loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { Rogue } from "./helpers/rogue.ts";
import { waitFor } from "./helpers/wait.ts";
import { decodeToken, newNetwork, saveNetwork } from "../lib/mesh/network.ts";
import { loadIdentity } from "../lib/mesh/identity.ts";
import { peerIdFromPrivateKey, peerIdFromString } from "@libp2p/peer-id";
import { signRecord } from "../lib/event/signed_record.ts";
import type { MeshCounters } from "../lib/mesh/mesh.ts";
import { receiverLimit } from "../lib/rate_limit.ts";

// The rogue runs libp2p inside the test process; libp2p's dependencies keep
// timers of their own after stop (see main.ts), which the sanitizers would
// report although hark's code leaks nothing.
const inProcessLibp2p = { sanitizeOps: false, sanitizeResources: false };

async function counters(agent: AgentProcess): Promise<MeshCounters> {
  const reply = await agent.request({ op: "status" });
  return (reply.status as { events: MeshCounters }).events;
}

async function scoreOf(agent: AgentProcess, peer: string): Promise<number | undefined> {
  const reply = await agent.request({ op: "peers" });
  return (reply.peers as { peer: string; score?: number }[]).find((p) => p.peer === peer)?.score;
}

/** A fresh state dir in the test network whose peer id is known before start. */
async function preparedStateDir(): Promise<{ stateDir: string; peerId: string }> {
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  await saveNetwork(stateDir, TEST_NETWORK);
  const peerId = peerIdFromPrivateKey(await loadIdentity(stateDir)).toString();
  return { stateDir, peerId };
}

Deno.test({
  name: "only holders of the network key can connect",
  ...inProcessLibp2p,
  async fn(t) {
    await using member = await startAgent({ config: loopbackConfig() });
    await using friend = await startAgent({ config: loopbackConfig(member.addresses) });
    await using stranger = await startAgent({
      config: loopbackConfig(member.addresses),
      network: newNetwork("elsewhere"),
      args: ["--log-level", "debug"],
    });
    await member.waitForPeers([friend.peerId]);

    await t.step("an agent with another key cannot connect", async () => {
      await waitFor(() => stranger.stderr.includes("Cannot reach"), {
        timeoutMs: 15_000,
        message: "the stranger's dial to fail",
      });
      const theirs = await stranger.request({ op: "peers" });
      assert.deepEqual(theirs.peers, []);
      const ours = await member.request({ op: "peers" });
      assert.ok(!(ours.peers as { peer: string }[]).some((p) => p.peer === stranger.peerId));
    });

    await t.step("a node with no key cannot connect and its dial does not hang", async () => {
      await using keyless = await Rogue.start();
      await assert.rejects(keyless.dial(member.addresses[0], 10_000));
      assert.equal(keyless.node.getConnections().length, 0);
    });

    await t.step("a keyed node can connect", async () => {
      await using keyed = await Rogue.start(TEST_NETWORK);
      await keyed.dial(member.addresses[0]);
      const connections = keyed.node.getConnections();
      assert.equal(connections.length, 1);
      assert.equal(connections[0].encryption, "/noise", "inside the private network, Noise encrypts");
    });

    await t.step("no event crosses", async () => {
      const fromStranger = await stranger.send(["from outside"]);
      const fromMember = await member.send(["members only"]);
      const atFriend = await friend.waitForEvents([fromMember]);
      assert.ok(!atFriend.some((event) => event.id === fromStranger));
      // By the time the friend has an event sent after it, the member would have the stranger's.
      const marker = await friend.send(["marker"]);
      const atMember = await member.waitForEvents([marker]);
      assert.ok(!atMember.some((event) => event.id === fromStranger), "stranger's event reached a member");
      assert.ok(!(await stranger.events()).some((event) => event.id === fromMember), "member's event leaked out");
    });
  },
});

Deno.test("a join token round-trips and an agent started from it alone joins", async () => {
  await using founder = await startAgent({ config: loopbackConfig(), network: "own" });
  assert.match(founder.stderr, /Created private network net-[0-9a-f]+\. .*\n\n {2}hark network join hark1:/s);

  const shown = await founder.cli(["network", "show"]);
  assert.equal(shown.code, 0, shown.stderr);
  const token = shown.stdout.trim();
  const network = decodeToken(token);
  const status = await founder.request({ op: "status" });
  assert.equal(network.name, (status.status as { network: string }).network);
  assert.deepEqual(network.peers, founder.addresses, "the token carries the founder's addresses");

  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  try {
    const joined = await hark(["network", "join", token, "--state-dir", stateDir]);
    assert.equal(joined.code, 0, joined.stderr);
    assert.match(joined.stderr, new RegExp(`Joined network "${network.name}" with 1 bootstrap address`));
    assert.equal((await Deno.stat(`${stateDir}/swarm.key`)).mode! & 0o777, 0o600);
    const again = await hark(["network", "show", "--state-dir", stateDir]);
    assert.equal(decodeToken(again.stdout.trim()).name, network.name, "show prints the joined network");

    // No peers in its config: everything it needs comes from the token.
    await using member = await startAgent({ stateDir, config: loopbackConfig() });
    await founder.waitForPeers([member.peerId]);
    await member.waitForPeers([founder.peerId]);
    const id = await founder.send(["welcome"]);
    await member.waitForEvents([id]);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("hark network rejects bad tokens and does not replace a network by accident", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  try {
    for (const token of ["not-a-token", "hark1:!!!", "hark1:e30"]) {
      const result = await hark(["network", "join", token, "--state-dir", stateDir]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /^hark: invalid join token \(.+\); copy the whole token/);
    }
    const created = await hark(["network", "create", "office", "--state-dir", stateDir]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(decodeToken(created.stdout.trim()).name, "office");
    const again = await hark(["network", "create", "other", "--state-dir", stateDir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already in network "office".*--force/);
    const forced = await hark(["network", "create", "other", "--force", "--state-dir", stateDir]);
    assert.equal(forced.code, 0, forced.stderr);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("only listed publishers reach sinks on a restricted topic", async () => {
  const allowed = await preparedStateDir();
  const victim = await preparedStateDir();
  const rules = `[agent]\ntopics = ["default", "builds"]\n\n[topic.builds]\npublishers = ["${allowed.peerId}"]\n`;
  try {
    await using a = await startAgent({ stateDir: allowed.stateDir, config: loopbackConfig([], rules) });
    await using v = await startAgent({ stateDir: victim.stateDir, config: loopbackConfig(a.addresses, rules) });
    // The intruder's own config has no such rule, so its agent publishes.
    await using intruder = await startAgent({
      config: loopbackConfig([...a.addresses, ...v.addresses], `[agent]\ntopics = ["default", "builds"]\n`),
    });
    await v.waitForPeers([a.peerId, intruder.peerId], "builds");
    await a.waitForPeers([intruder.peerId], "builds");

    const forged = await intruder.send(["-t", "builds", "--title", "Deploy approved", "trust me"]);
    const genuine = await a.send(["-t", "builds", "--title", "Build #813 passed", "ok"]);
    for (const receiver of [v, a]) {
      const events = await receiver.waitForEvents([genuine]);
      assert.ok(!events.some((event) => event.id === forged), "the forged event reached a sink");
    }
    await waitFor(async () => (await counters(v)).unauthorized >= 1, { message: "victim to count the rejection" });
    await waitFor(async () => ((await scoreOf(v, intruder.peerId)) ?? 0) < 0, {
      message: "the intruder's score to drop below zero",
    });

    const refused = await v.cli(["send", "-t", "builds", "not mine to send"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /may not publish on "builds": it is not in topic.builds.publishers/);
  } finally {
    await Deno.remove(allowed.stateDir, { recursive: true });
    await Deno.remove(victim.stateDir, { recursive: true });
  }
});

/** Resident memory of a process in bytes (Linux). */
async function rss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const RSS_CEILING = 400 * 1024 * 1024;

Deno.test({
  name: "a flooding peer is throttled to the rate limit and well-behaved events still arrive",
  ignore: Deno.build.os !== "linux",
  ...inProcessLibp2p,
  async fn() {
    await using victim = await startAgent({ config: loopbackConfig() });
    await using neighbour = await startAgent({ config: loopbackConfig(victim.addresses) });
    await victim.waitForPeers([neighbour.peerId]);
    await using rogue = await Rogue.beside(victim);

    const started = performance.now();
    let peakRss = 0;
    const sampling = setInterval(() => rss(victim.child.pid).then((bytes) => peakRss = Math.max(peakRss, bytes)), 50);
    const flood = (async () => {
      // 5,000 valid events inside one second, in batches so the sender's own buffers keep up.
      for (let batch = 0; batch < 50; batch++) {
        const sends = [];
        for (let i = 0; i < 100; i++) {
          sends.push(rogue.publish("default", rogue.event({ title: "flood", body: `${batch}.${i}` })));
        }
        await Promise.allSettled(sends);
        const due = started + (batch + 1) * 20;
        if (performance.now() < due) await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
      }
    })();
    const wellBehaved: string[] = [];
    for (let i = 0; i < 5; i++) wellBehaved.push(await neighbour.send([`honest ${i}`]));
    await flood;
    const floodSeconds = (performance.now() - started) / 1000;

    const status = await victim.cli(["status", "--json"]);
    assert.equal(status.code, 0, "the control socket answers during the flood");
    const events = await victim.waitForEvents(wellBehaved, 30_000);
    await waitFor(async () => (await counters(victim)).throttled > 0, { message: "throttling to show" });
    const elapsed = (performance.now() - started) / 1000;
    const fromRogue = events.filter((event) => event.source.peer === rogue.peerId).length;
    assert.ok(fromRogue > 0, "the rogue's burst is accepted");
    assert.ok(
      // The default limit as receivers enforce it: 20/s, bursts of 200 and two seconds' allowance.
      fromRogue <= receiverLimit({ rate: 20, burst: 200 }).burst + Math.ceil(20 * elapsed),
      `${fromRogue} flood events delivered in ${elapsed.toFixed(1)} s (flood took ${floodSeconds.toFixed(1)} s)`,
    );
    const score = await scoreOf(victim, rogue.peerId);
    assert.ok(score === undefined || score < 0, `the rogue's score is ${score}`);
    clearInterval(sampling);
    peakRss = Math.max(peakRss, await rss(victim.child.pid));
    assert.ok(peakRss < RSS_CEILING, `victim RSS peaked at ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
  },
});

Deno.test({
  name: "malformed wire messages are rejected, counted, and never crash the agent",
  ...inProcessLibp2p,
  async fn() {
    await using victim = await startAgent({ config: loopbackConfig() });
    await using rogue = await Rogue.beside(victim);
    const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    const valid = JSON.parse(new TextDecoder().decode(rogue.event({ title: "real", body: "original" })));
    const malformed: [string, Uint8Array][] = [
      ["random bytes", crypto.getRandomValues(new Uint8Array(300))],
      ["wrong types", encode({ ...valid, id: rogue.nextId(), priority: "high", tags: "a,b" })],
      ["huge field", encode({ ...valid, id: rogue.nextId(), title: "t".repeat(5000) })],
      ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
      ["claims a peer", encode({ ...valid, id: rogue.nextId(), source: { host: "x", peer: "12D3KooWforged" } })],
      ["topic mismatch", encode({ ...valid, id: rogue.nextId(), topic: "builds" })],
      ["over the size limit", encode({ ...valid, id: rogue.nextId(), data: "x".repeat(20_000) })],
    ];
    for (const [, bytes] of malformed) await rogue.publish("default", bytes);
    await rogue.publish("default", encode(valid));
    // Same id, different content: a forgery of an event already delivered.
    await rogue.publish("default", encode({ ...valid, body: "tampered" }));

    const seen = await waitFor(async () => {
      const c = await counters(victim);
      return c.malformed >= malformed.length && c.conflicting >= 1 && c;
    }, { message: "every malformed message to be counted" });
    assert.equal(seen.malformed, malformed.length);
    assert.equal(seen.conflicting, 1);
    assert.equal(seen.accepted, 1);
    const events = await victim.waitForEvents([valid.id]);
    const copies = events.filter((event) => event.id === valid.id);
    assert.equal(copies.length, 1);
    assert.equal(copies[0].body, "original");
    assert.ok(victim.running, "the agent is still running");
    const human = await victim.cli(["status"]);
    assert.match(
      human.stdout,
      /rejected: {2}8 \(7 malformed, 0 unauthorized, 0 over the rate limit, 1 conflicting ids, 0 off their topic's schema, 0 disputed departures\)/,
    );
  },
});

Deno.test({
  name: "a forged copy that arrives first does not stop the real message, and copies of it are dropped",
  ...inProcessLibp2p,
  async fn() {
    await using victim = await startAgent({ config: loopbackConfig() });
    await using rogue = await Rogue.beside(victim);
    const event = rogue.event({ title: "real", body: "the genuine one" });
    const { id } = JSON.parse(new TextDecoder().decode(event));
    const record = await signRecord(rogue.key, "default", event);
    const from = peerIdFromString(record.publisher).toMultihash().bytes;
    const genuine = { topic: "default", data: event, from, seqno: record.seqno, signature: record.signature };
    // Same signer and sequence number, so the same message id; the signature is not the signer's.
    const forged = { ...genuine, signature: genuine.signature.map((byte, i) => i === 0 ? byte ^ 0xff : byte) };
    // And a forgery alone, which must never arrive: it proves the forged signature is refused.
    const lone = rogue.event({ title: "fake", body: "never signed" });
    const loneId = JSON.parse(new TextDecoder().decode(lone)).id;
    const loneRecord = await signRecord(rogue.key, "default", lone);
    rogue.sendRaw(victim.peerId, { ...genuine, data: lone, seqno: loneRecord.seqno, signature: genuine.signature });
    rogue.sendRaw(victim.peerId, forged);
    rogue.sendRaw(victim.peerId, genuine);
    rogue.sendRaw(victim.peerId, genuine);
    rogue.sendRaw(victim.peerId, forged);
    // One stream, read in order: once the genuine message is in, every message before it was judged.
    const events = await victim.waitForEvents([id]);
    assert.ok(!events.some((candidate) => candidate.id === loneId), "a message with a forged signature arrived");
    const copies = events.filter((candidate) => candidate.id === id);
    assert.equal(copies.length, 1, "delivered once");
    assert.equal(copies[0].body, "the genuine one");
    const seen = await counters(victim);
    assert.equal(seen.accepted, 1);
    assert.ok(victim.running);
  },
});
