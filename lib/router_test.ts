import assert from "node:assert/strict";
import { BACKFILL_MAX_AGE_MS, matches, type RouteFilter, Router } from "./router.ts";
import { EventStore } from "./store/store.ts";
import { createEvent, type EventDraft, type HarkEvent } from "./event/event.ts";
import { monotonicUlid } from "./event/ulid.ts";
import type { Sink } from "../sinks/sink.ts";
import { waitFor } from "../tests/helpers/wait.ts";

const ulid = monotonicUlid();

function event(draft: EventDraft = {}, now = Date.now()): HarkEvent {
  return createEvent({ body: "b", ...draft }, { id: ulid(), now, host: "h", peer: "12D3KooWTest" });
}

interface FakeSinkInit {
  /** Whether the call-th attempt (1-based, over the sink's life) throws. */
  fails?: (event: HarkEvent, call: number) => boolean;
  /** Deliveries wait for `release()`; they honour the abort signal meanwhile. */
  gated?: boolean;
}

/** A test double for a sink: records what it was given, can block and fail on cue. */
class FakeSink implements Sink {
  readonly name: string;
  readonly delivered: HarkEvent[] = [];
  calls = 0;
  closed = 0;
  #init: FakeSinkInit;
  #gate = Promise.withResolvers<void>();
  #waiters: { ready: () => boolean; resolve: () => void }[] = [];
  #log: string[];

  constructor(name: string, init: FakeSinkInit = {}, log: string[] = []) {
    this.name = name;
    this.#init = init;
    this.#log = log;
    if (!init.gated) this.#gate.resolve();
  }

  async deliver(event: HarkEvent, { signal }: { signal: AbortSignal }): Promise<void> {
    const call = ++this.calls;
    this.#notify();
    await untilAborted(this.#gate.promise, signal);
    if (this.#init.fails?.(event, call)) throw new Error(`${this.name} failed call ${call}`);
    this.delivered.push(event);
    this.#log.push(`${this.name} delivered ${event.title}`);
    this.#notify();
  }

  close(): Promise<void> {
    this.closed++;
    this.#log.push(`${this.name} closed`);
    return Promise.resolve();
  }

  /** Lets every waiting and future delivery through. */
  release(): void {
    this.#gate.resolve();
  }

  /** Resolves once `deliver` has been entered `n` times. */
  calledTimes(n: number): Promise<void> {
    return this.#until(() => this.calls >= n);
  }

  /** Resolves once `n` events have been delivered. */
  deliveredCount(n: number): Promise<void> {
    return this.#until(() => this.delivered.length >= n);
  }

  #until(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ ready, resolve });
    return promise;
  }

  #notify(): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.ready()) return true;
      waiter.resolve();
      return false;
    });
  }
}

/** Settles like `promise`, or rejects as soon as `signal` aborts. */
function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

const ALL: RouteFilter = { minPriority: 1 };

function never(): AbortSignal {
  return new AbortController().signal;
}

function titles(events: HarkEvent[]): string[] {
  return events.map((e) => e.title);
}

Deno.test("matches() applies topic, priority and expiry", async (t) => {
  const now = Date.parse("2026-11-21T12:00:00.000Z");
  const at = (iso: string) => ({ ...event({ topic: "builds", priority: 3 }), expires: iso });
  const cases: { name: string; event: HarkEvent; filter: RouteFilter; expected: boolean }[] = [
    { name: "no filter", event: event({ topic: "builds" }), filter: ALL, expected: true },
    {
      name: "listed topic",
      event: event({ topic: "builds" }),
      filter: { topics: ["a", "builds"], minPriority: 1 },
      expected: true,
    },
    {
      name: "unlisted topic",
      event: event({ topic: "commits" }),
      filter: { topics: ["builds"], minPriority: 1 },
      expected: false,
    },
    {
      name: "empty topic list",
      event: event({ topic: "builds" }),
      filter: { topics: [], minPriority: 1 },
      expected: false,
    },
    { name: "priority at the minimum", event: event({ priority: 4 }), filter: { minPriority: 4 }, expected: true },
    { name: "priority below the minimum", event: event({ priority: 3 }), filter: { minPriority: 4 }, expected: false },
    { name: "expires later", event: at("2026-11-21T12:00:00.001Z"), filter: ALL, expected: true },
    { name: "expires now", event: at("2026-11-21T12:00:00.000Z"), filter: ALL, expected: false },
    { name: "expired", event: at("2026-11-21T11:59:59.999Z"), filter: ALL, expected: false },
  ];
  for (const { name, event, filter, expected } of cases) {
    await t.step(name, () => assert.equal(matches(event, filter, now), expected));
  }
});

