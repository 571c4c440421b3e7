import assert from "node:assert/strict";
import { AwayGate, summarize } from "./away.ts";
import { createEvent, type HarkEvent } from "../lib/event/event.ts";
import { monotonicUlid } from "../lib/event/ulid.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const ulid = monotonicUlid(() => NOW);

function event(minutesAgo: number, topic = "default"): HarkEvent {
  return createEvent({ body: `${minutesAgo} min ago`, topic }, {
    id: ulid(),
    now: NOW - minutesAgo * 60_000,
    host: "h",
    peer: "p",
  });
}

function gate(summarizeAfter = 5) {
  const shown: string[] = [];
  const away = new AwayGate({ maxAgeMs: 10 * 60_000, summarizeAfter, settleMs: 5, now: () => NOW }, {
    events: (events) => {
      shown.push(...events.map((e) => e.body));
      return Promise.resolve();
    },
    summary: (text) => {
      shown.push(`summary: ${text}`);
      return Promise.resolve();
    },
  });
  return { away, shown };
}

Deno.test("AwayGate passes fresh events straight through", async () => {
  const { away, shown } = gate();
  await away.offer(event(1));
  await away.offer(event(0));
  assert.deepEqual(shown, ["1 min ago", "0 min ago"]);
});

Deno.test("AwayGate turns more than summarizeAfter stale events into one summary", async () => {
  const { away, shown } = gate(5);
  for (let i = 0; i < 37; i++) await away.offer(event(60 - i, i < 30 ? "builds" : "default"));
  await away.offer(event(0));
  assert.equal(shown.length, 2);
  assert.match(shown[0], /^summary: 37 events while away, 11:00 to 11:36 UTC: builds 30, default 7\./);
  assert.equal(shown[1], "0 min ago", "the fresh event follows the summary");
});

Deno.test("AwayGate shows a few stale events one by one", async () => {
  const { away, shown } = gate(5);
  for (const minutes of [30, 20, 15]) await away.offer(event(minutes));
  await away.flush();
  assert.deepEqual(shown, ["30 min ago", "20 min ago", "15 min ago"]);
});

Deno.test("AwayGate shows held stale events when they settle, without a fresh event", async () => {
  const { away, shown } = gate(1);
  await away.offer(event(30));
  await away.offer(event(20));
  const deadline = Date.now() + 5000;
  while (shown.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.match(shown[0], /^summary: 2 events while away/);
  await away.flush();
});

Deno.test("summarize() names the span and the busiest topics first", () => {
  assert.equal(
    summarize([event(50, "a"), event(40, "b"), event(45, "b")]),
    "3 events while away, 11:10 to 11:20 UTC: b 2, a 1. Run `hark history` to read them.",
  );
});
