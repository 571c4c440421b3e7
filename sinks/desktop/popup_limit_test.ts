import assert from "node:assert/strict";
import { PopupLimit, summarizeCollapsed } from "./popup_limit.ts";

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

Deno.test("PopupLimit.offer() passes up to the limit, then collapses until the window ends", async (t) => {
  const cases: { name: string; offers: [number, string][]; passed: boolean[]; summary?: string }[] = [
    { name: "under the limit", offers: [[0, "a"], [10, "a"], [20, "b"]], passed: [true, true, true] },
    {
      name: "over the limit in one window",
      offers: [[0, "a"], [1, "a"], [2, "a"], [3, "b"], [4, "a"], [5, "b"], [6, "c"]],
      passed: [true, true, true, false, false, false, false],
      summary: "4 more events: b 2, a 1, c 1",
    },
    {
      name: "a new window starts after a quiet spell",
      offers: [[0, "a"], [1, "a"], [2, "a"], [1000, "a"], [1001, "a"], [1002, "a"]],
      passed: [true, true, true, true, true, true],
    },
    {
      name: "one collapsed event",
      offers: [[0, "a"], [1, "a"], [2, "a"], [3, "x"]],
      passed: [true, true, true, false],
      summary: "1 more event: x 1",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const time = clock();
      const limit = new PopupLimit({ limit: 3, windowMs: 1000, now: time.now });
      const passed = c.offers.map(([at, topic]) => {
        time.t = 1_000_000 + at;
        return limit.offer(topic);
      });
      assert.deepEqual(passed, c.passed);
      if (!c.summary) {
        assert.deepEqual(limit.dueAt(), undefined);
        assert.deepEqual(limit.flush(), undefined);
        return;
      }
      const due = limit.dueAt()!;
      assert.deepEqual(due, 1_000_000 + 1000);
      time.t = due - 1;
      assert.deepEqual(limit.flush(), undefined, "not before the window ends");
      time.t = due;
      assert.deepEqual(limit.flush(), c.summary);
      assert.deepEqual(limit.flush(), undefined, "a summary is shown once");
      assert.deepEqual(limit.pending, 0);
    });
  }
});

Deno.test("PopupLimit.flush() counts the summary as the new window's first popup", () => {
  const time = clock();
  const limit = new PopupLimit({ limit: 2, windowMs: 100, now: time.now });
  assert.deepEqual([limit.offer("a"), limit.offer("a"), limit.offer("a")], [true, true, false]);
  time.t += 100;
  assert.deepEqual(limit.flush(), "1 more event: a 1");
  // The burst goes on: one more fits beside the summary, the rest collapse again.
  assert.deepEqual([limit.offer("a"), limit.offer("a"), limit.offer("b")], [true, false, false]);
  assert.deepEqual(limit.dueAt(), time.t + 100);
  assert.deepEqual(limit.pending, 2);
});

Deno.test("PopupLimit.offer() keeps collapsing into an unflushed summary", () => {
  const time = clock();
  const limit = new PopupLimit({ limit: 1, windowMs: 100, now: time.now });
  assert.deepEqual([limit.offer("a"), limit.offer("a")], [true, false]);
  time.t += 500;
  // The caller missed the window's end: the event joins the summary rather than overtaking it.
  assert.deepEqual(limit.offer("b"), false);
  assert.deepEqual(limit.flush(), "2 more events: a 1, b 1");
  assert.deepEqual(limit.offer("c"), false, "the summary used this window's only popup");
});

Deno.test("PopupLimit.flush(true) gives the summary early (shutdown)", () => {
  const time = clock();
  const limit = new PopupLimit({ limit: 0, windowMs: 100, now: time.now });
  assert.deepEqual(limit.offer("a"), false);
  assert.deepEqual(limit.flush(), undefined);
  assert.deepEqual(limit.flush(true), "1 more event: a 1");
});

Deno.test("new PopupLimit() rejects a nonsense limit or window", () => {
  assert.throws(() => new PopupLimit({ limit: -1 }), RangeError);
  assert.throws(() => new PopupLimit({ limit: 1.5 }), RangeError);
  assert.throws(() => new PopupLimit({ windowMs: 0 }), RangeError);
});

Deno.test("summarizeCollapsed() sorts by count, then by topic", () => {
  assert.deepEqual(summarizeCollapsed(new Map([["b", 2], ["a", 2], ["c", 5]])), "9 more events: c 5, a 2, b 2");
});