Deno.test("Router.route() applies each sink's topic and min_priority filter", async (t) => {
  const events = [
    event({ title: "builds-1", topic: "builds", priority: 1 }),
    event({ title: "builds-4", topic: "builds", priority: 4 }),
    event({ title: "commits-3", topic: "commits", priority: 3 }),
    event({ title: "commits-5", topic: "commits", priority: 5 }),
    event({ title: "default-3", priority: 3 }),
  ];
  const cases: { name: string; filter: RouteFilter; expected: string[] }[] = [
    { name: "everything", filter: ALL, expected: ["builds-1", "builds-4", "commits-3", "commits-5", "default-3"] },
    { name: "one topic", filter: { topics: ["builds"], minPriority: 1 }, expected: ["builds-1", "builds-4"] },
    {
      name: "two topics",
      filter: { topics: ["builds", "default"], minPriority: 1 },
      expected: ["builds-1", "builds-4", "default-3"],
    },
    { name: "min_priority 4", filter: { minPriority: 4 }, expected: ["builds-4", "commits-5"] },
    { name: "topic and min_priority", filter: { topics: ["commits"], minPriority: 4 }, expected: ["commits-5"] },
    { name: "nothing passes", filter: { topics: ["other"], minPriority: 1 }, expected: [] },
  ];
  for (const { name, filter, expected } of cases) {
    await t.step(name, async () => {
      const router = new Router();
      const sink = new FakeSink("fake");
      const all = new FakeSink("all");
      router.add(sink, filter, 100);
      router.add(all, ALL, 100);
      router.start();
      for (const e of events) router.route(e);
      await router.idle();
      assert.deepEqual(titles(sink.delivered), expected);
      assert.equal(all.delivered.length, events.length, "a filter applies to its own sink only");
      await router.stop(never());
    });
  }
});

Deno.test("Router.route() skips expired events", async () => {
  const router = new Router();
  const sink = new FakeSink("fake");
  router.add(sink, ALL, 100);
  router.start();
  router.route(event({ title: "expired", ttl: 1000 }, Date.now() - 60_000));
  router.route(event({ title: "fresh", ttl: 60_000 }));
  router.route(event({ title: "no ttl" }, Date.now() - 3_600_000));
  await router.idle();
  assert.deepEqual(titles(sink.delivered), ["fresh", "no ttl"]);
  assert.equal(router.health()[0].dropped, 0, "a skipped event is not a drop");
  await router.stop(never());
});

Deno.test("Router.route() drops events when a sink's queue is full", async (t) => {
  await t.step("before start", async () => {
    const router = new Router();
    const sink = new FakeSink("small");
    router.add(sink, ALL, 2);
    for (const title of ["e1", "e2", "e3", "e4", "e5"]) router.route(event({ title }));
    assert.deepEqual(router.health()[0], {
      name: "small",
      topics: undefined,
      min_priority: 1,
      state: "ok",
      queued: 2,
      delivered: 0,
      dropped: 3,
      failed: 0,
      given_up: 0,
      last_error: undefined,
    });
    router.start();
    await router.idle();
    assert.deepEqual(titles(sink.delivered), ["e1", "e2"]);
    assert.equal(router.health()[0].queued, 0);
    assert.equal(router.health()[0].delivered, 2);
    await router.stop(never());
  });

  await t.step("while a delivery is in flight", async () => {
    const router = new Router();
    const slow = new FakeSink("slow", { gated: true });
    const roomy = new FakeSink("roomy");
    router.add(slow, ALL, 2);
    router.add(roomy, ALL, 100);
    router.start();
    router.route(event({ title: "e1" }));
    await slow.calledTimes(1);
    // e1 is being delivered; e2 and e3 fill the queue; e4 and e5 do not fit.
    for (const title of ["e2", "e3", "e4", "e5"]) router.route(event({ title }));
    const [busy, other] = router.health();
    assert.equal(busy.queued, 3, "two waiting plus one in flight");
    assert.equal(busy.dropped, 2);
    assert.equal(other.dropped, 0, "drops are per sink");
    slow.release();
    await router.idle();
    assert.deepEqual(titles(slow.delivered), ["e1", "e2", "e3"]);
    assert.deepEqual(titles(roomy.delivered), ["e1", "e2", "e3", "e4", "e5"]);
    const [after] = router.health();
    assert.equal(after.queued, 0);
    assert.equal(after.delivered, 3);
    assert.equal(after.dropped, 2);
    await router.stop(never());
  });
});

Deno.test("Router.route() does not let a slow sink delay a fast one", async () => {
  const router = new Router();
  const slow = new FakeSink("slow", { gated: true });
  const fast = new FakeSink("fast");
  router.add(slow, ALL, 100);
  router.add(fast, ALL, 100);
  router.start();
  for (const title of ["e1", "e2", "e3"]) router.route(event({ title }));
  await fast.deliveredCount(3);
  assert.deepEqual(titles(fast.delivered), ["e1", "e2", "e3"]);
  assert.equal(slow.delivered.length, 0);
  assert.equal(router.health()[0].queued, 3, "the slow sink still holds every event");
  slow.release();
  await router.idle();
  assert.deepEqual(titles(slow.delivered), ["e1", "e2", "e3"]);
  await router.stop(never());
});

