import assert from "node:assert/strict";
import { CircuitBreaker } from "./webhook_breaker.ts";

Deno.test("CircuitBreaker opens after failures in a row, lets one trial through after the cooldown, and closes on success", () => {
  let now = 1_000;
  const breaker = new CircuitBreaker({ failures: 2, cooldownMs: 500, now: () => now });
  assert.equal(breaker.admit(), "go");
  assert.equal(breaker.failed(), false, "one failure is not enough");
  assert.equal(breaker.succeeded(), false, "a success resets the count without closing anything");
  assert.equal(breaker.failed(), false);
  assert.equal(breaker.failed(), true, "the second failure in a row opens it");
  assert.equal(breaker.state, "open");
  assert.equal(breaker.openUntil, 1_500);
  assert.equal(breaker.admit(), undefined, "refused while open");

  now = 1_500;
  assert.equal(breaker.state, "half-open");
  assert.equal(breaker.admit(), "trial");
  assert.equal(breaker.admit(), undefined, "one trial at a time");
  assert.equal(breaker.failed(), true, "a failed trial opens it again");
  assert.equal(breaker.openUntil, 2_000);

  now = 2_000;
  assert.equal(breaker.admit(), "trial");
  breaker.endTrial();
  assert.equal(breaker.admit(), "trial", "an aborted trial lets the next one through");
  assert.equal(breaker.succeeded(), true, "a successful trial closes it");
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.consecutiveFailures, 0);
});
