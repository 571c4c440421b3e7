import assert from "node:assert/strict";
import { renderMetrics } from "./metrics.ts";

const events = {
  published: 2,
  published_messages: 1,
  rejected: 0,
  accepted: 5,
  duplicates: 1,
  malformed: 0,
  unauthorized: 0,
  throttled: 0,
  conflicting: 0,
  off_schema: 0,
  disputed: 0,
  membership_received: 0,
  membership_published: 0,
};

Deno.test("renderMetrics escapes label values as the exposition format requires", () => {
  const sink = {
    name: 'exec:say "hi" \\ now\nplease',
    min_priority: 1,
    state: "ok" as const,
    queued: 0,
    delivered: 3,
    dropped: 0,
    failed: 0,
    given_up: 0,
  };
  const text = renderMetrics({
    events,
    sinks: [sink],
    peers: 1,
    uptimeSeconds: 9,
    residentBytes: 50_000_000,
    sources: [],
  });
  assert.ok(
    text.includes(
      'hark_sink_delivered_total{sink="0:exec",type="exec",name="exec:say \\"hi\\" \\\\ now\\nplease"} 3\n',
    ),
  );
  assert.ok(text.includes("hark_events_received_total 5\n"));
  assert.ok(text.includes("hark_catch_up_sessions_total 0\n"), "no catch-up yet reads as zero");
  assert.ok(!text.includes("\n\n"), "no blank lines");
});
