import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { createEvent, type HarkEvent } from "../event/event.ts";
import { HarkError } from "../errors.ts";
import { inDir } from "../config/paths.ts";
import { type Arrival, EventStore, NEWEST_ON_TOPIC, STORE_FILE, type StoreInit } from "./store.ts";
import { monotonicUlid } from "../event/ulid.ts";

const PEER_A = "12D3KooWPeerA";
const PEER_B = "12D3KooWPeerB";
const T0 = Date.parse("2025-01-01T00:00:00.000Z");
const nextId = monotonicUlid();

interface EventSpec {
  peer?: string;
  topic?: string;
  /** The event's own `time`, in ms. */
  time?: number;
  id?: string;
  body?: string;
}

function makeEvent(spec: EventSpec = {}): HarkEvent {
  return createEvent(
    { topic: spec.topic, body: spec.body ?? "hello" },
    { id: spec.id ?? nextId(), now: spec.time ?? T0, host: "test-host", peer: spec.peer ?? PEER_A },
  );
}

async function withStateDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hark_store_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Opens a store, runs `fn`, and always closes it. */
async function withStore(
  dir: string,
  init: StoreInit,
  fn: (store: EventStore) => void | Promise<void>,
): Promise<void> {
  const store = EventStore.open(dir, init);
  try {
    await fn(store);
  } finally {
    store.close();
  }
}

/** Reads the store's file through a connection of its own, as another process would. */
function peek<T>(dir: string, sql: string, ...params: (string | number)[]): T | undefined {
  const db = new DatabaseSync(inDir(dir, STORE_FILE));
  try {
    return db.prepare(sql).get(...params) as T | undefined;
  } finally {
    db.close();
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

Deno.test("EventStore.open() creates events.db in the state dir in WAL mode", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      assert.ok(store.append(makeEvent(), 1));
    });
    const stat = await Deno.stat(inDir(dir, STORE_FILE));
    assert.ok(stat.isFile);
    const mode = peek<{ journal_mode: string }>(dir, "PRAGMA journal_mode");
    assert.equal(mode?.journal_mode, "wal");
  });
});

Deno.test("EventStore.open() keeps the events after reopening", async () => {
  await withStateDir(async (dir) => {
    const events = [makeEvent({ topic: "a" }), makeEvent({ topic: "b" }), makeEvent({ topic: "a" })];
    let seqs: (number | undefined)[] = [];
    await withStore(dir, {}, (store) => {
      seqs = events.map((event, i) => store.append(event, i));
    });
    await withStore(dir, {}, (store) => {
      assert.equal(store.count(), 3);
      assert.deepEqual(store.query(), events.map((event, i) => ({ seq: seqs[i], event, backfill: false })));
      assert.equal(store.lastSeq(), seqs[2]);
    });
  });
});

Deno.test("EventStore.append() returns increasing sequence numbers", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      const seqs = Array.from({ length: 20 }, () => store.append(makeEvent(), 0));
      for (const seq of seqs) assert.equal(typeof seq, "number");
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `seq ${i} increases`);
    });
  });
});

Deno.test("EventStore.append() ignores a duplicate after reopening", async () => {
  await withStateDir(async (dir) => {
    const original = makeEvent({ body: "original" });
    const resent = { ...original, body: "changed" };
    let seq: number | undefined;
    await withStore(dir, {}, (store) => {
      seq = store.append(original, 7);
      assert.equal(typeof seq, "number");
      assert.equal(store.append(original, 7), undefined, "same session");
    });
    await withStore(dir, {}, (store) => {
      assert.equal(store.append(original, 7), undefined, "after reopening");
      assert.equal(store.append(resent, 8), undefined, "a changed copy is still a duplicate");
      assert.equal(store.count(), 1);
      assert.deepEqual(store.query(), [{ seq, event: original, backfill: false }], "the first copy wins");
      assert.equal(store.fingerprint(PEER_A, original.id), 7);
      // The next new event still comes after everything, duplicates included.
      const last = store.lastSeq();
      assert.ok(last >= seq!);
      assert.ok(store.append(makeEvent(), 9)! > last);
    });
  });
});

Deno.test("EventStore.append() stores the same id from another publisher separately", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      const id = nextId();
      const fromA = makeEvent({ id, peer: PEER_A });
      const fromB = makeEvent({ id, peer: PEER_B });
      const seqA = store.append(fromA, 1);
      const seqB = store.append(fromB, 2);
      assert.equal(typeof seqA, "number");
      assert.equal(typeof seqB, "number");
      assert.notEqual(seqA, seqB);
      assert.equal(store.count(), 2);
      assert.equal(store.fingerprint(PEER_A, id), 1);
      assert.equal(store.fingerprint(PEER_B, id), 2);
      assert.deepEqual(store.query(), [{ seq: seqA, event: fromA, backfill: false }, {
        seq: seqB,
        event: fromB,
        backfill: false,
      }]);
    });
  });
});

Deno.test("EventStore.fingerprint() returns the stored fingerprint or undefined", async (t) => {
  await withStateDir(async (dir) => {
    const stored = makeEvent({ peer: PEER_A });
    const maxFnv = 0xffffffff;
    await withStore(dir, {}, (store) => {
      store.append(stored, maxFnv);
      store.append(makeEvent({ peer: PEER_B }), 0);
    });
    await withStore(dir, {}, async (store) => {
      const cases: { name: string; publisher: string; id: string; want: number | undefined }[] = [
        { name: "a stored event, after reopening", publisher: PEER_A, id: stored.id, want: maxFnv },
        { name: "an unknown id", publisher: PEER_A, id: nextId(), want: undefined },
        { name: "a known id from another publisher", publisher: PEER_B, id: stored.id, want: undefined },
      ];
      for (const c of cases) {
        await t.step(c.name, () => {
          assert.equal(store.fingerprint(c.publisher, c.id), c.want);
        });
      }
    });
  });
});