Deno.test("Router.route() never blocks the caller", async () => {
  const router = new Router();
  const slow = new FakeSink("slow", { gated: true });
  router.add(slow, ALL, 10_000);
  router.start();
  // route() is synchronous: all of these are queued before any delivery starts.
  for (let i = 0; i < 5000; i++) router.route(event({ title: `e${i}` }));
  assert.equal(router.health()[0].queued, 5000);
  slow.release();
  await router.idle();
  assert.equal(slow.delivered.length, 5000);
  await router.stop(never());
});

Deno.test("Router retries a failing sink and counts each failed attempt", async (t) => {
  const cases: {
    name: string;
    attempts: number;
    fails: (event: HarkEvent, call: number) => boolean;
    calls: number;
    delivered: number;
    failed: number;
    lastError?: string;
  }[] = [
    { name: "succeeds at once", attempts: 3, fails: () => false, calls: 1, delivered: 1, failed: 0 },
    {
      name: "succeeds on the third attempt",
      attempts: 3,
      fails: (_, call) => call < 3,
      calls: 3,
      delivered: 1,
      failed: 2,
      // The success clears it: status shows what is wrong now, the log what went wrong before.
      lastError: undefined,
    },
    {
      name: "fails every attempt",
      attempts: 3,
      fails: () => true,
      calls: 3,
      delivered: 0,
      failed: 3,
      lastError: "fake failed call 3",
    },
    {
      name: "one attempt only",
      attempts: 1,
      fails: () => true,
      calls: 1,
      delivered: 0,
      failed: 1,
      lastError: "fake failed call 1",
    },
  ];
  for (const { name, attempts, fails, calls, delivered, failed, lastError } of cases) {
    await t.step(name, async () => {
      const router = new Router({ attempts, retryDelayMs: 1 });
      const sink = new FakeSink("fake", { fails });
      router.add(sink, ALL, 10);
      router.start();
      router.route(event());
      await router.idle();
      assert.equal(sink.calls, calls);
      const health = router.health()[0];
      assert.equal(health.delivered, delivered);
      assert.equal(health.failed, failed);
      assert.equal(health.last_error, lastError);
      assert.equal(health.queued, 0);
      await router.stop(never());
    });
  }
});

Deno.test("Router goes on delivering after an event failed", async () => {
  const router = new Router({ attempts: 2, retryDelayMs: 1 });
  const sink = new FakeSink("fake", { fails: (e) => e.title === "bad" });
  router.add(sink, ALL, 10);
  router.start();
  for (const title of ["good-1", "bad", "good-2"]) router.route(event({ title }));
  await router.idle();
  assert.deepEqual(titles(sink.delivered), ["good-1", "good-2"]);
  assert.equal(sink.calls, 4);
  const health = router.health()[0];
  assert.equal(health.delivered, 2);
  assert.equal(health.failed, 2, "both attempts at the bad event count");
  await router.stop(never());
});

Deno.test("Router.stop() drains the queues, then closes the sinks", async () => {
  const log: string[] = [];
  const router = new Router();
  const slow = new FakeSink("slow", { gated: true }, log);
  const fast = new FakeSink("fast", {}, log);
  router.add(slow, ALL, 10);
  router.add(fast, { topics: ["other"], minPriority: 1 }, 10);
  router.start();
  for (const title of ["e1", "e2", "e3"]) router.route(event({ title }));
  await slow.calledTimes(1);
  const stopping = router.stop(never());
  // Events routed while stopping still drain.
  router.route(event({ title: "e4" }));
  assert.equal(slow.closed, 0, "not closed while events wait");
  slow.release();
  await stopping;
  assert.deepEqual(log.filter((line) => line.startsWith("slow")), [
    "slow delivered e1",
    "slow delivered e2",
    "slow delivered e3",
    "slow delivered e4",
    "slow closed",
  ]);
  assert.equal(slow.closed, 1);
  assert.equal(fast.closed, 1, "idle sinks are closed too");
  assert.equal(router.health()[0].queued, 0);
  assert.equal(router.health()[0].delivered, 4);
});

