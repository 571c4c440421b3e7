import assert from "node:assert/strict";
import { createEvent, type EventDraft, type HarkEvent } from "../event/event.ts";
import { EventStore } from "../store/store.ts";
import { monotonicUlid } from "../event/ulid.ts";

const T0 = Date.parse("2026-12-01T10:00:00.000Z");
const nextId = monotonicUlid();

function step(draft: EventDraft, at: number, peer = "12D3KooWAlice"): HarkEvent {
  return createEvent({ topic: "deploys", ...draft }, { id: nextId(), now: at, host: peer, peer });
}

async function withStore(fn: (store: EventStore, dir: string) => void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hark_book_test_" });
  try {
    const store = EventStore.open(dir);
    try {
      fn(store, dir);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the newest version of a sequence is current; older ones are superseded", async () => {
  await withStore((store) => {
    const started = step({ body: "started", sequence: "deploy-42" }, T0);
    const live = step({ body: "live", sequence: "deploy-42" }, T0 + 2000);
    store.append(started, 1);
    assert.equal(store.notifications.superseded(started), false);
    const liveSeq = store.append(live, 2)!;
    assert.equal(store.notifications.superseded(started), true);
    assert.equal(store.notifications.superseded(live), false);
    const status = store.notifications.status("deploys", "deploy-42")!;
    assert.deepEqual([status.state, status.versions, status.messageSeq], ["open", 2, liveSeq]);
    // Keys are per topic.
    assert.equal(store.notifications.status("builds", "deploy-42"), undefined);
  });
});

Deno.test("an acknowledgement that arrives before its event still wins, and survives a reopen of the store", async () => {
  await withStore((store, dir) => {
    const message = step({ body: "disk full", sequence: "disk" }, T0);
    const ack = step({ kind: "clear", sequence: "disk" }, T0 + 5000, "12D3KooWBob");
    // Catch-up order: the ack first.
    store.append(ack, 1);
    store.append(message, 2);
    assert.equal(store.notifications.superseded(message), true);
    assert.equal(store.notifications.superseded(ack), false);
    const status = store.notifications.status("deploys", "disk")!;
    assert.equal(status.state, "cleared");
    assert.equal(status.newest.source.peer, "12D3KooWBob");
    store.close();
    const again = EventStore.open(dir);
    try {
      assert.equal(again.notifications.status("deploys", "disk")!.state, "cleared");
      assert.equal(again.notifications.superseded(message), true);
    } finally {
      again.close();
    }
  });
});

Deno.test("a message newer than an acknowledgement opens the notification again; an old ack changes nothing", async () => {
  await withStore((store) => {
    const ack = step({ kind: "clear", sequence: "job" }, T0 + 1000);
    const failed = step({ body: "failed", sequence: "job" }, T0 + 2000);
    store.append(failed, 1);
    store.append(ack, 2);
    assert.equal(store.notifications.superseded(failed), false);
    assert.equal(store.notifications.superseded(ack), true);
    assert.equal(store.notifications.status("deploys", "job")!.state, "open");
  });
});

Deno.test("an ordinary event is acknowledged by its id, and hark ack finds it by id or by key", async () => {
  await withStore((store) => {
    const plain = step({ body: "backup done" }, T0);
    store.append(plain, 1);
    assert.equal(store.notifications.status("deploys", plain.id), undefined);
    assert.deepEqual(store.notifications.locate(plain.id), [{ topic: "deploys", sequence: plain.id }]);
    const keyed = step({ body: "v1", sequence: "k1" }, T0 + 10);
    store.append(keyed, 2);
    assert.deepEqual(store.notifications.locate(keyed.id), [{ topic: "deploys", sequence: "k1" }]);
    assert.deepEqual(store.notifications.locate("k1"), [{ topic: "deploys", sequence: "k1" }]);
    assert.deepEqual(store.notifications.locate("k1", "other"), []);
    store.append(step({ kind: "delete", sequence: plain.id }, T0 + 20), 3);
    assert.equal(store.notifications.superseded(plain), true);
    assert.equal(store.notifications.status("deploys", plain.id)!.state, "deleted");
  });
});

Deno.test("a notification is forgotten with its events when the store's count cap or a publisher's quota removes them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark_book_test_" });
  const store = EventStore.open(dir, { maxEvents: 10, maxEventsPerPublisher: 6 });
  try {
    const keys = Array.from({ length: 20 }, (_, i) => `job-${i}`);
    keys.forEach((key, i) => store.append(step({ body: "running", sequence: key }, T0 + i * 1000), i));
    store.commit();
    store.prune();
    assert.equal(store.count(), 6, "the quota of the one publisher");
    const kept = keys.filter((key) => store.notifications.status("deploys", key) !== undefined);
    assert.deepEqual(kept, keys.slice(-6), "rows only for the events still stored");
    // An acknowledgement keeps its row while the ack is stored, though the message it acknowledges went.
    store.append(step({ kind: "clear", sequence: "job-14" }, T0 + 30_000, "12D3KooWBob"), 100);
    for (let i = 0; i < 6; i++) store.append(step({ body: "later", sequence: `late-${i}` }, T0 + 40_000 + i), 200 + i);
    store.commit();
    store.prune();
    assert.equal(store.notifications.status("deploys", "job-14")?.state, "cleared");
    assert.equal(store.notifications.status("deploys", "job-15"), undefined);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
