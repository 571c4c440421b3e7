/**
 * One notification for one problem across real agents: four hosts send
 * `--dedup disk-full`, one desktop (a real dunst) shows one popup that
 * counts them, updated in place; the file sink still gets every event;
 * after kill -9 and a restart nothing counts or shows twice.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { type DesktopSession, haveDesktop, startDesktopSession } from "./helpers/desktop_session.ts";

const desktop = haveDesktop("dedup_test: one counting popup for one problem from several hosts");

function config(host: string, peers: string[] = [], sinks = ""): string {
  return loopbackConfig(peers, `[agent]\nhost = "${host}"\ntopics = ["alerts"]\n\n[[sink]]\ntype = "file"\n${sinks}`);
}

async function openPopups(session: DesktopSession): Promise<number> {
  const displayed = Number((await session.dunstctl("count", "displayed")).stdout.trim());
  const waiting = Number((await session.dunstctl("count", "waiting")).stdout.trim());
  return displayed + waiting;
}

Deno.test({
  name: "send --dedup from four hosts makes one popup that counts them; a restart after kill -9 shows nothing twice",
  ignore: !desktop,
}, async () => {
  await using screen = await startDesktopSession();
  const desktopSink = `\n[[sink]]\ntype = "desktop"\n`;
  const first = await startAgent({ config: config("desk", [], desktopSink), env: screen.env });
  const stateDir = first.stateDir;
  const hosts: AgentProcess[] = [];
  try {
    for (const name of ["db01", "db02", "db03", "db04"]) {
      hosts.push(await startAgent({ config: config(name, first.addresses) }));
    }
    await first.waitForPeers(hosts.map((host) => host.peerId), "alerts");
    const ids: string[] = [];
    for (const host of hosts) {
      ids.push(await host.send(["-t", "alerts", "-p", "high", "--dedup", "disk-full", "--title", "disk full", "/var"]));
      await first.waitForEvents([ids.at(-1)!]);
    }
    const counted = await screen.waitForNotification((n) => n.summary === "disk full ×4");
    assert.equal(counted.body, "db01, db02, db03, db04\n/var");
    assert.deepEqual([...new Set(screen.notifications().map((n) => n.id))], [counted.id], "one popup, in place");
    assert.equal(await openPopups(screen), 1);
    // Other sinks get every event, with its dedup key.
    const stored = (await first.events()).filter((event) => ids.includes(event.id));
    assert.deepEqual(stored.map((event) => event.dedup), ["disk-full", "disk-full", "disk-full", "disk-full"]);
    await first.stop("SIGKILL");

    await using desk = await startAgent({
      config: config("desk", hosts.map((host) => host.addresses[0]), desktopSink),
      env: screen.env,
      stateDir,
    });
    await desk.waitForPeers([hosts[0].peerId], "alerts");
    const fifth = await hosts[0].send(["-t", "alerts", "--dedup", "disk-full", "--title", "disk full", "again"]);
    await desk.waitForEvents([fifth]);
    const five = await screen.waitForNotification((n) => n.summary === "disk full ×5");
    assert.equal(five.id, counted.id, "the same popup after the restart");
    // Whatever came again after the kill counted once: the popup went from ×4 to ×5, never past.
    assert.ok(screen.notifications().every((n) => /^disk full( ×[1-5])?$/.test(n.summary)));
    assert.equal(await openPopups(screen), 1);
  } finally {
    for (const host of hosts) await host[Symbol.asyncDispose]();
    await first[Symbol.asyncDispose]();
  }
});
