/**
 * Notifications with a life across real agents, each with its own dunst:
 * a new version replaces the popup in place on every machine, `hark ack`
 * on one closes it on the others, and an acknowledgement that reaches an
 * agent before the event (it was away) keeps the event from popping up.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { type DesktopSession, haveDesktop, startDesktopSession } from "./helpers/desktop_session.ts";
import { waitFor } from "./helpers/wait.ts";

const desktop = haveDesktop("notifications_test: update, acknowledge and delete across agents");

const SINKS = `
[agent]
topics = ["deploys"]

[[sink]]
type = "file"

[[sink]]
type = "desktop"
`;

function config(host: string, peers: string[] = []): string {
  return loopbackConfig(peers, SINKS.replace("[agent]", `[agent]\nhost = "${host}"`));
}

/** Popups dunst shows or holds right now. */
async function openPopups(session: DesktopSession): Promise<number> {
  const displayed = Number((await session.dunstctl("count", "displayed")).stdout.trim());
  const waiting = Number((await session.dunstctl("count", "waiting")).stdout.trim());
  return displayed + waiting;
}

Deno.test({
  name: "send --sequence twice replaces the popup in place on both agents; hark ack on B closes it on A",
  ignore: !desktop,
}, async () => {
  await using screenA = await startDesktopSession();
  await using screenB = await startDesktopSession();
  await using a = await startAgent({ config: config("host-a"), env: screenA.env });
  await using b = await startAgent({ config: config("host-b", a.addresses), env: screenB.env });
  await b.waitForPeers([a.peerId], "deploys");
  await a.waitForPeers([b.peerId], "deploys");

  const started = await a.send(["-t", "deploys", "--sequence", "deploy-42", "--title", "Deploy 42", "started"]);
  const onA = await screenA.waitForNotification((n) => n.body === "started");
  const onB = await screenB.waitForNotification((n) => n.body === "started");
  assert.equal(onB.actions["hark-ack"], "Acknowledge");
  const passed = await a.send(["-t", "deploys", "--sequence", "deploy-42", "--title", "Deploy 42", "tests passed"]);
  assert.equal((await screenA.waitForNotification((n) => n.body === "tests passed")).id, onA.id, "replaced on A");
  assert.equal((await screenB.waitForNotification((n) => n.body === "tests passed")).id, onB.id, "replaced on B");
  assert.equal(await openPopups(screenB), 1);
  await b.waitForEvents([started, passed]);

  const ack = await b.cli(["ack", "deploy-42"]);
  assert.equal(ack.code, 0, ack.stderr);
  const clearId = ack.stdout.trim();
  await waitFor(async () => (await openPopups(screenA)) === 0, { message: "A's popup to close" });
  await waitFor(async () => (await openPopups(screenB)) === 0, { message: "B's popup to close" });
  // Sinks and scripts see who acknowledged what, and when.
  const [clear] = (await a.waitForEvents([clearId])).filter((event) => event.id === clearId);
  assert.equal(clear.kind, "clear");
  assert.equal(clear.sequence, "deploy-42");
  assert.equal(clear.topic, "deploys");
  assert.equal(clear.source.host, "host-b");
  assert.equal(clear.source.peer, b.peerId);
  // Neither a clear nor an old version ever popped up.
  assert.equal(screenA.notifications().length, 2);
  assert.equal(screenB.notifications().length, 2);

  // hark history shows the notification once: its latest version, its history and who acknowledged it.
  const history = await a.cli(["history", "-t", "deploys"]);
  assert.equal(history.code, 0, history.stderr);
  assert.match(history.stdout, /tests passed/);
  assert.match(history.stdout, /acknowledged by host-b/);
});

