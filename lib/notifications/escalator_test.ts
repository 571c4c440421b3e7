import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { type EventDraft, type HarkEvent } from "../event/event.ts";
import { testEvent } from "../../tests/helpers/events.ts";
import { Escalator } from "./escalator.ts";
import { ESCALATION_TOPIC } from "./escalation_marker.ts";

const AFTER_MS = 60_000;

/** An escalator whose publishing fails `failures` times first, as over this agent's rate limit. */
function harness(failures: number, now: () => number, stored = new Map<number, HarkEvent>()) {
  const published: EventDraft[] = [];
  let failing = failures;
  const escalator = new Escalator({
    rules: [{ name: "alerts", topics: ["alerts"], min_priority: 5, after: AFTER_MS, publish: { topic: "oncall" } }],
    self: "12D3KooWself",
    host: "self",
    rankedBefore: () => 0,
    isOpen: () => true,
    load: (seq) => stored.get(seq),
    publish: (draft) => {
      if (failing-- > 0) return Promise.reject(new Error("rate limit: the network accepts 20 events/s"));
      published.push(draft);
      return Promise.resolve({} as HarkEvent);
    },
    staggerMs: 2_000,
    now,
  });
  return { escalator, published };
}

Deno.test("Escalator tries again when its marker cannot be published, and escalates once", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "Date"], now: 0 });
  try {
    const { escalator, published } = harness(2, () => Date.now());
    escalator.start([]);
    escalator.observe(testEvent({ topic: "alerts", priority: 5, time: new Date(0).toISOString() }));
    await clock.tickAsync(AFTER_MS);
    assert.equal(published.length, 0, "the first marker failed");
    assert.equal(escalator.stats().pending, 1, "and the escalation waits to be tried again");
    await clock.tickAsync(2 * 2_000);
    assert.deepEqual(published.map((draft) => draft.topic), [ESCALATION_TOPIC, "oncall"]);
    assert.equal(escalator.stats().fired_here, 1);
    await clock.tickAsync(10 * AFTER_MS);
    assert.equal(published.length, 2, "once");
    escalator.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Escalator gives up retrying once the escalation would be more than `after` late", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "Date"], now: 0 });
  try {
    const { escalator, published } = harness(Infinity, () => Date.now());
    escalator.start([]);
    escalator.observe(testEvent({ topic: "alerts", priority: 5, time: new Date(0).toISOString() }));
    await clock.tickAsync(2 * AFTER_MS + 2_000);
    assert.equal(escalator.stats().pending, 0, "no timer left");
    assert.equal(published.length, 0);
    escalator.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Escalator holds one timer for many pending escalations, and reads each event from the store when due", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "Date"], now: 0 });
  try {
    const stored = new Map<number, HarkEvent>();
    const { escalator, published } = harness(0, () => Date.now(), stored);
    escalator.start([]);
    const count = 1_000;
    for (let seq = 1; seq <= count; seq++) {
      const event = testEvent({ topic: "alerts", priority: 5, time: new Date(Date.now()).toISOString() });
      stored.set(seq, event);
      escalator.observe(event, seq);
      await clock.tickAsync(10);
    }
    assert.equal(escalator.stats().pending, count);
    assert.equal(clock.countTimers(), 1, "one timer, to the nearest deadline");
    // The store's count cap removed the older half before their deadlines: those are not escalated.
    for (let seq = 1; seq <= count / 2; seq++) stored.delete(seq);
    await clock.tickAsync(AFTER_MS + count * 10);
    const escalated = published.filter((draft) => draft.topic === "oncall");
    assert.equal(escalated.length, count / 2);
    assert.deepEqual(
      escalated.map((draft) => (draft.data as { escalated: { id: string } }).escalated.id),
      [...stored.values()].map((event) => event.id),
      "each escalated from what the store held, in deadline order",
    );
    assert.equal(escalator.stats().pending, 0);
    assert.equal(clock.countTimers(), 0, "no timer when nothing waits");
    escalator.stop();
  } finally {
    clock.uninstall();
  }
});