Deno.test("Router.stop() gives up draining when its signal aborts", async (t) => {
  await t.step("aborted while delivering", async () => {
    const router = new Router({ attempts: 1 });
    const stuck = new FakeSink("stuck", { gated: true });
    router.add(stuck, ALL, 10);
    router.start();
    for (const title of ["e1", "e2", "e3"]) router.route(event({ title }));
    await stuck.calledTimes(1);
    const controller = new AbortController();
    const stopping = router.stop(controller.signal);
    controller.abort();
    await stopping;
    assert.equal(stuck.closed, 1);
    assert.equal(stuck.calls, 1, "the waiting events are not attempted");
    const health = router.health()[0];
    assert.equal(health.delivered, 0);
    assert.equal(health.failed, 1, "the aborted delivery");
    assert.equal(health.queued, 2, "the undelivered rest");
  });

  await t.step("a failing sink's retry delay does not hold up an aborted stop", async () => {
    const router = new Router({ attempts: 3, retryDelayMs: 60_000 });
    const failing = new FakeSink("failing", { fails: () => true });
    router.add(failing, ALL, 10);
    router.start();
    router.route(event({ title: "e1" }));
    await failing.calledTimes(1);
    // Resolves only if the minute-long retry delay is cut short by the abort.
    await router.stop(AbortSignal.abort());
    assert.equal(failing.closed, 1);
  });

  await t.step("already aborted", async () => {
    const router = new Router({ attempts: 1 });
    const stuck = new FakeSink("stuck", { gated: true });
    router.add(stuck, ALL, 10);
    router.start();
    router.route(event({ title: "e1" }));
    await stuck.calledTimes(1);
    await router.stop(AbortSignal.abort());
    assert.equal(stuck.closed, 1);
    assert.equal(stuck.delivered.length, 0);
  });
});

Deno.test("Router.stop() is idempotent", async (t) => {
  await t.step("called one after another", async () => {
    const router = new Router();
    const sink = new FakeSink("fake");
    router.add(sink, ALL, 10);
    router.start();
    router.route(event({ title: "e1" }));
    for (let i = 0; i < 5; i++) await router.stop(never());
    assert.equal(sink.closed, 1);
    assert.deepEqual(titles(sink.delivered), ["e1"]);
  });

  await t.step("called at once", async () => {
    const router = new Router();
    const sink = new FakeSink("fake");
    router.add(sink, ALL, 10);
    router.start();
    router.route(event({ title: "e1" }));
    const stops = Array.from({ length: 5 }, () =>
      router.stop(never()).then(() => {
        assert.equal(sink.closed, 1, "each caller resolves only after the sinks are closed");
        assert.deepEqual(titles(sink.delivered), ["e1"], "and drained");
      }));
    await Promise.all(stops);
    await router.stop(never());
    assert.equal(sink.closed, 1);
  });

  await t.step("before start closes the sinks", async () => {
    const router = new Router();
    const sink = new FakeSink("fake");
    router.add(sink, ALL, 10);
    await router.stop(never());
    assert.equal(sink.closed, 1);
  });

  await t.step("before start", async () => {
    const router = new Router();
    await router.stop(never());
    await router.stop(never());
  });
});

Deno.test("Router.route() after stop() delivers nothing", async () => {
  const router = new Router();
  const sink = new FakeSink("fake");
  router.add(sink, ALL, 10);
  router.start();
  await router.stop(never());
  router.route(event());
  await router.idle();
  assert.equal(sink.calls, 0);
  assert.equal(router.health()[0].queued, 0);
});

Deno.test("Router.add() after start() starts the new sink", async () => {
  const router = new Router();
  router.start();
  const sink = new FakeSink("late");
  router.add(sink, ALL, 10);
  router.route(event({ title: "e1" }));
  await router.idle();
  assert.deepEqual(titles(sink.delivered), ["e1"]);
  await router.stop(never());
  assert.equal(sink.closed, 1);
});

Deno.test("Router.start() twice starts each sink once", async () => {
  const router = new Router();
  const sink = new FakeSink("fake");
  router.add(sink, ALL, 10);
  router.start();
  router.start();
  for (const title of ["e1", "e2"]) router.route(event({ title }));
  await router.idle();
  assert.deepEqual(titles(sink.delivered), ["e1", "e2"]);
  await router.stop(never());
});

Deno.test("Router.idle() resolves at once with nothing queued", async () => {
  const router = new Router();
  await router.idle();
  router.add(new FakeSink("fake"), ALL, 10);
  router.start();
  await router.idle();
  await router.stop(never());
});

Deno.test("Router.health() describes every sink", () => {
  const router = new Router();
  router.add(new FakeSink("stdout"), ALL, 10);
  router.add(new FakeSink("file:/x"), { topics: ["builds"], minPriority: 4 }, 10);
  assert.deepEqual(router.health(), [
    {
      name: "stdout",
      topics: undefined,
      min_priority: 1,
      state: "ok",
      queued: 0,
      delivered: 0,
      dropped: 0,
      failed: 0,
      given_up: 0,
      last_error: undefined,
    },
    {
      name: "file:/x",
      topics: ["builds"],
      min_priority: 4,
      state: "ok",
      queued: 0,
      delivered: 0,
      dropped: 0,
      failed: 0,
      given_up: 0,
      last_error: undefined,
    },
  ]);
});