Deno.test("EventStore.query() filters by time, sequence and topic", async (t) => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, async (store) => {
      // Event times go back and forth so that time order differs from arrival order.
      const specs: EventSpec[] = [
        { topic: "a", time: T0 + 1000 },
        { topic: "b", time: T0 + 5000 },
        { topic: "a", time: T0 + 2000 },
        { topic: "c", time: T0 + 3000 },
        { topic: "b", time: T0 + 4000 },
        { topic: "a", time: T0 + 6000 },
      ];
      const seqs = specs.map((spec) => store.append(makeEvent(spec), 0)!);
      const all = store.query();
      // Names the stored events by their index in `specs`.
      const indexes = (result: { seq: number }[]) => result.map((row) => seqs.indexOf(row.seq));

      const cases: { name: string; query: Parameters<EventStore["query"]>[0]; want: number[] }[] = [
        { name: "all, oldest first", query: {}, want: [0, 1, 2, 3, 4, 5] },
        { name: "sinceTime by the event's time", query: { sinceTime: T0 + 3000 }, want: [1, 3, 4, 5] },
        { name: "sinceTime is inclusive", query: { sinceTime: T0 + 6000 }, want: [5] },
        { name: "sinceTime after everything", query: { sinceTime: T0 + 7000 }, want: [] },
        { name: "afterSeq", query: { afterSeq: seqs[2] }, want: [3, 4, 5] },
        { name: "afterSeq 0", query: { afterSeq: 0 }, want: [0, 1, 2, 3, 4, 5] },
        { name: "afterSeq of the newest", query: { afterSeq: seqs[5] }, want: [] },
        { name: "one topic", query: { topics: ["a"] }, want: [0, 2, 5] },
        { name: "two topics", query: { topics: ["b", "c"] }, want: [1, 3, 4] },
        { name: "an unknown topic", query: { topics: ["zzz"] }, want: [] },
        { name: "an empty topic list means all", query: { topics: [] }, want: [0, 1, 2, 3, 4, 5] },
        { name: "limit keeps the newest, oldest first", query: { limit: 2 }, want: [4, 5] },
        { name: "limit above the count", query: { limit: 100 }, want: [0, 1, 2, 3, 4, 5] },
        { name: "limit 0", query: { limit: 0 }, want: [] },
        { name: "topics and limit", query: { topics: ["a"], limit: 2 }, want: [2, 5] },
        { name: "sinceTime and topics", query: { sinceTime: T0 + 2000, topics: ["a", "c"] }, want: [2, 3, 5] },
        { name: "afterSeq and topics", query: { afterSeq: seqs[1], topics: ["b"] }, want: [4] },
        {
          name: "sinceTime, afterSeq, topics and limit",
          query: { sinceTime: T0 + 2000, afterSeq: seqs[0], topics: ["a", "b"], limit: 2 },
          want: [4, 5],
        },
      ];
      for (const c of cases) {
        await t.step(c.name, () => {
          const result = store.query(c.query);
          assert.deepEqual(indexes(result), c.want);
          // Each row carries the same event as the unfiltered listing.
          for (const row of result) assert.deepEqual(row, all.find((other) => other.seq === row.seq));
        });
      }
    });
  });
});

Deno.test("EventStore.after() and countAfter() page through events after a sequence number", async (t) => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, async (store) => {
      const topics = ["a", "b", "a", "c", "a", "b"];
      const seqs = topics.map((topic) => store.append(makeEvent({ topic }), 0)!);
      const indexes = (result: { seq: number }[]) => result.map((row) => seqs.indexOf(row.seq));

      const cases: { name: string; seq: number; topics?: string[]; limit: number; want: number[]; count: number }[] = [
        { name: "all topics from the start", seq: 0, limit: 100, want: [0, 1, 2, 3, 4, 5], count: 6 },
        { name: "the first page", seq: 0, limit: 2, want: [0, 1], count: 6 },
        { name: "the next page", seq: seqs[1], limit: 2, want: [2, 3], count: 4 },
        { name: "after the newest", seq: seqs[5], limit: 10, want: [], count: 0 },
        { name: "one topic", seq: 0, topics: ["a"], limit: 100, want: [0, 2, 4], count: 3 },
        { name: "one topic, limited", seq: 0, topics: ["a"], limit: 2, want: [0, 2], count: 3 },
        { name: "one topic, after a seq", seq: seqs[2], topics: ["a"], limit: 100, want: [4], count: 1 },
        { name: "two topics", seq: seqs[0], topics: ["b", "c"], limit: 100, want: [1, 3, 5], count: 3 },
        { name: "an unknown topic", seq: 0, topics: ["zzz"], limit: 100, want: [], count: 0 },
        // Like the router's filter: a sink with an empty topic list matches nothing.
        { name: "an empty topic list matches nothing", seq: 0, topics: [], limit: 100, want: [], count: 0 },
      ];
      for (const c of cases) {
        await t.step(c.name, () => {
          const result = store.after(c.seq, c.topics, c.limit);
          assert.deepEqual(indexes(result), c.want);
          assert.equal(store.countAfter(c.seq, c.topics), c.count);
          for (const row of result) assert.equal(row.event.topic, topics[seqs.indexOf(row.seq)]);
        });
      }
    });
  });
});

Deno.test("EventStore.lastSeq() is 0 when empty, then the newest sequence number", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      assert.equal(store.lastSeq(), 0);
      const first = store.append(makeEvent(), 0);
      assert.equal(store.lastSeq(), first);
      const second = store.append(makeEvent(), 0);
      assert.equal(store.lastSeq(), second);
    });
  });
});

