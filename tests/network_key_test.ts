/**
 * Two agents holding different network keys: the handshake fails, and both
 * say so at the default log level (info), `hark status` keeps it, and
 * `hark doctor` suggests comparing keys instead of blaming a firewall.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { newNetwork } from "../lib/mesh/network.ts";
import { waitFor } from "./helpers/wait.ts";

const SAID = /INF.*failed the private-network handshake: it holds another network key/;

Deno.test("a wrong network key is said on both sides at info level, and doctor suggests comparing keys", async () => {
  await using member = await startAgent({ config: loopbackConfig() });
  await using friend = await startAgent({ config: loopbackConfig(member.addresses) });
  await using stranger = await startAgent({
    config: loopbackConfig(member.addresses),
    network: newNetwork("elsewhere"),
  });
  await waitFor(() => SAID.test(member.stderr) && SAID.test(stranger.stderr), {
    timeoutMs: 15_000,
    message: "both agents to log the key mismatch",
  }).catch((error) => {
    throw new Error(`${error.message}\nmember: ${member.stderr}\nstranger: ${stranger.stderr}`);
  });
  await member.waitForPeers([friend.peerId]);
  assert.doesNotMatch(friend.stderr, /another network key/, "a peer with the same key is never taken for a stranger");
  const port = member.addresses[0].match(/\/tcp\/(\d+)/)![1];
  assert.match(stranger.stderr, new RegExp(`The peer at /ip4/127\\.0\\.0\\.1/tcp/${port}\\S* failed`));
  assert.match(member.stderr, /The peer at \/ip4\/127\.0\.0\.1\/tcp\/\d+ failed/);

  const status = (await stranger.request({ op: "status" })).status as { key_mismatches: { address: string }[] };
  assert.equal(status.key_mismatches.length, 1);
  assert.match(status.key_mismatches[0].address, new RegExp(`/tcp/${port}`));

  const doctor = await stranger.cli(["doctor", "--json", "--config", `${stranger.stateDir}.toml`]);
  const findings = JSON.parse(doctor.stdout) as { check: string; fix?: string }[];
  const peers = findings.find((finding) => finding.check === "peers")!;
  assert.match(peers.fix!, /holds another network key\. Compare `hark network show` on both machines/);
  assert.doesNotMatch(peers.fix!, /firewall/);
});
