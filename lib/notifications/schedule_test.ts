import assert from "node:assert/strict";
import { createEvent, type EventDraft, type HarkEvent } from "../event/event.ts";
import { EventStore } from "../store/store.ts";
import { monotonicUlid } from "../event/ulid.ts";
import { Schedule } from "./schedule.ts";
import { MIN_DELAY_ENV } from "../event/due.ts";
import { waitFor } from "../../tests/helpers/wait.ts";

const T0 = Date.parse("2025-01-01T00:00:00.000Z");
const MINUTE = 60_000;
const nextId = monotonicUlid();

function make(draft: EventDraft, now: number): HarkEvent {
  return createEvent({ topic: "backups", ...draft }, { id: nextId(), now, host: "db01", peer: "12D3KooWPeerA" });
}

async function withStore(fn: (store: EventStore, clock: { now: number }) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hark_schedule_test_" });
  const clock = { now: T0 };
  const store = EventStore.open(dir, { now: () => clock.now });
  try {
    await fn(store, clock);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const bodies = (stored: { event: HarkEvent }[]) => stored.map(({ event }) => event.body);

Deno.test("createEvent() sets due from delay or at, within 10 s to 3 days", () => {
  // tests/schedule_test.ts lowers the minimum for its agents through the environment, and `deno task test`
  // runs both files in one process: this checks the real bound.
  const lowered = Deno.env.get(MIN_DELAY_ENV);
  Deno.env.delete(MIN_DELAY_ENV);
  try {
    checkDue();
  } finally {
    if (lowered !== undefined) Deno.env.set(MIN_DELAY_ENV, lowered);
  }
});

function checkDue(): void {
  const event = make({ body: "later", delay: 30 * MINUTE, ttl: MINUTE }, T0);
  assert.equal(event.due, new Date(T0 + 30 * MINUTE).toISOString());
  assert.equal(event.expires, new Date(T0 + 31 * MINUTE).toISOString(), "the lifetime starts when it is due");
  assert.equal(make({ body: "at", at: T0 + 3 * 86_400_000 }, T0).due, new Date(T0 + 3 * 86_400_000).toISOString());
  assert.throws(() => make({ body: "x", delay: 5_000 }, T0), /only 5 s ahead: schedule at least 10 s ahead/);
  assert.throws(() => make({ body: "x", at: T0 - 1 }, T0), /in the past/);
  assert.throws(() => make({ body: "x", delay: 3 * 86_400_000 + 1 }, T0), /more than 3 days ahead/);
  assert.throws(() => make({ body: "x", delay: MINUTE, cache: false }, T0), /cannot be sent without cache/);
  assert.throws(() => make({ kind: "clear", sequence: "k", delay: MINUTE }, T0), /takes effect at once/);
}

Deno.test("EventStore holds a scheduled event from sinks and readers until releaseDue()", async () => {
  await withStore((store, clock) => {
    const held = make({ body: "held", delay: 10 * MINUTE }, T0);
    store.append(held, 1);
    store.append(make({ body: "now" }, T0 + 1), 2);
    store.commit();
    assert.deepEqual(bodies(store.after(0, undefined, 10)), ["now"], "sinks do not see it");
    assert.equal(store.countAfter(0, undefined), 1);
    assert.deepEqual(bodies(store.query()), ["now"], "readers do not see it");
    assert.deepEqual(bodies(store.query({ scheduled: true })), ["held", "now"], "sched=1 does");
    assert.equal(store.keysAfter(0, ["backups"], 10).length, 2, "catch-up serves it to peers");
    assert.equal(store.nextDue(), T0 + 10 * MINUTE);
    assert.equal(store.pending(10).count, 1);

    clock.now = T0 + 10 * MINUTE - 1;
    assert.deepEqual(store.releaseDue(clock.now).released, [], "not before its time");
    clock.now = T0 + 10 * MINUTE;
    const before = store.lastSeq();
    const { released } = store.releaseDue(clock.now);
    store.commit();
    assert.deepEqual(bodies(released), ["held"]);
    assert.ok(released[0].seq > before, "it comes after every stored event, so each sink's cursor meets it");
    assert.deepEqual(bodies(store.after(before, undefined, 10)), ["held"]);
    assert.equal(store.nextDue(), undefined);
    assert.deepEqual(store.releaseDue(clock.now + MINUTE).released, [], "once");
    const next = make({ body: "after" }, clock.now);
    assert.ok(store.append(next, 3)! > released[0].seq, "sequence numbers never go back");
  });
});

Deno.test("EventStore withdraws a pending event replaced, acknowledged or deleted before it is due", async () => {
  await withStore((store, clock) => {
    // Each good backup pushes the deadline: only the newest published one may fire.
    const first = make({ body: "missed 1", sequence: "backup-db01", delay: 60 * MINUTE }, T0);
    const second = make({ body: "missed 2", sequence: "backup-db01", delay: 60 * MINUTE }, T0 + 30 * MINUTE);
    const acked = make({ body: "acked", sequence: "other", delay: 10 * MINUTE }, T0);
    store.append(second, 1);
    store.append(first, 2); // arrives late (catch-up): still older by publish time
    store.append(acked, 3);
    store.append(make({ kind: "clear", sequence: "other" }, T0 + MINUTE), 4);
    store.commit();
    assert.deepEqual(store.pending(10).events.map((event) => event.body), ["missed 2"], "status lists what will fire");
    clock.now = T0 + 61 * MINUTE;
    const early = store.releaseDue(clock.now);
    store.commit();
    assert.deepEqual(bodies(early.released), []);
    assert.deepEqual(early.withdrawn.map((event) => event.body).sort(), ["acked", "missed 1"]);
    assert.equal(store.pending(10).count, 1);
    assert.equal(store.pending(10).events[0].id, second.id);
    clock.now = T0 + 90 * MINUTE;
    assert.deepEqual(bodies(store.releaseDue(clock.now).released), ["missed 2"]);
    store.commit();
    const readable = store.query({ scheduled: true }).filter(({ event }) => event.kind === undefined);
    assert.deepEqual(bodies(readable), ["missed 2"], "withdrawn ones stay out of every reader");
  });
});

Deno.test("Schedule delivers what fell due while stopped once caught up after start, once, and arms no timer when nothing waits", async () => {
  await withStore(async (store, clock) => {
    const delivered: string[] = [];
    const schedule = new Schedule({ store, now: () => clock.now, deliver: ({ event }) => delivered.push(event.body) });
    store.append(make({ body: "overdue", delay: MINUTE }, T0), 1);
    store.commit();
    clock.now = T0 + 2 * MINUTE;
    schedule.start();
    schedule.start();
    await new Promise((resolve) => setTimeout(resolve, 0));
    // A newer version may have been published while the agent was down: first a catch-up session.
    assert.deepEqual(delivered, [], "held until caught up");
    schedule.caughtUp();
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(delivered, ["overdue"]);
    schedule.stop();
    schedule.start();
    schedule.caughtUp();
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(delivered, ["overdue"], "not twice");
    schedule.stop();
    schedule.stop();
  });
});

Deno.test("Schedule holds at start only what was already due; what falls due after the start goes on time", async () => {
  await withStore(async (store, clock) => {
    const delivered: string[] = [];
    const schedule = new Schedule({ store, now: () => clock.now, deliver: ({ event }) => delivered.push(event.body) });
    store.append(make({ body: "overdue", delay: MINUTE }, T0), 1);
    store.commit();
    clock.now = T0 + 2 * MINUTE;
    schedule.start();
    const onTime = make({ body: "on time", delay: MINUTE }, clock.now);
    store.append(onTime, 2);
    store.commit();
    clock.now = T0 + 3 * MINUTE;
    schedule.held(onTime);
    await waitFor(() => delivered.length > 0, { message: "the event due after the start" });
    assert.deepEqual(delivered, ["on time"], "the overdue one waits for a catch-up session");
    schedule.caughtUp();
    await waitFor(() => delivered.length > 1, { message: "the overdue event once caught up" });
    assert.deepEqual(delivered, ["on time", "overdue"]);
    schedule.stop();
  });
});