Deno.test({
  name: "an ack that reaches an agent before its event (it was away) is applied: the event never pops up",
  ignore: !desktop,
}, async () => {
  await using screenA = await startDesktopSession();
  await using screenB = await startDesktopSession();
  await using a = await startAgent({ config: config("host-a"), env: screenA.env });
  // B starts apart from A: it hears nothing of what A publishes.
  const first = await startAgent({ config: config("host-b"), env: screenB.env });
  const stateDir = first.stateDir;
  const disk = await a.send(["-t", "deploys", "--sequence", "disk-db1", "--title", "Disk full", "db-1 at 99%"]);
  await screenA.waitForNotification((n) => n.body === "db-1 at 99%");
  // On B, someone acknowledges it (seen on a phone, say): B's store has no such notification, so the topic is named.
  const unknown = await first.cli(["ack", "disk-db1"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no notification with key or id "disk-db1".*--topic/);
  const ack = await first.cli(["ack", "-t", "deploys", "disk-db1"]);
  assert.equal(ack.code, 0, ack.stderr);
  await first.stop();

  // B comes back connected to A: it catches up A's event, after the ack it already holds.
  await using b = await startAgent({ config: config("host-b", a.addresses), env: screenB.env, stateDir });
  await b.waitForEvents([disk]);
  // A gets B's ack by catch-up too, and closes its popup.
  await a.waitForEvents([ack.stdout.trim()]);
  await waitFor(async () => (await openPopups(screenA)) === 0, { message: "A's popup to close" });
  // A later event on B's desktop proves the sink went past the caught-up one without showing it.
  const later = await a.send(["-t", "deploys", "--title", "Later", "after the catch-up"]);
  await b.waitForEvents([later]);
  await screenB.waitForNotification((n) => n.body === "after the catch-up");
  assert.deepEqual(screenB.notifications().map((n) => n.body), ["after the catch-up"]);
});

Deno.test({
  name:
    "after kill -9 and a restart a new version replaces the popup shown before and an ack closes it: nothing shows twice",
  ignore: !desktop,
}, async () => {
  await using screenB = await startDesktopSession();
  await using a = await startAgent({ config: config("host-a") });
  const first = await startAgent({ config: config("host-b", a.addresses), env: screenB.env });
  const stateDir = first.stateDir;
  await first.waitForPeers([a.peerId], "deploys");
  await a.waitForPeers([first.peerId], "deploys");
  const started = await a.send(["-t", "deploys", "--sequence", "deploy-7", "--title", "Deploy 7", "started"]);
  const popup = await screenB.waitForNotification((n) => n.body === "started");
  await first.waitForEvents([started]);
  await first.stop("SIGKILL");

  await using b = await startAgent({ config: config("host-b", a.addresses), env: screenB.env, stateDir });
  await b.waitForPeers([a.peerId], "deploys");
  await a.waitForPeers([b.peerId], "deploys");
  const live = await a.send(["-t", "deploys", "--sequence", "deploy-7", "--title", "Deploy 7", "live"]);
  await b.waitForEvents([live]);
  assert.equal((await screenB.waitForNotification((n) => n.body === "live")).id, popup.id, "replaced in place");
  assert.equal(await openPopups(screenB), 1);
  // Whatever came again after the kill replaced its own popup: every popup dunst got has the one id.
  assert.deepEqual([...new Set(screenB.notifications().map((n) => n.id))], [popup.id]);
  const ack = await a.cli(["ack", "deploy-7"]);
  assert.equal(ack.code, 0, ack.stderr);
  await waitFor(async () => (await openPopups(screenB)) === 0, { message: "B's popup to close after its restart" });
});

Deno.test({
  name:
    "an agent that catches up a notification's versions and its ack shows none of them: no popup flashes and closes",
  ignore: !desktop,
}, async () => {
  await using screenB = await startDesktopSession();
  await using a = await startAgent({ config: loopbackConfig([], `[agent]\ntopics = ["deploys"]\n`) });
  const steps = [];
  for (const body of ["started", "tests passed", "live"]) {
    steps.push(await a.send(["-t", "deploys", "--sequence", "deploy-9", "--title", "Deploy 9", body]));
  }
  const ack = await a.cli(["ack", "deploy-9"]);
  assert.equal(ack.code, 0, ack.stderr);

  // B joins afterwards and catches all four up in one session, well within its sinks' max_age.
  await using b = await startAgent({ config: config("host-b", a.addresses), env: screenB.env });
  await b.waitForEvents([...steps, ack.stdout.trim()]);
  // A later event proves the desktop went past the caught-up ones: none of them reached dunst, not even for a moment.
  const later = await a.send(["-t", "deploys", "--title", "Later", "after the catch-up"]);
  await b.waitForEvents([later]);
  await screenB.waitForNotification((n) => n.body === "after the catch-up");
  assert.deepEqual(screenB.notifications().map((n) => n.body), ["after the catch-up"]);
});