Deno.test("EventStore.lastSeq() never goes back after pruning", async () => {
  await withStateDir(async (dir) => {
    let now = T0;
    const init: StoreInit = { maxEvents: 3, retentionMs: 60_000, now: () => now };
    let newest = 0;
    await withStore(dir, init, (store) => {
      for (let i = 0; i < 5; i++) newest = store.append(makeEvent(), 0)!;
      // With maxEvents this small, append() prunes after every insert.
      store.prune();
      assert.equal(store.count(), 3);
      assert.equal(store.lastSeq(), newest, "pruning by count keeps the newest");

      now += 60_001;
      assert.equal(store.prune(), 3);
      assert.equal(store.count(), 0);
      assert.equal(store.lastSeq(), newest, "still the newest after every event expired");
      store.setCursor("desktop", store.lastSeq());
    });
    await withStore(dir, init, (store) => {
      assert.equal(store.count(), 0);
      assert.equal(store.lastSeq(), newest, "after reopening an empty store");
      const cursor = store.cursor("desktop")!;
      assert.equal(cursor, newest);

      // A sink whose cursor was lastSeq() sees exactly the events appended since.
      const next = store.append(makeEvent({ topic: "a" }), 0)!;
      assert.ok(next > newest);
      assert.deepEqual(store.after(cursor, undefined, 10).map((row) => row.seq), [next]);
      assert.equal(store.countAfter(cursor, ["a"]), 1);
    });
  });
});

Deno.test("EventStore.cursor() is undefined for an unknown sink", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      store.setCursor("known", 1);
      assert.equal(store.cursor("unknown"), undefined);
    });
  });
});

Deno.test("EventStore.setCursor() is visible at once through cursor()", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, { cursorFlushMs: 60_000 }, (store) => {
      store.setCursor("desktop", 5);
      assert.equal(store.cursor("desktop"), 5);
      store.setCursor("desktop", 9);
      assert.equal(store.cursor("desktop"), 9);
      store.flush();
      store.setCursor("desktop", 12);
      assert.equal(store.cursor("desktop"), 12, "a pending cursor beats the flushed one");
      store.flush();
      assert.equal(store.cursor("desktop"), 12, "read back from the database");
    });
  });
});

Deno.test("EventStore.flush() writes pending cursors to disk", async () => {
  await withStateDir(async (dir) => {
    const onDisk = (sink: string) => peek<{ seq: number }>(dir, "SELECT seq FROM cursors WHERE sink = ?", sink)?.seq;
    await withStore(dir, { cursorFlushMs: 60_000 }, (store) => {
      store.setCursor("desktop", 3);
      store.setCursor("file", 4);
      assert.equal(onDisk("desktop"), undefined, "not written before the flush");
      store.flush();
      assert.equal(onDisk("desktop"), 3);
      assert.equal(onDisk("file"), 4);
      store.flush();
      assert.equal(onDisk("desktop"), 3, "a flush with nothing pending changes nothing");
    });
    await withStore(dir, {}, (store) => {
      assert.equal(store.cursor("desktop"), 3);
      assert.equal(store.cursor("file"), 4);
    });
  });
});

Deno.test("EventStore.saveCursor() writes the cursor and the events in flight before it returns", async () => {
  await withStateDir(async (dir) => {
    const onDisk = (sink: string) =>
      peek<{ seq: number; in_flight: string }>(dir, "SELECT seq, in_flight FROM cursors WHERE sink = ?", sink);
    await withStore(dir, { cursorFlushMs: 60_000 }, (store) => {
      store.setCursor("desktop", 2);
      store.saveCursor("0:exec", 9, [7, 9]);
      assert.deepEqual({ ...onDisk("0:exec") }, { seq: 9, in_flight: "[7,9]" });
      assert.equal(onDisk("desktop")?.seq, 2, "what was pending goes in the same transaction");
      assert.deepEqual(store.progress("0:exec"), { seq: 9, inFlight: [7, 9] });
      store.setCursor("0:exec", 10, [9]);
      assert.deepEqual(store.progress("0:exec"), { seq: 10, inFlight: [9] }, "pending is visible at once");
    });
    await withStore(dir, {}, (store) => {
      assert.deepEqual(store.progress("0:exec"), { seq: 10, inFlight: [9] });
      assert.deepEqual(store.progress("desktop"), { seq: 2, inFlight: [] });
      assert.equal(store.progress("webhook"), undefined);
    });
  });
});

Deno.test("EventStore.close() writes pending cursors and clears the flush timer", async () => {
  await withStateDir(async (dir) => {
    // A timer left behind by close() would fail this test through Deno's op sanitizer.
    await withStore(dir, { cursorFlushMs: 60_000 }, (store) => {
      store.setCursor("desktop", 42);
    });
    await withStore(dir, {}, (store) => {
      assert.equal(store.cursor("desktop"), 42);
    });
  });
});

Deno.test("EventStore.setCursor() reaches disk within cursorFlushMs without a flush()", async () => {
  await withStateDir(async (dir) => {
    const onDisk = () => peek<{ seq: number }>(dir, "SELECT seq FROM cursors WHERE sink = ?", "desktop")?.seq;
    await withStore(dir, { cursorFlushMs: 10 }, async (store) => {
      store.setCursor("desktop", 7);
      await waitFor(() => onDisk() === 7, "the cursor to reach disk");
      store.setCursor("desktop", 8);
      await waitFor(() => onDisk() === 8, "a second timed flush");
    });
  });
});

Deno.test("EventStore.prune() removes the oldest events past maxEvents", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, { maxEvents: 3 }, (store) => {
      const seqs = Array.from({ length: 5 }, () => store.append(makeEvent(), 0)!);
      store.prune();
      assert.deepEqual(store.query().map((row) => row.seq), seqs.slice(2));
      assert.equal(store.prune(), 0, "nothing more to remove");
    });
  });
});

