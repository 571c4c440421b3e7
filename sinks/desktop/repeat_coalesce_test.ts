/**
 * The desktop sink's `repeat` and `coalesce` against a real dunst, with
 * the real notification book and sink memory on a SQLite database: an
 * urgent popup comes back in place until it is acknowledged, also after a
 * restart; four hosts reporting one problem make one popup that counts.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { DesktopSink, linuxBackend } from "./mod.ts";
import { LinuxDesktop } from "./linux.ts";
import { createEvent, type EventDraft, type HarkEvent } from "../../lib/event/event.ts";
import { monotonicUlid } from "../../lib/event/ulid.ts";
import { NotificationBook } from "../../lib/notifications/book.ts";
import { PopupBook } from "../../lib/notifications/popups.ts";
import { SinkMemoryBook } from "../../lib/notifications/sink_memory.ts";
import { type DesktopSession, haveDesktop, startDesktopSession } from "../../tests/helpers/desktop_session.ts";
import { waitFor } from "../../tests/helpers/wait.ts";

const nextId = monotonicUlid();
const haveSession = haveDesktop("the desktop sink's repeat and coalesce against dunst");

function event(draft: EventDraft, host = "ci"): HarkEvent {
  return createEvent({ topic: "alerts", ...draft }, { id: nextId(), now: Date.now(), host, peer: "12D3KooWt" });
}

/** How many popups dunst shows or holds. */
async function open(session: DesktopSession): Promise<number> {
  const displayed = Number((await session.dunstctl("count", "displayed")).stdout.trim());
  const waiting = Number((await session.dunstctl("count", "waiting")).stdout.trim());
  return displayed + waiting;
}

/** A store's worth of state: the book that says what is acknowledged, and what the sink keeps. */
class State {
  db = new DatabaseSync(":memory:");
  book = new NotificationBook(this.db);
  popups = new PopupBook(this.db);
  memory = new SinkMemoryBook(this.db);
  #seq = 0;
  /** As the store does for each event it keeps. */
  store(event: HarkEvent): HarkEvent {
    this.book.observe(event, ++this.#seq, Date.now());
    return event;
  }
}

function sink(session: DesktopSession, state: State, options: { repeatMs?: number; coalesceMs?: number }) {
  const desktop = new LinuxDesktop({ address: session.address, warn: () => {}, popups: state.popups });
  const made = new DesktopSink({
    maxAgeMs: 60_000,
    summarizeAfter: 10,
    maxPopups: 100,
    popupWindowMs: 60_000,
    backend: linuxBackend(desktop),
    acknowledge: () => Promise.resolve(),
    repeat: options.repeatMs ? { priority: 5, every: options.repeatMs } : undefined,
    coalesceMs: options.coalesceMs,
    memory: state.memory,
    isOpen: (e) => !state.book.superseded(e),
  });
  made.start();
  return made;
}

Deno.test({
  name: "repeat: an urgent popup comes back in place until acknowledged, also after a restart; a lower one does not",
  ignore: !haveSession,
}, async () => {
  await using session = await startDesktopSession();
  const state = new State();
  const urgent = state.store(event({ title: "disk full", body: "db01 at 99%", priority: 5 }));
  const first = sink(session, state, { repeatMs: 1000 });
  try {
    await first.deliver(state.store(event({ title: "fyi", body: "high, not urgent", priority: 4 })));
    await first.deliver(urgent);
    const popup = await session.waitForNotification((n) => n.body === "db01 at 99%");
    const shows = () => session.notifications().filter((n) => n.body === "db01 at 99%");
    await waitFor(() => shows().length >= 2, { message: "the popup to come back" });
    assert.equal(shows().at(-1)!.urgency, "CRITICAL");
    assert.deepEqual([...new Set(shows().map((n) => n.id))], [popup.id], "repeated in place, not a new popup");
    assert.equal((first.stats() as { repeating: number }).repeating, 1, "only the urgent one repeats");
  } finally {
    await first.close();
  }
  // After a restart, the pending repeat comes back from the sink's memory and replaces the same popup.
  const before = session.notifications().length;
  const second = sink(session, state, { repeatMs: 1000 });
  try {
    await waitFor(() => session.notifications().length > before, { message: "the repeat after a restart" });
    assert.equal(session.notifications().at(-1)!.body, "db01 at 99%");
    assert.equal(await open(session), 2);
    // Acknowledged anywhere: the book has the clear, the sink gets it; the popup closes and the repeats stop.
    await second.deliver(state.store(event({ kind: "clear", sequence: urgent.id })));
    await waitFor(async () => (await open(session)) === 1, { message: "the acknowledged popup to close" });
    assert.equal((second.stats() as { repeating: number }).repeating, 0, "no timer left");
    // An ack that reached the book without reaching this sink (it was away) stops the repeats at their next turn.
    const other = state.store(event({ title: "cpu hot", body: "db02 at 99°C", priority: 5 }));
    await second.deliver(other);
    await session.waitForNotification((n) => n.body === "db02 at 99°C");
    state.store(event({ kind: "clear", sequence: other.id }));
    await waitFor(() => (second.stats() as { repeating: number }).repeating === 0, { message: "the repeat to stop" });
  } finally {
    await second.close();
  }
});

Deno.test({
  name: "coalesce: one problem from four hosts is one popup that counts, updated in place; nothing counts twice",
  ignore: !haveSession,
}, async () => {
  await using session = await startDesktopSession();
  const state = new State();
  const hosts = ["db01", "db02", "db03", "db04"];
  const reports = hosts.map((host) => state.store(event({ title: "disk full", body: "/var at 99%" }, host)));
  const first = sink(session, state, { coalesceMs: 60_000 });
  try {
    for (const report of reports) await first.deliver(report);
    // The fourth report again, as after a crash: it does not count twice.
    await first.deliver(reports[3]);
    const counted = await session.waitForNotification((n) => n.summary === "disk full ×4");
    assert.equal(counted.body, "db01, db02, db03, db04\n/var at 99%");
    assert.deepEqual([...new Set(session.notifications().map((n) => n.id))], [counted.id], "one popup, in place");
    assert.equal(await open(session), 1);
    // Another title is another problem.
    await first.deliver(state.store(event({ title: "cpu hot", body: "db01" }, "db01")));
    await session.waitForNotification((n) => n.summary === "cpu hot");
  } finally {
    await first.close();
  }
  // After a restart the group goes on in the same popup.
  const second = sink(session, state, { coalesceMs: 60_000 });
  try {
    await second.deliver(state.store(event({ title: "disk full", body: "/var at 99%" }, "db05")));
    const five = await session.waitForNotification((n) => n.summary === "disk full ×5");
    assert.equal(five.id, session.notifications()[0].id);
    // An ack of any event it counts closes the counting popup.
    await second.deliver(state.store(event({ kind: "clear", sequence: reports[1].id })));
    await waitFor(async () => (await open(session)) === 1, { message: "the counting popup to close" });
  } finally {
    await second.close();
  }
});

Deno.test({
  name: "send --dedup: events with one dedup key make one counting popup even without a coalesce window",
  ignore: !haveSession,
}, async () => {
  await using session = await startDesktopSession();
  const state = new State();
  const made = sink(session, state, {});
  try {
    await made.deliver(state.store(event({ title: "disk 1 full", dedup: "disk-full" }, "db01")));
    await made.deliver(state.store(event({ title: "disk 2 full", dedup: "disk-full" }, "db02")));
    const counted = await session.waitForNotification((n) => n.summary === "disk 2 full ×2");
    assert.equal(counted.body, "db01, db02");
    assert.equal(await open(session), 1);
  } finally {
    await made.close();
  }
});
