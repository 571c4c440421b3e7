/**
 * The desktop sink and notifications with a life, against a real dunst:
 * a new version replaces the popup in place (same id), a clear or delete
 * closes it, and its "Acknowledge" button publishes a clear.
 */

import assert from "node:assert/strict";
import { DesktopSink, linuxBackend } from "./mod.ts";
import { LinuxDesktop } from "./linux.ts";
import { createEvent, type EventDraft, type HarkEvent } from "../../lib/event/event.ts";
import { monotonicUlid } from "../../lib/event/ulid.ts";
import { type DesktopSession, haveDesktop, startDesktopSession } from "../../tests/helpers/desktop_session.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { EventStore } from "../../lib/store/store.ts";

const nextId = monotonicUlid();
const haveSession = haveDesktop("the desktop sink's notifications with a life against dunst");

function event(draft: EventDraft): HarkEvent {
  return createEvent({ topic: "deploys", ...draft }, { id: nextId(), now: Date.now(), host: "ci", peer: "12D3KooWt" });
}

/** How many popups dunst shows or holds. */
async function open(session: DesktopSession): Promise<number> {
  const displayed = Number((await session.dunstctl("count", "displayed")).stdout.trim());
  const waiting = Number((await session.dunstctl("count", "waiting")).stdout.trim());
  return displayed + waiting;
}

function sinkTest(
  name: string,
  body: (session: DesktopSession, sink: DesktopSink, acks: string[][]) => Promise<void>,
) {
  Deno.test({ name, ignore: !haveSession }, async () => {
    await using session = await startDesktopSession();
    const desktop = new LinuxDesktop({ address: session.address, warn: () => {} });
    const acks: string[][] = [];
    const sink = new DesktopSink({
      maxAgeMs: 60_000,
      summarizeAfter: 10,
      maxPopups: 100,
      popupWindowMs: 60_000,
      backend: linuxBackend(desktop),
      acknowledge: (topic, sequence) => Promise.resolve(acks.push([topic, sequence])),
    });
    try {
      await body(session, sink, acks);
    } finally {
      await sink.close();
    }
  });
}

sinkTest(
  "a new version with the same sequence replaces the popup in place; a clear closes it",
  async (session, sink) => {
    await sink.deliver(event({ title: "deploy 42", body: "started", sequence: "deploy-42" }));
    const first = await session.waitForNotification((n) => n.body === "started");
    await sink.deliver(event({ title: "deploy 42", body: "tests passed", sequence: "deploy-42" }));
    const second = await session.waitForNotification((n) => n.body === "tests passed");
    assert.equal(second.id, first.id, "the popup is replaced, not a second one");
    // The same key on another topic is another notification.
    await sink.deliver(event({ topic: "builds", body: "other topic", sequence: "deploy-42" }));
    const other = await session.waitForNotification((n) => n.body === "other topic");
    assert.notEqual(other.id, first.id);
    assert.equal(await open(session), 2);
    await sink.deliver(event({ kind: "clear", sequence: "deploy-42" }));
    await waitFor(async () => (await open(session)) === 1, { message: "the acknowledged popup did not close" });
    // A delete of an ordinary event names it by id.
    const plain = event({ topic: "builds", body: "plain" });
    await sink.deliver(plain);
    await session.waitForNotification((n) => n.body === "plain");
    await sink.deliver(event({ topic: "builds", kind: "delete", sequence: plain.id }));
    await waitFor(async () => (await open(session)) === 1, { message: "the deleted popup did not close" });
    assert.equal(session.notifications().length, 4, "a clear or delete never pops up itself");
  },
);

sinkTest("the Acknowledge button publishes a clear of the popup's notification", async (session, sink, acks) => {
  await sink.deliver(event({ title: "disk full", body: "on db-1", sequence: "disk-db-1" }));
  const shown = await session.waitForNotification((n) => n.body === "on db-1");
  assert.equal(shown.actions["hark-ack"], "Acknowledge");
  await session.clickButton("Acknowledge");
  await waitFor(() => acks.length === 1, { message: "the button published no clear" });
  assert.deepEqual(acks, [["deploys", "disk-db-1"]]);
});

Deno.test({
  name: "an event held by the 'while you were away' gate and acknowledged meanwhile never pops up",
  ignore: !haveSession,
}, async () => {
  await using session = await startDesktopSession();
  const dir = await Deno.makeTempDir({ prefix: "hark_desktop_lifecycle_" });
  const store = EventStore.open(dir, { cursorFlushMs: 60_000 });
  // As the agent stores an event before any sink sees it.
  const stored = (e: HarkEvent) => store.append(e, 0, { data: new TextEncoder().encode(JSON.stringify(e)) });
  const sink = new DesktopSink({
    maxAgeMs: 60_000,
    summarizeAfter: 10,
    maxPopups: 100,
    popupWindowMs: 60_000,
    backend: linuxBackend(new LinuxDesktop({ address: session.address, warn: () => {} })),
    isOpen: (e) => !store.notifications.superseded(e),
  });
  try {
    // An hour old, caught up after an absence: the gate holds it for a moment.
    const stale = createEvent({ topic: "deploys", body: "stale and acknowledged", sequence: "deploy-7" }, {
      id: nextId(),
      now: Date.now() - 3_600_000,
      host: "ci",
      peer: "12D3KooWt",
    });
    stored(stale);
    await sink.deliver(stale);
    // Its acknowledgement arrives within the gate's moment.
    const ack = event({ kind: "clear", sequence: "deploy-7" });
    stored(ack);
    await sink.deliver(ack);
    // A fresh event lets the gate go: what it held is shown (or not) before it.
    const fresh = event({ body: "fresh" });
    stored(fresh);
    await sink.deliver(fresh);
    await session.waitForNotification((n) => n.body === "fresh");
    assert.deepEqual(session.notifications().map((n) => n.body), ["fresh"]);
  } finally {
    await sink.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a new version of a popup on screen replaces it in place, past the popup limit",
  ignore: !haveSession,
}, async () => {
  await using session = await startDesktopSession();
  const sink = new DesktopSink({
    maxAgeMs: 60_000,
    summarizeAfter: 10,
    maxPopups: 1,
    popupWindowMs: 60_000,
    backend: linuxBackend(new LinuxDesktop({ address: session.address, warn: () => {} })),
  });
  try {
    await sink.deliver(event({ title: "deploy 9", body: "started", sequence: "deploy-9" }));
    const first = await session.waitForNotification((n) => n.body === "started");
    // The limit (one popup a minute) is spent: a version of the popup on screen still shows.
    await sink.deliver(event({ title: "deploy 9", body: "live", sequence: "deploy-9" }));
    const second = await session.waitForNotification((n) => n.body === "live");
    assert.equal(second.id, first.id, "replaced in place");
    // Another notification is still held back by the limit.
    await sink.deliver(event({ title: "deploy 10", body: "started", sequence: "deploy-10" }));
    assert.equal((sink.stats() as { collapsed: number }).collapsed, 1);
  } finally {
    await sink.close();
  }
  // Closing shows the summary of what the limit held back.
  await session.waitForNotification((n) => n.body.startsWith("1 more event"));
  assert.deepEqual(session.notifications().map((n) => n.body), ["started", "live", "1 more event: deploys 1"]);
});