Deno.test("EventStore counts the agents' own hark.* events apart from users' events", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, { maxEvents: 3 }, (store) => {
      const users = Array.from({ length: 3 }, () => store.append(makeEvent({ topic: "builds" }), 0)!);
      // A fleet's joins from many agents: more of them than maxEvents.
      const peers = ["A", "B", "C", "D", "E"].map((name) => `12D3KooWPeer${name}`);
      const joins = peers.map((peer) => store.append(makeEvent({ topic: "hark.node.join", peer }), 0)!);
      store.prune();
      const kept = store.query().map((row) => row.seq);
      assert.deepEqual(kept.filter((seq) => users.includes(seq)), users, "no user event is pushed out by joins");
      assert.deepEqual(kept.filter((seq) => joins.includes(seq)), joins.slice(2), "the oldest joins go");
      // And the other way round: a burst of user events leaves the joins alone.
      const more = Array.from({ length: 4 }, () => store.append(makeEvent({ topic: "harkish" }), 0)!);
      store.prune();
      const after = store.query().map((row) => row.seq);
      assert.deepEqual(after.filter((seq) => joins.includes(seq)), joins.slice(2));
      assert.deepEqual(after.filter((seq) => !joins.includes(seq)), more.slice(1), "harkish is a user's topic");
    });
  });
});

Deno.test("EventStore keeps at most maxEventsPerPublisher events of one publisher, its oldest going first", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, { maxEventsPerPublisher: 20 }, (store) => {
      const other = store.append(makeEvent({ peer: PEER_B, time: T0 - 60_000 }), 0)!;
      // Published in reverse order of time: eviction goes by publish time, not arrival.
      const times = Array.from({ length: 45 }, (_, i) => T0 + (45 - i) * 1000);
      for (const time of times) store.append(makeEvent({ time }), 0);
      const kept = () => store.query().filter((row) => row.event.source.peer === PEER_A);
      // Checked every tenth of the quota: never more than that over it.
      assert.ok(kept().length <= 22, `${kept().length} kept`);
      store.prune();
      assert.equal(kept().length, 20);
      const newest = times.slice(0, 20).map((time) => new Date(time).toISOString()).sort();
      assert.deepEqual(kept().map((row) => row.event.time).sort(), newest);
      assert.ok(store.query().some((row) => row.seq === other), "another publisher's older event stays");
    });
  });
});

Deno.test("EventStore keeps only each publisher's newest event on a latestOnly topic", async (t) => {
  const STATUS = "hark.node.status";
  await withStateDir(async (dir) => {
    await withStore(dir, { latestOnly: [STATUS] }, async (store) => {
      const rows = (topic: string, peer: string) =>
        store.query({ topics: [topic] }).filter((row) => row.event.source.peer === peer);
      await t.step("a newer status replaces the stored one", () => {
        for (let minute = 0; minute < 5; minute++) {
          assert.ok(store.append(makeEvent({ topic: STATUS, time: T0 + minute * 60_000 }), 0) !== undefined);
        }
        assert.deepEqual(rows(STATUS, PEER_A).map((row) => row.event.time), [new Date(T0 + 4 * 60_000).toISOString()]);
      });
      await t.step("an older one arriving late (catch-up) is not stored", () => {
        assert.equal(store.append(makeEvent({ topic: STATUS, time: T0 + 60_000 }), 0), undefined);
        assert.equal(rows(STATUS, PEER_A).length, 1);
      });
      await t.step("another publisher's status, and other topics, are kept as they come", () => {
        store.append(makeEvent({ topic: STATUS, peer: PEER_B, time: T0 }), 0);
        for (let i = 0; i < 3; i++) store.append(makeEvent({ topic: "builds", time: T0 + i }), 0);
        assert.equal(rows(STATUS, PEER_B).length, 1);
        assert.equal(rows(STATUS, PEER_A).length, 1);
        assert.equal(rows("builds", PEER_A).length, 3);
      });
    });
  });
});

Deno.test("EventStore finds a publisher's newest row on a latestOnly topic by index, not by scanning its rows", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, { latestOnly: ["hark.node.status"] }, () => {});
    // Each step of the plan: SCAN reads every row of the publisher, SEARCH on (publisher, topic) goes straight there.
    const plan = (() => {
      const db = new DatabaseSync(inDir(dir, STORE_FILE));
      try {
        return (db.prepare(`EXPLAIN QUERY PLAN ${NEWEST_ON_TOPIC}`).all(PEER_A, "hark.node.status") as {
          detail: string;
        }[])
          .map((step) => step.detail);
      } finally {
        db.close();
      }
    })();
    assert.equal(plan.length, 1, plan.join("\n"));
    assert.match(plan[0], /^SEARCH events USING COVERING INDEX \w+ \(publisher=\? AND topic=\?\)$/);
  });
});

Deno.test("EventStore.countByPublisher() counts one publisher's events by publish time", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      for (const time of [T0, T0 + 500, T0 + 1000, T0 + 5000]) store.append(makeEvent({ time }), 0);
      store.append(makeEvent({ peer: PEER_B, time: T0 }), 0);
      assert.equal(store.countByPublisher(PEER_A, T0, T0 + 1000), 3);
      assert.equal(store.countByPublisher(PEER_A, T0 - 10_000, T0 + 10_000), 4);
      assert.equal(store.countByPublisher(PEER_B, T0, T0), 1);
    });
  });
});

