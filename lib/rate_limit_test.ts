import assert from "node:assert/strict";
import { TokenBuckets } from "./rate_limit.ts";

Deno.test("TokenBuckets.take() allows a burst, then the sustained rate", () => {
  let now = 0;
  const buckets = new TokenBuckets({ rate: 20, burst: 200 }, { now: () => now });
  let allowed = 0;
  for (let i = 0; i < 5000; i++) if (buckets.take("flooder")) allowed++;
  assert.equal(allowed, 200, "the burst");
  now += 1000;
  allowed = 0;
  for (let i = 0; i < 5000; i++) if (buckets.take("flooder")) allowed++;
  assert.equal(allowed, 20, "one second of the rate");
  assert.ok(buckets.take("someone-else"), "other publishers have their own bucket");
});

Deno.test("TokenBuckets.wait() says how long until the next token", () => {
  let now = 0;
  const buckets = new TokenBuckets({ rate: 10, burst: 1 }, { now: () => now });
  assert.equal(buckets.wait("a"), 0);
  assert.ok(buckets.take("a"));
  assert.equal(buckets.wait("a"), 100);
  now += 100;
  assert.equal(buckets.wait("a"), 0);
});

Deno.test("TokenBuckets stays bounded and forgets the least recently used", () => {
  const buckets = new TokenBuckets({ rate: 1, burst: 1 }, { capacity: 2, now: () => 0 });
  assert.ok(buckets.take("a"));
  assert.ok(buckets.take("b"));
  assert.equal(buckets.take("a"), false, "a is empty");
  assert.ok(buckets.take("c"), "c evicts b, the least recently used");
  assert.equal(buckets.take("a"), false, "a is still remembered");
});
