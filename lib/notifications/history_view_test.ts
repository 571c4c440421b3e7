import assert from "node:assert/strict";
import { createEvent, type EventDraft } from "../event/event.ts";
import { monotonicUlid } from "../event/ulid.ts";
import { historyLines } from "./history_view.ts";

const nextId = monotonicUlid();
const T0 = Date.parse("2026-12-07T09:00:00.000Z");

function step(draft: EventDraft, seconds: number, host = "ci") {
  return createEvent({ topic: "deploys", ...draft }, {
    id: nextId(),
    now: T0 + seconds * 1000,
    host,
    peer: "12D3KooWx",
  });
}

Deno.test("historyLines() prints a notification once, as its latest version, with its versions and who acknowledged it", () => {
  const lines = historyLines([
    step({ body: "started", sequence: "d42" }, 0),
    step({ body: "unrelated" }, 1),
    step({ body: "live", sequence: "d42" }, 2),
    step({ kind: "clear", sequence: "d42", user: "ann" }, 3, "desk"),
  ]);
  assert.deepEqual(lines, [
    "2026-12-07 09:00:01 [deploys] unrelated (ci)",
    "2026-12-07 09:00:02 [deploys] live (ci)",
    "    was: 2026-12-07 09:00:00 [deploys] started (ci)",
    "    acknowledged by ann@desk at 2026-12-07 09:00:03",
  ]);
});

Deno.test("historyLines() shows a deletion whose notification is outside the listing on a line of its own", () => {
  assert.deepEqual(historyLines([step({ kind: "delete", sequence: "old-1" }, 5, "desk")]), [
    "2026-12-07 09:00:05 [deploys] old-1 deleted by desk at 2026-12-07 09:00:05",
  ]);
});

Deno.test("historyLines() names who acknowledged and who then deleted a notification, not only the last", () => {
  const lines = historyLines([
    step({ body: "live", sequence: "d43" }, 0),
    step({ kind: "clear", sequence: "d43" }, 1, "laptop"),
    step({ kind: "delete", sequence: "d43" }, 2, "build-01"),
  ]);
  assert.deepEqual(lines, [
    "2026-12-07 09:00:00 [deploys] live (ci)",
    "    acknowledged by laptop at 2026-12-07 09:00:01",
    "    deleted by build-01 at 2026-12-07 09:00:02",
  ]);
});

Deno.test("historyLines() leaves out an acknowledgement older than the version that reopened the notification", () => {
  const lines = historyLines([
    step({ body: "started", sequence: "d44" }, 0),
    step({ kind: "clear", sequence: "d44" }, 1, "laptop"),
    step({ body: "failed", sequence: "d44" }, 2),
  ]);
  assert.deepEqual(lines, [
    "2026-12-07 09:00:02 [deploys] failed (ci)",
    "    was: 2026-12-07 09:00:00 [deploys] started (ci)",
  ]);
});