Deno.test("EventStore.prune() removes events older than retentionMs by arrival", async () => {
  await withStateDir(async (dir) => {
    let now = T0;
    const init: StoreInit = { retentionMs: 3000, now: () => now };
    await withStore(dir, init, (store) => {
      store.append(makeEvent(), 0);
      store.append(makeEvent(), 0);
      now += 2000;
      // Arrival, not the event's own time, decides: this one claims to be old.
      const late = makeEvent({ time: T0 - 86_400_000 });
      const lateSeq = store.append(late, 0);

      now += 999; // The first two arrived 2999 ms ago.
      assert.equal(store.prune(), 0);
      now += 2; // 3001 ms ago.
      assert.equal(store.prune(), 2);
      assert.deepEqual(store.query(), [{ seq: lateSeq, event: late, backfill: false }]);
    });
  });
});

Deno.test("EventStore.open() removes events that expired while it was closed", async () => {
  await withStateDir(async (dir) => {
    let now = T0;
    const init: StoreInit = { retentionMs: 1000, now: () => now };
    await withStore(dir, init, (store) => {
      store.append(makeEvent(), 0);
    });
    now += 1001;
    await withStore(dir, init, (store) => {
      assert.equal(store.count(), 0);
    });
  });
});

Deno.test("EventStore.append() prunes by itself every 1000 inserts", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, { maxEvents: 100 }, (store) => {
      for (let round = 1; round <= 3; round++) {
        for (let i = 0; i < 1000; i++) store.append(makeEvent(), 0);
        assert.ok(store.count() <= 100, `round ${round}: ${store.count()} events`);
      }
      assert.equal(store.count(), 100);
      assert.equal(store.lastSeq(), 3000);
    });
  });
});

Deno.test("EventStore keeps its database file bounded while events come and go", async () => {
  await withStateDir(async (dir) => {
    const path = inDir(dir, STORE_FILE);
    const body = "x".repeat(500);
    const sizes: number[] = [];
    await withStore(dir, { maxEvents: 500 }, async (store) => {
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 2000; i++) store.append(makeEvent({ body, topic: `t${i % 7}` }), i);
        store.commit();
        // Fold the WAL back into the main file so both rounds are measured alike.
        peek(dir, "PRAGMA wal_checkpoint(TRUNCATE)");
        sizes.push(await fileSize(path) + await fileSize(`${path}-wal`));
      }
      assert.equal(store.count(), 500);
    });
    assert.ok(sizes[4] <= sizes[0] * 2, `sizes after each round: ${sizes.join(", ")}`);
  });
});

Deno.test("EventStore.close() is idempotent", async () => {
  await withStateDir((dir) => {
    const store = EventStore.open(dir, { cursorFlushMs: 60_000 });
    store.append(makeEvent(), 0);
    store.setCursor("desktop", 1);
    store.close();
    store.close();
    store.close();
  });
});

Deno.test("EventStore.open() throws HarkError where it cannot open the database", async (t) => {
  await withStateDir(async (dir) => {
    const file = inDir(dir, "not-a-dir");
    await Deno.writeTextFile(file, "");
    const garbage = await Deno.makeTempDir({ dir });
    await Deno.writeTextFile(inDir(garbage, STORE_FILE), "not a database ".repeat(100));
    const cases = [
      { name: "a state dir under a regular file", stateDir: inDir(file, "state") },
      { name: "an events.db that is not a database", stateDir: garbage },
    ];
    for (const c of cases) {
      await t.step(c.name, () => {
        assert.throws(
          () => EventStore.open(c.stateDir),
          (error: unknown) => {
            assert.ok(error instanceof HarkError);
            assert.ok(error.message.startsWith(`Cannot open the event store "${inDir(c.stateDir, STORE_FILE)}": `));
            assert.ok(error.cause instanceof Error);
            return true;
          },
        );
      });
    }
  });
});

// --- Catch-up (history) additions: published bytes, signatures, backfill, sync points. ---

const encoder = new TextEncoder();

/** The bytes of an event as published, and a stand-in signature (the store does not check it). */
function arrival(event: HarkEvent, options: { signed?: boolean; backfill?: boolean } = {}): Arrival {
  const data = encoder.encode(JSON.stringify(event));
  const signed = options.signed
    ? { seqno: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), signature: new Uint8Array(64).fill(event.id.length) }
    : undefined;
  return { data, signed, backfill: options.backfill };
}

/** Rows from node:sqlite as plain objects, for deepEqual. */
function plain<T extends object>(rows: T[]): T[] {
  return rows.map((row) => ({ ...row }));
}

Deno.test("EventStore.append() keeps the published bytes, the signature and the backfill flag", async () => {
  await withStateDir(async (dir) => {
    const event = makeEvent({ peer: PEER_B, topic: "builds" });
    const how = arrival(event, { signed: true, backfill: true });
    let seq: number | undefined;
    await withStore(dir, {}, (store) => {
      seq = store.append(event, 5, how);
      assert.equal(typeof seq, "number");
    });
    const row = peek<{ data: Uint8Array; seqno: Uint8Array; signature: Uint8Array; backfill: number }>(
      dir,
      "SELECT data, seqno, signature, backfill FROM events WHERE seq = ?",
      seq!,
    );
    assert.deepEqual(row?.data, how.data);
    assert.deepEqual(row?.seqno, how.signed!.seqno);
    assert.deepEqual(row?.signature, how.signed!.signature);
    assert.equal(row?.backfill, 1);
    await withStore(dir, {}, (store) => {
      assert.deepEqual(store.query(), [{ seq, event, backfill: true }], "after reopening");
      assert.equal(store.fingerprint(PEER_B, event.id), 5);
    });
  });
});

Deno.test("EventStore.append() without an arrival stores no bytes and no backfill", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      const seq = store.append(makeEvent(), 1)!;
      store.commit();
      const row = peek<{ data: unknown; seqno: unknown; signature: unknown; backfill: number }>(
        dir,
        "SELECT data, seqno, signature, backfill FROM events WHERE seq = ?",
        seq,
      );
      assert.deepEqual({ ...row }, { data: null, seqno: null, signature: null, backfill: 0 });
    });
  });
});

