/** A complete event for unit tests of sinks; each call gets its own id. */

import type { HarkEvent } from "../../lib/event/event.ts";

let counter = 0;

export function testEvent(overrides: Partial<HarkEvent> = {}): HarkEvent {
  counter++;
  return {
    id: `01JDQ8ZC5V8Q0W3Z7M9N4T${String(counter).padStart(4, "0")}`,
    topic: "builds",
    title: "Build #812 failed",
    body: "test_login timed out",
    priority: 4,
    tags: ["ci", "failed"],
    time: "2026-11-21T23:59:59.123Z",
    source: { host: "ci-01", peer: "12D3KooWTest" },
    ...overrides,
  };
}