// --- Backfill: events published before this agent joined, caught up from a peer. ---

const MINUTE = 60_000;

async function withStore(fn: (store: EventStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hark_router_test_" });
  const store = EventStore.open(dir, { cursorFlushMs: 60_000 });
  try {
    await fn(store, dir);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Stores an event as the agent does before routing it; returns its sequence number. */
function stored(store: EventStore, e: HarkEvent, backfill: boolean): number {
  const seq = store.append(e, 0, { data: new TextEncoder().encode(JSON.stringify(e)), backfill });
  assert.equal(typeof seq, "number");
  return seq!;
}

Deno.test("matches() passes backfill only while it is recent enough", async (t) => {
  const now = Date.parse("2026-11-21T12:00:00.000Z");
  const aged = (ms: number, draft: EventDraft = {}) => event(draft, now - ms);
  const cases: { name: string; event: HarkEvent; filter: RouteFilter; backfill: boolean; expected: boolean }[] = [
    { name: "recent backfill", event: aged(MINUTE), filter: ALL, backfill: true, expected: true },
    {
      name: "backfill at exactly the default age",
      event: aged(BACKFILL_MAX_AGE_MS),
      filter: ALL,
      backfill: true,
      expected: true,
    },
    {
      name: "backfill just past the default age",
      event: aged(BACKFILL_MAX_AGE_MS + 1),
      filter: ALL,
      backfill: true,
      expected: false,
    },
    { name: "day-old backfill", event: aged(86_400_000), filter: ALL, backfill: true, expected: false },
    {
      name: "a day-old event that is not backfill",
      event: aged(86_400_000),
      filter: ALL,
      backfill: false,
      expected: true,
    },
    { name: "an hour-old live event", event: aged(60 * MINUTE), filter: ALL, backfill: false, expected: true },
    {
      name: "backfill from a clock ahead of ours",
      event: aged(-5 * MINUTE),
      filter: ALL,
      backfill: true,
      expected: true,
    },
    {
      name: "older than the default, within the sink's own max age",
      event: aged(30 * MINUTE),
      filter: { minPriority: 1, backfillMaxAgeMs: 60 * MINUTE },
      backfill: true,
      expected: true,
    },
    {
      name: "past the sink's own max age",
      event: aged(2 * 60 * MINUTE),
      filter: { minPriority: 1, backfillMaxAgeMs: 60 * MINUTE },
      backfill: true,
      expected: false,
    },
    {
      name: "a sink max age below the default",
      event: aged(2 * MINUTE),
      filter: { minPriority: 1, backfillMaxAgeMs: MINUTE },
      backfill: true,
      expected: false,
    },
    {
      name: "max age 0 passes only backfill from this instant",
      event: aged(0),
      filter: { minPriority: 1, backfillMaxAgeMs: 0 },
      backfill: true,
      expected: true,
    },
    {
      name: "max age 0 drops backfill a millisecond old",
      event: aged(1),
      filter: { minPriority: 1, backfillMaxAgeMs: 0 },
      backfill: true,
      expected: false,
    },
    {
      name: "recent backfill still obeys min_priority",
      event: aged(MINUTE, { priority: 2 }),
      filter: { minPriority: 3 },
      backfill: true,
      expected: false,
    },
    {
      name: "recent backfill still obeys topics",
      event: aged(MINUTE, { topic: "builds" }),
      filter: { topics: ["commits"], minPriority: 1 },
      backfill: true,
      expected: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.equal(matches(c.event, c.filter, now, c.backfill), c.expected));
  }
  await t.step("not backfill unless told", () => {
    assert.equal(matches(aged(86_400_000), ALL, now), true);
  });
  assert.equal(BACKFILL_MAX_AGE_MS, 10 * MINUTE);
});

Deno.test("Router.route() without a store skips old backfill", async () => {
  const router = new Router();
  const sink = new FakeSink("fake");
  router.add(sink, ALL, 10);
  router.start();
  router.route(event({ title: "old" }, Date.now() - 60 * MINUTE), undefined, true);
  router.route(event({ title: "recent" }, Date.now() - MINUTE), undefined, true);
  router.route(event({ title: "old live" }, Date.now() - 60 * MINUTE), undefined, false);
  await router.idle();
  assert.deepEqual(titles(sink.delivered), ["recent", "old live"]);
  assert.equal(router.health()[0].dropped, 0, "a skipped event is not a drop");
  await router.stop(never());
});

Deno.test("Router.route() with a store delivers recent backfill, skips old, and does not replay it", async () => {
  await withStore(async (store) => {
    const router = new Router({ store });
    const sink = new FakeSink("desktop");
    router.add(sink, ALL, 10);
    router.start();
    const events = [
      { e: event({ title: "recent-1" }, Date.now() - MINUTE), backfill: true },
      { e: event({ title: "old" }, Date.now() - 60 * MINUTE), backfill: true },
      { e: event({ title: "recent-2" }, Date.now() - 2 * MINUTE), backfill: true },
      { e: event({ title: "old-skipped-last" }, Date.now() - 30 * MINUTE), backfill: true },
    ];
    const seqs = events.map(({ e, backfill }) => {
      const seq = stored(store, e, backfill);
      router.route(e, seq, backfill);
      return seq;
    });
    await router.idle();
    assert.deepEqual(titles(sink.delivered), ["recent-1", "recent-2"]);
    assert.equal(router.health()[0].queued, 0);
    // The cursor is past the skipped "old" event, so it is never read back.
    assert.ok(store.cursor("desktop")! > seqs[1], `cursor ${store.cursor("desktop")}, old event at ${seqs[1]}`);
    await router.stop(never());
    store.flush();

    // A restart resumes from the cursor: neither skipped event comes back.
    const restarted = new Router({ store });
    const again = new FakeSink("desktop");
    restarted.add(again, ALL, 10);
    restarted.start();
    const live = event({ title: "live" });
    restarted.route(live, stored(store, live, false));
    await again.deliveredCount(1);
    await restarted.idle();
    assert.deepEqual(titles(again.delivered), ["live"]);
    await restarted.stop(never());
  });
});

Deno.test("Router applies each sink's own backfill max age", async () => {
  await withStore(async (store) => {
    const router = new Router({ store });
    const strict = new FakeSink("strict");
    const patient = new FakeSink("patient");
    router.add(strict, ALL, 10);
    router.add(patient, { minPriority: 1, backfillMaxAgeMs: 60 * MINUTE }, 10);
    router.start();
    for (const [title, age] of [["5m", 5 * MINUTE], ["30m", 30 * MINUTE], ["2h", 120 * MINUTE]] as const) {
      const e = event({ title }, Date.now() - age);
      router.route(e, stored(store, e, true), true);
    }
    await router.idle();
    assert.deepEqual(titles(strict.delivered), ["5m"]);
    assert.deepEqual(titles(patient.delivered), ["5m", "30m"]);
    await router.stop(never());
  });
});

Deno.test("Router keeps the backfill flag of events deferred to the store", async () => {
  await withStore(async (store) => {
    const router = new Router({ store });
    const slow = new FakeSink("slow", { gated: true });
    router.add(slow, ALL, 1);
    router.start();
    const first = event({ title: "first" });
    router.route(first, stored(store, first, false));
    await slow.calledTimes(1);
    // "first" is in flight; the queue holds one more; the rest wait in the store.
    const specs: { title: string; age: number; backfill: boolean }[] = [
      { title: "queued", age: 0, backfill: false },
      { title: "old backfill", age: 60 * MINUTE, backfill: true },
      { title: "recent backfill", age: MINUTE, backfill: true },
      { title: "old live", age: 60 * MINUTE, backfill: false },
      { title: "older backfill", age: 120 * MINUTE, backfill: true },
      { title: "last", age: 0, backfill: false },
    ];
    for (const { title, age, backfill } of specs) {
      const e = event({ title }, Date.now() - age);
      router.route(e, stored(store, e, backfill), backfill);
    }
    // Deferred events are read back through store.after(), which must keep their flag.
    const backfilled = store.after(0, undefined, 100).filter((row) => row.backfill).map((row) => row.event.title);
    assert.deepEqual(backfilled, ["old backfill", "recent backfill", "older backfill"]);
    slow.release();
    await router.idle();
    assert.deepEqual(titles(slow.delivered), ["first", "queued", "recent backfill", "old live", "last"]);
    assert.equal(router.health()[0].dropped, 0, "with a store nothing is dropped");
    await router.stop(never());
  });
});

Deno.test("Router skips old backfill found in the store after a restart", async () => {
  await withStore(async (store) => {
    // Events stored while no router ran, as in a crash between storing and delivering.
    const first = new Router({ store });
    const sink = new FakeSink("desktop");
    first.add(sink, ALL, 10);
    first.start();
    await first.stop(never());
    for (
      const [title, age, backfill] of [["old", 60 * MINUTE, true], ["recent", MINUTE, true], [
        "old live",
        60 * MINUTE,
        false,
      ]] as const
    ) {
      stored(store, event({ title }, Date.now() - age), backfill);
    }
    const restarted = new Router({ store });
    const again = new FakeSink("desktop");
    restarted.add(again, ALL, 10);
    restarted.start();
    await again.deliveredCount(2);
    await restarted.idle();
    assert.deepEqual(titles(again.delivered), ["recent", "old live"]);
    await restarted.stop(never());
  });
});

Deno.test("Router suspends a sink that fails many times in a row and resumes it when it works again", async () => {
  await withStore(async (store) => {
    const router = new Router({ store, retryDelayMs: 1, maxRetryDelayMs: 2, suspendAfter: 3, maxSuspendedDelayMs: 4 });
    const states: string[] = [];
    const sink = new FakeSink("flaky", {
      fails: (_, call) => {
        states.push(router.health()[0].state);
        return call <= 5;
      },
    });
    router.add(sink, ALL, 10, "flaky");
    router.start();
    const e = event({ title: "needed" });
    router.route(e, stored(store, e, false));
    await router.idle();
    // The state before each call: fresh, then retrying after the first failure, suspended from the third.
    assert.deepEqual(states, ["ok", "retrying", "retrying", "suspended", "suspended", "suspended"]);
    const health = router.health()[0];
    assert.equal(health.state, "ok");
    assert.equal(health.failed, 5);
    assert.equal(health.delivered, 1);
    assert.equal(health.next_attempt, undefined);
    assert.deepEqual(titles(sink.delivered), ["needed"]);
    await router.stop(never());
  });
});

Deno.test("Router health includes what the sink reports about itself", async () => {
  const router = new Router();
  const sink = Object.assign(new FakeSink("reporting"), { stats: () => ({ circuit: "closed" }) });
  router.add(sink, ALL, 10);
  assert.deepEqual(router.health()[0].details, { circuit: "closed" });
  await router.stop(never());
});

Deno.test("Router passes only events matching a sink's topic globs and when filter", async () => {
  const router = new Router();
  const sink = new FakeSink("picky");
  router.add(sink, { minPriority: 1, topics: ["builds.*", "deploy"], when: (e) => e.priority >= 4 }, 10);
  router.start();
  for (
    const [topic, priority, title] of [
      ["builds.web", 4, "yes-1"],
      ["builds", 5, "no-topic"],
      ["deploy", 5, "yes-2"],
      ["builds.api", 3, "no-when"],
      ["other", 5, "no-other"],
    ] as const
  ) router.route(event({ topic, priority, title }));
  await router.idle();
  assert.deepEqual(titles(sink.delivered), ["yes-1", "yes-2"]);
  await router.stop(never());
});

Deno.test("Router gives up an event the sink says can never succeed, and goes on", async () => {
  await withStore(async (store) => {
    const router = new Router({ store, retryDelayMs: 1 });
    const sink = new FakeSink("strict");
    const original = sink.deliver.bind(sink);
    sink.deliver = (e, options) => {
      if (e.title === "rejected") {
        sink.calls++;
        return Promise.reject(Object.assign(new Error("400 Bad Request"), { retryable: false }));
      }
      return original(e, options);
    };
    router.add(sink, ALL, 10, "strict");
    router.start();
    for (const title of ["before", "rejected", "after"]) {
      const e = event({ title });
      router.route(e, stored(store, e, false));
    }
    await router.idle();
    assert.deepEqual(titles(sink.delivered), ["before", "after"]);
    const health = router.health()[0];
    assert.equal(health.given_up, 1);
    assert.equal(health.failed, 1, "tried once, not retried");
    assert.equal(health.state, "ok");
    await router.stop(never());
  });
});

/** A sink with effects outside the store: each delivery starts a run that the test ends. */
class EffectSink implements Sink {
  readonly name = "exec:effect";
  readonly marksRepeats = true;
  readonly handed: { title: string; repeat: boolean }[] = [];
  readonly #runs = new Map<string, () => void>();
  readonly #gate?: Promise<void>;

  /** With `gate`, each delivery waits for it before its run starts. */
  constructor(gate?: Promise<void>) {
    this.#gate = gate;
  }

  async deliver(event: HarkEvent, options: { signal: AbortSignal; repeat?: boolean }) {
    await this.#gate;
    this.handed.push({ title: event.title, repeat: options.repeat ?? false });
    const waiting: (() => void)[] = [];
    this.#runs.set(event.title, () => waiting.splice(0).forEach((done) => done()));
    return { whenOver: (done: () => void) => waiting.push(done) };
  }

  /** Ends the run of the event with this title. */
  finish(title: string): void {
    this.#runs.get(title)!();
  }

  close(): Promise<void> {
    for (const end of this.#runs.values()) end();
    return Promise.resolve();
  }
}

Deno.test("Router saves a marksRepeats sink's runs in flight before they start; after a crash only those come again, marked", async () => {
  await withStore(async (store, dir) => {
    const router = new Router({ store });
    const sink = new EffectSink();
    router.add(sink, ALL, 10, "0:exec");
    router.start();
    const events = ["e1", "e2", "e3", "e4", "e5"].map((title) => event({ title }));
    const seqs = events.map((e) => stored(store, e, false));
    for (const [i, e] of events.entries()) router.route(e, seqs[i]);
    await router.idle();
    sink.finish("e1");
    sink.finish("e2");
    // A later run ends before an older one: it is done for good all the same.
    sink.finish("e4");

    // The crash: nothing more is written; another connection reads what is on disk.
    const after = EventStore.open(dir, { cursorFlushMs: 60_000 });
    try {
      assert.deepEqual(after.progress("0:exec"), { seq: seqs[4], inFlight: [seqs[2], seqs[4]] });
      const restarted = new Router({ store: after });
      const again = new EffectSink();
      restarted.add(again, ALL, 10, "0:exec");
      restarted.start();
      const e6 = event({ title: "e6" });
      restarted.route(e6, stored(after, e6, false));
      await restarted.idle();
      assert.deepEqual(again.handed, [
        { title: "e3", repeat: true },
        { title: "e5", repeat: true },
        { title: "e6", repeat: false },
      ]);
      await restarted.stop(never());
      assert.deepEqual(after.progress("0:exec")?.inFlight, [], "every run ended with the stop");
    } finally {
      after.close();
    }
    await router.stop(never());
  });
});

Deno.test("Router keeps a repeat listed until it is started again, so a second crash marks it too", async () => {
  await withStore(async (store, dir) => {
    const first = new Router({ store });
    first.add(new EffectSink(), ALL, 10, "0:exec");
    first.start();
    const events = ["e1", "e2"].map((title) => event({ title }));
    const seqs = events.map((e) => stored(store, e, false));
    for (const [i, e] of events.entries()) first.route(e, seqs[i]);
    await first.idle();

    // Restarted with a sink that stalls on the first repeat: e2 is queued, not started, at the second crash.
    const second = EventStore.open(dir, { cursorFlushMs: 60_000 });
    const stalled = new Router({ store: second });
    const gate = Promise.withResolvers<void>();
    stalled.add(new EffectSink(gate.promise), ALL, 10, "0:exec");
    stalled.start();
    const third = EventStore.open(dir, { cursorFlushMs: 60_000 });
    try {
      await waitFor(() => third.progress("0:exec")?.inFlight.length === 2, { intervalMs: 1 });
      assert.deepEqual(third.progress("0:exec"), { seq: seqs[1], inFlight: seqs });
    } finally {
      third.close();
      gate.resolve();
      await stalled.stop(never());
      second.close();
      await first.stop(never());
    }
  });
});

// --- Notifications with a life: a sink that shows notifications gets only the newest step of each. ---

/** A FakeSink that shows notifications, as the desktop sink does. */
class NotificationSink extends FakeSink {
  readonly showsNotifications = true;
}

Deno.test("Router: a sink that shows notifications passes over versions replaced or acknowledged before their turn; others get every step", async () => {
  await withStore(async (store) => {
    const router = new Router({ store });
    const desktop = new NotificationSink("desktop", { gated: true });
    const file = new FakeSink("file");
    router.add(desktop, ALL, 10);
    router.add(file, ALL, 10);
    router.start();
    const now = Date.now();
    const steps = [
      event({ title: "started", sequence: "deploy-42" }, now),
      event({ title: "tests passed", sequence: "deploy-42" }, now + 1),
      event({ title: "live", sequence: "deploy-42" }, now + 2),
      event({ title: "other" }, now + 3),
      event({ title: "ack", kind: "clear", sequence: "deploy-42" }, now + 4),
    ];
    // The first is in the desktop's hands when the rest arrive.
    router.route(steps[0], stored(store, steps[0], false));
    await desktop.calledTimes(1);
    for (const step of steps.slice(1)) router.route(step, stored(store, step, false));
    desktop.release();
    await router.idle();
    assert.deepEqual(titles(desktop.delivered), ["started", "other", "ack"]);
    assert.deepEqual(titles(file.delivered), ["started", "tests passed", "live", "other", "ack"]);
    assert.equal(router.health()[0].passed_over, 2);
    assert.equal(router.health()[1].passed_over, undefined);
    await router.stop(never());
  });
});

Deno.test("Router: an ack stored before its event (catch-up order) keeps the event from a sink that shows notifications", async () => {
  await withStore(async (store) => {
    const router = new Router({ store });
    const desktop = new NotificationSink("desktop");
    router.add(desktop, ALL, 10);
    router.start();
    const now = Date.now();
    const message = event({ title: "disk full", sequence: "disk" }, now);
    const ack = event({ title: "", kind: "clear", sequence: "disk" }, now + 1000);
    router.route(ack, stored(store, ack, false));
    router.route(message, stored(store, message, false));
    await router.idle();
    assert.deepEqual(desktop.delivered.map((e) => e.kind ?? "message"), ["clear"]);
    await router.stop(never());
  });
});