Deno.test("EventStore.append() ignores a backfill copy of an event it already has", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      const event = makeEvent();
      const seq = store.append(event, 1, arrival(event));
      assert.equal(store.append(event, 1, arrival(event, { signed: true, backfill: true })), undefined);
      assert.deepEqual(store.query(), [{ seq, event, backfill: false }], "the first copy's flag stays");
      assert.equal([...store.served([{ publisher: PEER_A, id: event.id }])][0].signed, undefined);
    });
  });
});

Deno.test("EventStore.query() and after() report backfill per event", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      const live = makeEvent({ topic: "a" });
      const old = makeEvent({ topic: "a" });
      const own = makeEvent({ topic: "a" });
      const liveSeq = store.append(live, 0, arrival(live, { signed: true, backfill: false }))!;
      const oldSeq = store.append(old, 0, arrival(old, { signed: true, backfill: true }))!;
      const ownSeq = store.append(own, 0, arrival(own))!;
      const expected = [
        { seq: liveSeq, event: live, backfill: false },
        { seq: oldSeq, event: old, backfill: true },
        { seq: ownSeq, event: own, backfill: false },
      ];
      assert.deepEqual(store.query(), expected);
      assert.deepEqual(store.query({ topics: ["a"], limit: 2 }), expected.slice(1));
      assert.deepEqual(store.after(0, undefined, 10), expected);
      assert.deepEqual(store.after(liveSeq, ["a"], 1), [expected[1]]);
    });
  });
});

Deno.test("EventStore.keysAfter() lists the keys after a sequence number on some topics", async (t) => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, async (store) => {
      const specs: EventSpec[] = [
        { topic: "a", peer: PEER_A },
        { topic: "b", peer: PEER_B },
        { topic: "a", peer: PEER_B },
        { topic: "c", peer: PEER_A },
        { topic: "a", peer: PEER_A },
      ];
      const events = specs.map((spec) => makeEvent(spec));
      // Only some carry bytes: keys are offered for every stored event.
      const seqs = events.map((event, i) => store.append(event, 0, i % 2 ? arrival(event) : undefined)!);
      const key = (i: number) => ({ seq: seqs[i], publisher: events[i].source.peer, id: events[i].id });

      const cases: { name: string; seq: number; topics: string[]; limit: number; want: number[] }[] = [
        { name: "one topic, in local order", seq: 0, topics: ["a"], limit: 10, want: [0, 2, 4] },
        { name: "two topics", seq: 0, topics: ["b", "c"], limit: 10, want: [1, 3] },
        { name: "every topic", seq: 0, topics: ["a", "b", "c"], limit: 10, want: [0, 1, 2, 3, 4] },
        { name: "after a sequence number", seq: seqs[2], topics: ["a", "b", "c"], limit: 10, want: [3, 4] },
        { name: "after one on another topic", seq: seqs[1], topics: ["a"], limit: 10, want: [2, 4] },
        { name: "limited, oldest first", seq: 0, topics: ["a", "b", "c"], limit: 2, want: [0, 1] },
        { name: "limit 0", seq: 0, topics: ["a"], limit: 0, want: [] },
        { name: "after the newest", seq: seqs[4], topics: ["a", "b", "c"], limit: 10, want: [] },
        { name: "an unknown topic", seq: 0, topics: ["zzz"], limit: 10, want: [] },
        { name: "no topics", seq: 0, topics: [], limit: 10, want: [] },
      ];
      for (const c of cases) {
        await t.step(c.name, () => {
          assert.deepEqual(plain(store.keysAfter(c.seq, c.topics, c.limit)), c.want.map(key));
        });
      }
    });
  });
});

Deno.test("EventStore.pairSummaries() counts and sums fingerprints per topic and publisher, largest first", async (t) => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, async (store) => {
      const add = (topic: string, peer: string, print: number, due?: string) => {
        const event = { ...makeEvent({ topic, peer }), ...(due ? { due } : {}) };
        store.append(event, print, arrival(event));
      };
      add("a", PEER_A, 1);
      add("a", PEER_A, 2 ** 32 - 1);
      add("a", PEER_A, 7);
      add("a", PEER_B, 5);
      add("b", PEER_A, 11);
      add("b", PEER_A, 13);
      // Held until due: keysAfter offers it, so it is counted.
      add("b", PEER_A, 17, new Date(Date.now() + 3_600_000).toISOString());
      add("c", PEER_B, -3);
      add("c", PEER_B, 4);

      await t.step("every pair of the topics asked for, held rows included", () => {
        assert.deepEqual(plain(store.pairSummaries(["a", "b"])), [
          { topic: "a", publisher: PEER_A, count: 3, sum: 2 ** 32 + 7 },
          { topic: "b", publisher: PEER_A, count: 3, sum: 41 },
          { topic: "a", publisher: PEER_B, count: 1, sum: 5 },
        ]);
      });
      await t.step("limited to the largest counts", () => {
        assert.deepEqual(plain(store.pairSummaries(["a", "b"], 2)).map((pair) => pair.count), [3, 3]);
      });
      await t.step("a pair with a negative fingerprint is left out", () => {
        assert.deepEqual(plain(store.pairSummaries(["c"])), []);
      });
      await t.step("no topics", () => assert.deepEqual(store.pairSummaries([]), []));
    });
  });
});

