/**
 * `hark doctor` on a clean machine and on broken ones: each finding, its
 * fix, and the exit code (1 only when a check fails).
 */

import assert from "node:assert/strict";
import { hark, loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { Rogue } from "./helpers/rogue.ts";
import { Lan, netnsAvailable } from "./helpers/netns.ts";
import { lpStream } from "@libp2p/utils";
import { CLOCK_PROTOCOL } from "../lib/connect/clock.ts";
import type { Finding } from "../lib/doctor/finding.ts";
import { saveNetwork } from "../lib/mesh/network.ts";

const NO_DBUS = { DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/bus" };

interface Doctor {
  code: number;
  findings: Finding[];
}

/** Runs `hark doctor --json` with a config written next to a fresh (or given) state dir. */
async function doctor(config: string, stateDir?: string, options: { netns?: string } = {}): Promise<Doctor> {
  const dir = await Deno.makeTempDir({ prefix: "hark-doctor-" });
  try {
    await Deno.writeTextFile(`${dir}/config.toml`, config);
    const result = await hark(
      ["doctor", "--json", "--config", `${dir}/config.toml`, "--state-dir", stateDir ?? `${dir}/state`],
      { env: NO_DBUS, netns: options.netns },
    );
    assert.equal(result.stderr, "", "doctor reports through its findings, not stderr");
    return { code: result.code, findings: JSON.parse(result.stdout) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function finding(report: Doctor, check: string): Finding {
  const found = report.findings.find((f) => f.check === check);
  assert.ok(found, `a "${check}" finding in ${JSON.stringify(report.findings.map((f) => f.check))}`);
  return found;
}

/** A port nothing listens on: bound, noted and released. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function config(port: number, peers: string[] = []): string {
  return `[network]\nlisten = ["/ip4/127.0.0.1/tcp/${port}"]\nmdns = false\npeers = ${JSON.stringify(peers)}\n`;
}

Deno.test("on a clean machine every check passes or explains itself, and doctor exits 0", async () => {
  const report = await doctor(config(freePort()));
  assert.equal(report.code, 0);
  assert.deepEqual(report.findings.map((f) => f.check), [
    "config",
    "state dir and keys",
    "listen port",
    "mDNS",
    "desktop notifications",
    "service",
    "agent",
    "peers",
    "clock",
  ]);
  assert.match(finding(report, "state dir and keys").detail, /does not exist yet; `hark run` creates it \(mode 0700\)/);
  assert.match(finding(report, "listen port").detail, /is free$/);
  assert.match(finding(report, "mDNS").detail, /^off \(network.mdns = false\)/);
  const desktop = finding(report, "desktop notifications");
  assert.equal(desktop.verdict, "warn", "no session bus here");
  assert.match(desktop.fix!, /desktop session/);
  assert.equal(finding(report, "agent").verdict, "warn");
  assert.match(finding(report, "agent").fix!, /hark run/);
  assert.match(finding(report, "peers").detail, /^none configured/);
  assert.match(finding(report, "clock").detail, /no agent running/);
});

Deno.test("a state dir or key others can read fails, with the chmod that fixes it", async () => {
  if (Deno.build.os === "windows") return;
  const stateDir = await Deno.makeTempDir({ prefix: "hark-doctor-state-" });
  try {
    await Deno.chmod(stateDir, 0o755);
    let report = await doctor(config(freePort()), stateDir);
    assert.equal(report.code, 1);
    let state = finding(report, "state dir and keys");
    assert.equal(state.verdict, "fail");
    assert.match(state.detail, /open to other users \(mode 755\)/);
    assert.equal(state.fix, `chmod 700 "${stateDir}"`);

    await Deno.chmod(stateDir, 0o700);
    await saveNetwork(stateDir, TEST_NETWORK);
    await Deno.chmod(`${stateDir}/swarm.key`, 0o644);
    report = await doctor(config(freePort()), stateDir);
    assert.equal(report.code, 1);
    state = finding(report, "state dir and keys");
    assert.match(state.detail, /readable by other users: swarm.key \(mode 644\)/);
    assert.equal(state.fix, `chmod 600 "${stateDir}/swarm.key"`);

    await Deno.chmod(`${stateDir}/swarm.key`, 0o600);
    report = await doctor(config(freePort()), stateDir);
    assert.equal(finding(report, "state dir and keys").verdict, "ok");
    assert.match(finding(report, "state dir and keys").detail, /private and writable; swarm.key, network.json private/);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("a listen port another program holds fails, and says how to find it", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = taken.addr as Deno.NetAddr;
    const report = await doctor(config(port));
    assert.equal(report.code, 1);
    const listen = finding(report, "listen port");
    assert.equal(listen.verdict, "fail");
    assert.match(listen.detail, new RegExp(`port ${port} is taken by another program`));
    assert.match(listen.fix!, new RegExp(`ss -ltnp 'sport = :${port}'`));
  } finally {
    taken.close();
  }
});

Deno.test("a config that does not parse fails first, and the other checks still run", async () => {
  const report = await doctor(`[network]\nmdns = "yes"\n`);
  assert.equal(report.code, 1);
  const configFinding = finding(report, "config");
  assert.equal(configFinding.verdict, "fail");
  assert.match(configFinding.detail, /mdns/);
  finding(report, "state dir and keys");
  finding(report, "agent");
});

Deno.test("configured peers are probed over TCP when no agent runs", async () => {
  const peer = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const connection of peer) connection.close();
  })();
  try {
    const up = `/ip4/127.0.0.1/tcp/${(peer.addr as Deno.NetAddr).port}`;
    const down = `/ip4/127.0.0.1/tcp/${freePort()}`;
    let report = await doctor(config(freePort(), [up]));
    assert.equal(finding(report, "peers").verdict, "ok");
    assert.match(finding(report, "peers").detail, /all 1 configured peer\(s\) reachable over TCP/);
    report = await doctor(config(freePort(), [up, down]));
    assert.equal(finding(report, "peers").verdict, "warn");
    assert.match(finding(report, "peers").detail, new RegExp(`1 of 2 .* not: ${down.replaceAll("/", "\\/")}$`));
    report = await doctor(config(freePort(), [down]));
    assert.equal(finding(report, "peers").verdict, "fail");
    assert.equal(report.code, 1);
  } finally {
    peer.close();
    await accepting;
  }
});

Deno.test("with an agent running: its configured peers, and a peer whose clock is 5 minutes ahead", async () => {
  await using first = await startAgent({ config: loopbackConfig() });
  const down = `/ip4/127.0.0.1/tcp/${freePort()}`;
  const port = freePort();
  await using second = await startAgent({
    config: loopbackConfig([first.addresses[0], down]).replace("/tcp/0", `/tcp/${port}`),
  });
  await second.waitForPeers([first.peerId]);
  // A member whose clock runs 5 minutes fast.
  await using fast = await Rogue.start(TEST_NETWORK);
  await fast.node.handle(CLOCK_PROTOCOL, async (stream) => {
    const lp = lpStream(stream);
    await lp.write(new TextEncoder().encode(String(Date.now() + 300_000)));
    await stream.close();
  });
  await fast.dial(second.addresses[0]);

  const result = await second.cli(["doctor", "--json", "--config", `${second.stateDir}.toml`], { env: NO_DBUS });
  const report: Doctor = { code: result.code, findings: JSON.parse(result.stdout) };
  assert.match(finding(report, "agent").detail, /running in .*, 2 peers connected/);
  assert.equal(finding(report, "listen port").detail, `/ip4/127.0.0.1/tcp/${port}: held by the running agent`);
  const peers = finding(report, "peers");
  assert.equal(peers.verdict, "warn");
  assert.match(
    peers.detail,
    new RegExp(`^1 of 2 configured peer\\(s\\) connected; not: ${down.replaceAll("/", "\\/")}$`),
  );
  const clock = finding(report, "clock");
  assert.equal(clock.verdict, "warn");
  assert.match(clock.detail, new RegExp(`2 peer\\(s\\) compared; largest difference 300 s ahead \\(${fast.peerId}\\)`));
  assert.match(clock.fix!, /NTP/);
  assert.equal(report.code, 0, "warnings alone do not fail");

  const text = await second.cli(["doctor", "--config", `${second.stateDir}.toml`], { env: NO_DBUS });
  assert.match(text.stdout, /^warn {2}clock: 2 peer\(s\) compared; largest difference 300 s ahead/m);
  assert.match(text.stdout, /^ {6}fix: keep clocks in sync with NTP/m);
});

const netns = await netnsAvailable("doctor_test mDNS checks");

Deno.test({
  name: "mDNS: possible on a LAN interface, explained on a host with only loopback",
  ignore: !netns,
  async fn() {
    await using lan = await Lan.create(1, 7);
    const mdnsOn = `[network]\nlisten = ["/ip4/0.0.0.0/tcp/4001"]\nmdns = true\n`;
    const onLan = await doctor(mdnsOn, undefined, { netns: lan.hosts[0].name });
    assert.equal(finding(onLan, "mDNS").verdict, "ok");
    assert.equal(finding(onLan, "mDNS").detail, `possible on eth0 (${lan.hosts[0].address})`);

    const bare = `hark-doctor-${Deno.pid}`;
    await new Deno.Command("ip", { args: ["netns", "add", bare] }).output();
    try {
      const alone = await doctor(mdnsOn, undefined, { netns: bare });
      assert.equal(finding(alone, "mDNS").verdict, "warn");
      assert.match(finding(alone, "mDNS").detail, /no network interface with an IPv4 address besides loopback/);
      assert.match(finding(alone, "mDNS").fix!, /network.peers/);
    } finally {
      await new Deno.Command("ip", { args: ["netns", "del", bare] }).output();
    }
  },
});
