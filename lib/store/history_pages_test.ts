import assert from "node:assert/strict";
import { createEvent, type HarkEvent } from "../event/event.ts";
import { monotonicUlid } from "../event/ulid.ts";
import { EventStore, type HistoryQuery } from "./store.ts";
import { HistoryBudget } from "./history_budget.ts";
import { HistoryPages } from "./history_pages.ts";

const nextId = monotonicUlid();
const T0 = Date.parse("2025-01-01T00:00:00.000Z");

function event(topic: string, index: number, body = "x"): HarkEvent {
  return createEvent({ topic, body, title: `#${index}` }, {
    id: nextId(),
    now: T0 + index,
    host: "h",
    peer: "12D3KooWPeerA",
  });
}

async function withStore(fn: (store: EventStore) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hark_pages_test_" });
  const store = EventStore.open(dir);
  try {
    await fn(store);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every page of `query`, and the most bytes the budget held at once. */
async function readAll(store: EventStore, query: HistoryQuery, init: { pageEvents?: number; pageBytes?: number } = {}) {
  const budget = new HistoryBudget();
  const pages = new HistoryPages({ store, budget, query, ...init });
  const sizes: number[] = [];
  const titles: string[] = [];
  for (;;) {
    const page = await pages.next();
    sizes.push(page.events.length);
    titles.push(...page.events.map((e) => e.title!));
    assert.ok(budget.held > 0 || page.events.length === 0, "a page holds budget until it is released");
    page.release();
    assert.equal(budget.held, 0);
    if (page.last) break;
  }
  return { sizes, titles };
}

Deno.test("HistoryPages reads a query a page at a time, by events and by bytes", async (t) => {
  await withStore(async (store) => {
    const events = Array.from({ length: 25 }, (_, i) => event(i % 2 ? "odd" : "even", i, "b".repeat(100)));
    events.forEach((stored, i) => store.append(stored, i));
    store.commit();
    await t.step("pages of a fixed number of events, oldest first", async () => {
      const { sizes, titles } = await readAll(store, { topics: ["even", "odd"] }, { pageEvents: 10 });
      assert.deepEqual(sizes, [10, 10, 5]);
      assert.deepEqual(titles, Array.from({ length: 25 }, (_, i) => `#${i}`));
    });
    await t.step("pages that stop at a byte size, at least one event each", async () => {
      const { sizes } = await readAll(store, { topics: ["even"] }, { pageEvents: 100, pageBytes: 1_000 });
      assert.ok(sizes.length > 2, `several pages: ${sizes}`);
      assert.equal(sizes.reduce((a, b) => a + b, 0), 13);
      const { sizes: single } = await readAll(store, { topics: ["even"] }, { pageBytes: 1 });
      assert.deepEqual(single, Array(13).fill(1));
    });
    await t.step("topics, since time and after a sequence number", async () => {
      assert.equal((await readAll(store, { topics: ["odd"] })).titles.length, 12);
      assert.deepEqual((await readAll(store, { topics: ["odd"], sinceTime: T0 + 20 })).titles, ["#21", "#23"]);
      assert.deepEqual((await readAll(store, { topics: [] })).titles, []);
      const seq = store.seqOf(events[21].id)!;
      assert.deepEqual((await readAll(store, { topics: ["even", "odd"], afterSeq: seq })).titles, [
        "#22",
        "#23",
        "#24",
      ]);
    });
    await t.step("the newest `limit`, oldest first, across pages", async () => {
      const { sizes, titles } = await readAll(store, { topics: ["even", "odd"], limit: 7 }, { pageEvents: 3 });
      assert.deepEqual(titles, ["#18", "#19", "#20", "#21", "#22", "#23", "#24"]);
      assert.deepEqual(sizes, [3, 3, 1]);
    });
  });
});

Deno.test("HistoryPages calls onCaughtUp in the step that finds nothing newer, and reads what came meanwhile", async () => {
  await withStore(async (store) => {
    for (let i = 0; i < 5; i++) store.append(event("a", i), i);
    let caughtUp = 0;
    const pages = new HistoryPages({
      store,
      budget: new HistoryBudget(),
      query: { topics: ["a"] },
      pageEvents: 3,
      onCaughtUp: () => caughtUp++,
    });
    const first = await pages.next();
    assert.deepEqual([first.events.length, first.last, caughtUp], [3, false, 0]);
    // Arrives between pages: the reader is not caught up until it has read it.
    store.append(event("a", 5), 5);
    const second = await pages.next();
    assert.deepEqual([second.events.length, second.last, caughtUp], [3, true, 1]);
    assert.deepEqual((await pages.next()).events, []);
  });
});