Deno.test("EventStore.keysAfter() leaves out the skipped pairs' rows up to a point", async (t) => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, async (store) => {
      const specs: EventSpec[] = [
        { topic: "a", peer: PEER_A },
        { topic: "a", peer: PEER_B },
        { topic: "b", peer: PEER_A },
        { topic: "a", peer: PEER_A },
        { topic: "a", peer: PEER_B },
      ];
      const events = specs.map((spec) => makeEvent(spec));
      const seqs = events.map((event) => store.append(event, 0, arrival(event))!);
      const key = (i: number) => ({ seq: seqs[i], publisher: events[i].source.peer, id: events[i].id });
      const all = { upto: seqs[4] };

      const cases: {
        name: string;
        seq: number;
        skip: { pairs: { topic: string; publisher: string }[]; upto: number };
        limit: number;
        want: number[];
      }[] = [
        {
          name: "one pair",
          seq: 0,
          skip: { ...all, pairs: [{ topic: "a", publisher: PEER_A }] },
          limit: 10,
          want: [1, 2, 4],
        },
        {
          name: "two pairs",
          seq: 0,
          skip: { ...all, pairs: [{ topic: "a", publisher: PEER_B }, { topic: "b", publisher: PEER_A }] },
          limit: 10,
          want: [0, 3],
        },
        {
          name: "a pair on another topic only",
          seq: 0,
          skip: { ...all, pairs: [{ topic: "c", publisher: PEER_A }] },
          limit: 10,
          want: [0, 1, 2, 3, 4],
        },
        {
          name: "rows after the point are offered",
          seq: 0,
          skip: { upto: seqs[2], pairs: [{ topic: "a", publisher: PEER_A }, { topic: "a", publisher: PEER_B }] },
          limit: 10,
          want: [2, 3, 4],
        },
        {
          name: "a full page holds only keys to offer",
          seq: 0,
          skip: { ...all, pairs: [{ topic: "a", publisher: PEER_A }] },
          limit: 2,
          want: [1, 2],
        },
        {
          name: "after a sequence number",
          seq: seqs[1],
          skip: { ...all, pairs: [{ topic: "a", publisher: PEER_A }] },
          limit: 10,
          want: [2, 4],
        },
        { name: "no pairs", seq: 0, skip: { ...all, pairs: [] }, limit: 10, want: [0, 1, 2, 3, 4] },
      ];
      for (const c of cases) {
        await t.step(c.name, () => {
          assert.deepEqual(plain(store.keysAfter(c.seq, ["a", "b"], c.limit, c.skip)), c.want.map(key));
        });
      }
    });
  });
});

Deno.test("EventStore.served() returns the servable events with their bytes, in local order", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      const signed = makeEvent({ peer: PEER_B, topic: "builds" });
      const own = makeEvent({ peer: PEER_A, topic: "default" });
      const bare = makeEvent({ peer: PEER_A, topic: "default" });
      const signedArrival = arrival(signed, { signed: true, backfill: true });
      const ownArrival = arrival(own);
      const signedSeq = store.append(signed, 0, signedArrival)!;
      const ownSeq = store.append(own, 0, ownArrival)!;
      store.append(bare, 0);

      const rows = [...store.served([
        // Asked for newest first, with keys that cannot be served mixed in.
        { publisher: PEER_A, id: own.id },
        { publisher: PEER_A, id: nextId() },
        { publisher: PEER_A, id: bare.id },
        { publisher: PEER_A, id: signed.id },
        { publisher: PEER_B, id: signed.id },
      ])];
      assert.deepEqual(rows, [
        {
          seq: signedSeq,
          publisher: PEER_B,
          id: signed.id,
          topic: "builds",
          data: signedArrival.data,
          signed: signedArrival.signed,
        },
        { seq: ownSeq, publisher: PEER_A, id: own.id, topic: "default", data: ownArrival.data },
      ]);
      assert.ok(!("signed" in rows[1]), "an own event has no signature to pass on");
      assert.deepEqual([...store.served([])], []);
      assert.deepEqual([...store.served([{ publisher: PEER_A, id: bare.id }])], [], "no bytes kept, nothing to serve");
    });
  });
});

Deno.test("EventStore.has() tells whether a publisher's event is stored", async (t) => {
  await withStateDir(async (dir) => {
    const stored = makeEvent({ peer: PEER_A });
    const bare = makeEvent({ peer: PEER_B });
    await withStore(dir, {}, (store) => {
      store.append(stored, 0, arrival(stored, { signed: true }));
      store.append(bare, 0);
    });
    await withStore(dir, {}, async (store) => {
      const cases = [
        { name: "stored with bytes, after reopening", publisher: PEER_A, id: stored.id, want: true },
        { name: "stored without bytes", publisher: PEER_B, id: bare.id, want: true },
        { name: "the same id from another publisher", publisher: PEER_B, id: stored.id, want: false },
        { name: "an unknown id", publisher: PEER_A, id: nextId(), want: false },
      ];
      for (const c of cases) {
        await t.step(c.name, () => assert.equal(store.has(c.publisher, c.id), c.want));
      }
    });
  });
});

Deno.test("EventStore.syncPoint() keeps each peer's point across reopening", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      assert.equal(store.syncPoint("peer-1"), undefined, "never synced");
      store.setSyncPoint("peer-1", { store: "store-x", seq: 10 });
      store.setSyncPoint("peer-2", { store: "store-y", seq: 3 });
      assert.deepEqual({ ...store.syncPoint("peer-1") }, { store: "store-x", seq: 10 });
      store.setSyncPoint("peer-1", { store: "store-z", seq: 1 });
      assert.deepEqual({ ...store.syncPoint("peer-1") }, { store: "store-z", seq: 1 }, "a new point replaces the old");
    });
    await withStore(dir, {}, (store) => {
      assert.deepEqual({ ...store.syncPoint("peer-1") }, { store: "store-z", seq: 1 });
      assert.deepEqual({ ...store.syncPoint("peer-2") }, { store: "store-y", seq: 3 });
      assert.equal(store.syncPoint("peer-3"), undefined);
    });
  });
});

