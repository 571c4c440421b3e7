import assert from "node:assert/strict";
import { redialDelayMs, redialWindowMs } from "./redial_backoff.ts";

const BACKOFF = { minMs: 1000, maxMs: 25_000 };

Deno.test("the redial window doubles from the first retry's up to the widest", () => {
  const windows = Array.from({ length: 8 }, (_, failures) => redialWindowMs(failures, BACKOFF));
  assert.deepEqual(windows, [1000, 2000, 4000, 8000, 16_000, 25_000, 25_000, 25_000]);
  assert.equal(redialWindowMs(10_000, BACKOFF), 25_000, "a peer down for weeks still waits at most the widest window");
});

Deno.test("a redial waits anywhere in its window: full jitter, from no wait to just under the window", () => {
  assert.equal(redialDelayMs(3, BACKOFF, () => 0), 0);
  assert.equal(redialDelayMs(3, BACKOFF, () => 0.5), 4000);
  assert.equal(redialDelayMs(3, BACKOFF, () => 0.999_999), 7999);
  assert.equal(redialDelayMs(40, BACKOFF, () => 0.999_999), 24_999);
});