Deno.test("EventStore.setSyncPoint() after close() does nothing", async () => {
  await withStateDir(async (dir) => {
    const store = EventStore.open(dir);
    store.setSyncPoint("peer-1", { store: "s", seq: 1 });
    store.close();
    store.setSyncPoint("peer-1", { store: "s", seq: 2 });
    await withStore(dir, {}, (again) => {
      assert.deepEqual({ ...again.syncPoint("peer-1") }, { store: "s", seq: 1 });
    });
  });
});

Deno.test("EventStore.id and createdAt are fixed when the store is made", async () => {
  await withStateDir(async (dir) => {
    await withStateDir(async (otherDir) => {
      let now = T0;
      const init: StoreInit = { now: () => now };
      let id = "";
      await withStore(dir, init, (store) => {
        id = store.id;
        assert.match(id, /^[0-9a-f-]{36}$/);
        assert.equal(store.createdAt, T0);
      });
      now = T0 + 86_400_000;
      await withStore(dir, init, (store) => {
        assert.equal(store.id, id, "the same id after reopening");
        assert.equal(store.createdAt, T0, "the first opening's time, not this one's");
      });
      await withStore(otherDir, init, (other) => {
        assert.notEqual(other.id, id, "another store has another id");
        assert.equal(other.createdAt, T0 + 86_400_000);
      });
    });
  });
});

Deno.test("EventStore.open() upgrades a store made before the history columns", async () => {
  await withStateDir(async (dir) => {
    const old = makeEvent({ topic: "builds" });
    const db = new DatabaseSync(inDir(dir, STORE_FILE));
    try {
      db.exec(`
        CREATE TABLE events (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          publisher TEXT NOT NULL,
          id TEXT NOT NULL,
          topic TEXT NOT NULL,
          time INTEGER NOT NULL,
          received INTEGER NOT NULL,
          fingerprint INTEGER NOT NULL,
          json TEXT NOT NULL,
          UNIQUE (publisher, id)
        );
        CREATE INDEX events_topic ON events (topic, seq);
        CREATE TABLE cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL);
      `);
      db.prepare(
        "INSERT INTO events (publisher, id, topic, time, received, fingerprint, json) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ).run(PEER_A, old.id, old.topic, Date.parse(old.time), T0, 77, JSON.stringify(old));
      db.prepare("INSERT INTO cursors (sink, seq) VALUES (?, ?)").run("desktop", 1);
    } finally {
      db.close();
    }

    const fresh = makeEvent({ topic: "builds", peer: PEER_B });
    const freshArrival = arrival(fresh, { signed: true, backfill: true });
    let id = "";
    await withStore(dir, { now: () => T0 }, (store) => {
      assert.deepEqual(store.query(), [{ seq: 1, event: old, backfill: false }], "the old row, not backfill");
      assert.equal(store.fingerprint(PEER_A, old.id), 77);
      assert.equal(store.cursor("desktop"), 1);
      assert.ok(store.has(PEER_A, old.id));
      assert.deepEqual([...store.served([{ publisher: PEER_A, id: old.id }])], [], "no bytes were kept for it");

      const seq = store.append(fresh, 8, freshArrival);
      assert.ok(seq! > 1);
      assert.deepEqual(plain(store.keysAfter(0, ["builds"], 10)), [
        { seq: 1, publisher: PEER_A, id: old.id },
        { seq, publisher: PEER_B, id: fresh.id },
      ]);
      assert.deepEqual([...store.served([{ publisher: PEER_B, id: fresh.id }])], [
        { seq, publisher: PEER_B, id: fresh.id, topic: "builds", data: freshArrival.data, signed: freshArrival.signed },
      ]);
      assert.deepEqual(store.query({ afterSeq: 1 }), [{ seq, event: fresh, backfill: true }]);
      store.setSyncPoint("peer", { store: "s", seq: 4 });
      id = store.id;
    });
    // A second opening finds nothing left to add.
    await withStore(dir, { now: () => T0 }, (store) => {
      assert.equal(store.count(), 2);
      assert.equal(store.id, id);
      assert.deepEqual({ ...store.syncPoint("peer") }, { store: "s", seq: 4 });
    });
  });
});

Deno.test("EventStore.append() commits a task's appends together, and afterCommit() runs after the commit", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, async (store) => {
      const seen: string[] = [];
      const counted = () => peek<{ n: number }>(dir, "SELECT count(*) AS n FROM events")!.n;
      store.afterCommit(() => seen.push("nothing pending: at once"));
      for (let i = 0; i < 3; i++) store.append(makeEvent(), i);
      store.afterCommit(() => seen.push(`after commit: ${counted()} visible to other readers`));
      // Another connection sees none of the group until it commits.
      assert.equal(counted(), 0);
      await Promise.resolve();
      assert.deepEqual(seen, ["nothing pending: at once", "after commit: 3 visible to other readers"]);
      // A new task's appends form a new group.
      store.append(makeEvent(), 9);
      assert.equal(counted(), 3);
      await new Promise((resolve) => setTimeout(resolve, 0));
      assert.equal(counted(), 4);
    });
  });
});

Deno.test("EventStore.topicStats() survives a row nested past SQLite's JSON depth limit", async () => {
  await withStateDir(async (dir) => {
    await withStore(dir, {}, (store) => {
      // Stored by an agent from before the event model bounded nesting: valid JSON, too deep for json_extract.
      const deep = { ...makeEvent({ topic: "deep" }), data: JSON.parse("[".repeat(1000) + "]".repeat(1000)) };
      store.append(deep, 1);
      store.append(makeEvent({ topic: "fine" }), 2);
      const stats = store.topicStats();
      assert.deepEqual(stats.map((row) => [row.topic, row.host]), [["deep", undefined], ["fine", "test-host"]]);
    });
  });
});
